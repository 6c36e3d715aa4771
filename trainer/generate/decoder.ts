// The frozen decoder as a generation engine: one graph that continues from a key-value cache (prefill is
// the same graph with an empty past), run over preallocated position-major cache buffers.
//
// Layout: per layer, keys and values live in one Float32Array of [capacity, B, kvHeads, headDim]. A step
// feeds views of the first P positions as the past (no copy) and lets onnxruntime write the new rows
// straight into positions P..P+T-1 (preallocated outputs), so the cache is never concatenated or copied
// outside the graph. Inside the graph the past is concatenated with the new rows once per layer.
//
// The alternative, `cacheLayout: "concat"` (the usual exported-ONNX pattern: present = concat(past, new)
// as an output, fed back as the next past), is kept for measurement: it copies the whole cache out of
// onnxruntime into a fresh JS buffer every step (bench:decode reports both).

import * as ort from "onnxruntime-node";
import {
  type CompiledModel,
  compile,
  Graph,
  gather,
  matmul,
  ortTensor,
  type Runtime,
  reshape,
  transpose,
} from "../engine/index";
import { type LlamaConfig, LlamaDecoder } from "../models/llama";
import { frozenWeights, type WeightBinding, type WeightValues } from "../models/weights";
import { KvCache } from "./kv-cache";

/**
 * Session options for a decode runtime: intra-op threads that sleep instead of spinning between ops. A
 * decode step is ~800 small ops, and on a machine shared with other processes spinning threads steal
 * each other's cores: on the 2-core dev machine under load (average 7), a SmolVLM-256M decode step took
 * 59-88 ms with 2 spinning threads and 34-49 ms with 2 sleeping ones. Pass as
 * `new Runtime({ sessionOptions: DECODE_SESSION_OPTIONS })`.
 */
export const DECODE_SESSION_OPTIONS: ort.InferenceSession.SessionOptions = {
  extra: { session: { "intra_op.allow_spinning": "0" } },
};

/**
 * The decoder's weights (LlamaForCausalLM names): float32 values, baked in as initializers, or a binding
 * in the loaded format (`loadCausalLm(...).textBinding`: int8/int4 MatMulNBits over weights the loader
 * converted once, shared by every graph of the process).
 */
export type DecoderWeights = WeightValues | { readonly binding: (graph: Graph) => WeightBinding };

/** The weights of `graph`'s decoder: frozen float32 initializers for values, else the given binding. */
export function bindDecoderWeights(graph: Graph, weights: DecoderWeights): WeightBinding {
  return typeof weights === "function" ? frozenWeights(graph, "float32", weights) : weights.binding(graph);
}

/** "append": preallocated buffers, new rows written in place; "concat": full present out, fed back. */
export type CacheLayout = "append" | "concat";

/**
 * The cached decoder graph. Inputs: `inputs_embeds` [batch, seq, H], `position_ids` [batch, seq],
 * `attention_bias` [batch, 1, seq, past+seq], `past.<i>.key|value` [past, batch, kv, 1, d] and
 * `logit_positions` int64 [n] (flat indices b*seq + t). Outputs, in order: `logits` [n, V], the hidden
 * states the lm_head reads at those rows [n, H] (after the final norm; extra output classes such as a
 * concept's identifier output row are dotted with them, see generate.ts), then the present keys of layers
 * 0..L-1, then their values: [seq, batch, kv, 1, d] (the new rows only) for "append", [past+seq, batch, kv,
 * 1, d] for "concat". The hidden and present outputs keep their node names (e.g.
 * `/model/layers.<i>/self_attn/Split/output_1`, see cachedOutputNames): renaming them would add an
 * Identity node per output, 60 of ~1200 nodes in a SmolVLM-256M decode step.
 */
export function buildCachedDecoderGraph(
  config: LlamaConfig,
  weights: DecoderWeights,
  layout: CacheLayout = "append",
): Graph {
  const g = new Graph(layout === "append" ? "decoder_cached" : "decoder_cached_concat");
  const decoder = new LlamaDecoder(g, config, bindDecoderWeights(g, weights));
  const inputs = decoder.cachedInputs();
  const logitPositions = g.input("logit_positions", "int64", ["n"]);
  const out = decoder.forwardCached(inputs);
  // Only the requested rows meet the lm_head: never [B, T, V].
  const { rows, logits } = g.scope("lm_head", () => {
    const rows = gather(
      reshape(out.hidden, [-1, config.hiddenSize], { shape: ["rows", config.hiddenSize] }),
      logitPositions,
      0,
    );
    return { rows, logits: matmul(rows, transpose(decoder.lmHead(), [1, 0])) };
  });
  g.output(logits, "logits");
  g.output(rows);
  const [keys, values] = layout === "append" ? [out.presentKeys, out.presentValues] : [out.keys, out.values];
  for (const t of [...keys, ...values]) g.output(t);
  return g;
}

/** Output names of the cached decoder graph: logits, the hidden rows, present keys and values per layer. */
export function cachedOutputNames(
  model: CompiledModel,
  layers: number,
): { hidden: string; keys: string[]; values: string[] } {
  if (model.outputNames.length !== 2 + 2 * layers || model.outputNames[0] !== "logits") {
    throw new Error(`not a cached decoder with ${layers} layers: outputs ${model.outputNames.length}`);
  }
  return {
    hidden: model.outputNames[1]!,
    keys: model.outputNames.slice(2, 2 + layers),
    values: model.outputNames.slice(2 + layers),
  };
}

/** Output names of the present keys and values per layer. */
export function presentOutputNames(
  model: CompiledModel,
  layers: number,
): { keys: string[]; values: string[] } {
  const { keys, values } = cachedOutputNames(model, layers);
  return { keys, values };
}

/** What one step returns when the hidden rows are asked for too. */
export interface StepOutputs {
  /** [N * V] logits at `logitsAt`. */
  logits: Float32Array;
  /** [N * H] the final-norm hidden states the lm_head read at `logitsAt`. */
  hidden: Float32Array;
}

export interface StepInput {
  /** [B * T * H] embeddings of the new positions, row-major [B, T, H]. */
  embeds: Float32Array;
  /** New positions per row (T). */
  seq: number;
  /** [B * T] flags: false for left padding (never attended to, no position advance). Default all real. */
  real?: ArrayLike<boolean | number>;
  /** Flat indices b*T + t of the positions whose next-token logits are wanted. */
  logitsAt: readonly number[];
}

export interface CachedDecoderOptions {
  runtime: Runtime;
  /** Identifies the weights for caches keyed by model (repo + revision, or a random-init seed). */
  modelId: string;
  /** Write the model with external data here (memory-mapped weights); in-memory bytes when absent. */
  directory?: string;
  /** Default "append" (see the top of this file). */
  cacheLayout?: CacheLayout;
}

export class CachedDecoder {
  readonly config: LlamaConfig;
  readonly modelId: string;
  readonly cacheLayout: CacheLayout;
  private readonly runtime: Runtime;
  private readonly present: { hidden: string; keys: string[]; values: string[] };

  constructor(
    readonly model: CompiledModel,
    config: LlamaConfig,
    options: Pick<CachedDecoderOptions, "runtime" | "modelId" | "cacheLayout">,
  ) {
    this.config = config;
    this.runtime = options.runtime;
    this.modelId = options.modelId;
    this.cacheLayout = options.cacheLayout ?? "append";
    this.present = cachedOutputNames(model, config.numLayers);
  }

  static build(config: LlamaConfig, weights: DecoderWeights, options: CachedDecoderOptions): CachedDecoder {
    const graph = buildCachedDecoderGraph(config, weights, options.cacheLayout);
    const model = compile(
      graph,
      options.directory ? { directory: options.directory, weightsFingerprint: options.modelId } : {},
    );
    return new CachedDecoder(model, config, options);
  }

  newCache(batch: number, capacity = 64): KvCache {
    const c = this.config;
    return new KvCache(c.numLayers, batch, c.numKvHeads * c.headDim, capacity);
  }

  /**
   * Runs T new positions per row after the cache's P cached ones, appends their keys/values to the cache
   * and returns the logits at `logitsAt` as [N * V].
   */
  async step(cache: KvCache, input: StepInput): Promise<Float32Array> {
    return (await this.run(cache, input, false)).logits;
  }

  /**
   * step(), also returning the final-norm hidden states at `logitsAt` (the lm_head's input), for extra
   * output classes whose logits are hidden . row (a concept's identifier output row).
   */
  async stepOutputs(cache: KvCache, input: StepInput): Promise<StepOutputs> {
    const out = await this.run(cache, input, true);
    return { logits: out.logits, hidden: out.hidden! };
  }

  private async run(
    cache: KvCache,
    input: StepInput,
    withHidden: boolean,
  ): Promise<{ logits: Float32Array; hidden?: Float32Array }> {
    const c = this.config;
    const { batch } = cache;
    const seq = input.seq;
    if (input.embeds.length !== batch * seq * c.hiddenSize) {
      throw new Error(
        `step: ${input.embeds.length} embedding values for [${batch}, ${seq}, ${c.hiddenSize}]`,
      );
    }
    const furthest = Math.max(...cache.nextPosition) + seq;
    if (furthest > c.maxPositionEmbeddings) {
      throw new RangeError(
        `step: positions up to ${furthest - 1} exceed max_position_embeddings ${c.maxPositionEmbeddings}`,
      );
    }
    const past = cache.length;
    const append = this.cacheLayout === "append";
    if (append) cache.reserve(past + seq);
    const { positions, bias } = cache.admit(seq, input.real);
    const cacheDims = (n: number) => [n, batch, c.numKvHeads, 1, c.headDim];
    const feeds: Record<string, ort.Tensor> = {
      inputs_embeds: ortTensor("float32", input.embeds, [batch, seq, c.hiddenSize]),
      position_ids: ortTensor("int64", positions, [batch, seq]),
      attention_bias: ortTensor("float32", bias, [batch, 1, seq, past + seq]),
      logit_positions: ortTensor("int64", BigInt64Array.from(input.logitsAt, BigInt), [
        input.logitsAt.length,
      ]),
    };
    const fetches: Record<string, ort.Tensor | null> = { logits: null };
    if (withHidden) fetches[this.present.hidden] = null;
    for (let i = 0; i < c.numLayers; i++) {
      feeds[`past.${i}.key`] = ortTensor("float32", cache.pastView(cache.keys[i]!, past), cacheDims(past));
      feeds[`past.${i}.value`] = ortTensor(
        "float32",
        cache.pastView(cache.values[i]!, past),
        cacheDims(past),
      );
      fetches[this.present.keys[i]!] = append
        ? new ort.Tensor("float32", cache.appendView(cache.keys[i]!, past, seq), cacheDims(seq))
        : null;
      fetches[this.present.values[i]!] = append
        ? new ort.Tensor("float32", cache.appendView(cache.values[i]!, past, seq), cacheDims(seq))
        : null;
    }
    const out = await this.runtime.run(this.model, feeds, fetches);
    if (!append) {
      const full = (kind: "key" | "value") =>
        this.present[kind === "key" ? "keys" : "values"].map((name) => out[name]!.data as Float32Array);
      cache.adopt(full("key"), full("value"), past + seq);
    }
    cache.commit(seq);
    const logits = out.logits!.data as Float32Array;
    return withHidden ? { logits, hidden: out[this.present.hidden]!.data as Float32Array } : { logits };
  }
}
