// Llama-family decoder (Llama, Vicuna, SmolLM2, Qwen2-style q/k/v biases) as an engine graph.
// Reads like the block diagram: embed -> [rmsNorm -> attention -> + -> rmsNorm -> mlp -> +] x L -> rmsNorm.
// Weight names are exactly HF's `LlamaForCausalLM` state dict names.

import {
  add,
  concat,
  type Dim,
  type DType,
  div,
  type Graph,
  gather,
  matmul,
  mul,
  neg,
  pow,
  reciprocal,
  reduceMean,
  reshape,
  sigmoid,
  slice,
  softmax,
  split,
  sqrt,
  type Tensor,
  transpose,
  typedArrayOf,
  unsqueeze,
} from "../engine/index";
import { projection, type WeightBinding } from "./weights";

export interface LlamaConfig {
  hiddenSize: number;
  numLayers: number;
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  intermediateSize: number;
  vocabSize: number;
  rmsNormEps: number;
  ropeTheta: number;
  maxPositionEmbeddings: number;
  tieWordEmbeddings: boolean;
  /** Qwen2-style biases on q/k/v projections. */
  attentionBias: boolean;
}

export class UnsupportedConfigError extends Error {
  readonly code = "UNSUPPORTED_CONFIG";
}

/** Reads an HF `config.json` of a Llama-family text model (also `text_config` of a VLM). */
export function llamaConfigFromHf(json: Record<string, unknown>): LlamaConfig {
  const num = (key: string, fallback?: number): number => {
    const v = json[key] ?? fallback;
    if (typeof v !== "number" || !Number.isFinite(v)) {
      throw new UnsupportedConfigError(`config.json: ${key} must be a number (got ${JSON.stringify(v)})`);
    }
    return v;
  };
  // transformers >= 5 writes RoPE settings under rope_parameters; older checkpoints at the top level.
  const rope = (json.rope_parameters ?? json.rope_scaling ?? {}) as Record<string, unknown>;
  const ropeType = (rope.rope_type ?? rope.type ?? "default") as string;
  if (ropeType !== "default") {
    throw new UnsupportedConfigError(`config.json: rope type ${ropeType} is not supported yet`);
  }
  const ropeTheta = (rope.rope_theta as number | undefined) ?? num("rope_theta", 10000);
  const hiddenSize = num("hidden_size");
  const numHeads = num("num_attention_heads");
  const act = json.hidden_act ?? "silu";
  if (act !== "silu")
    throw new UnsupportedConfigError(`config.json: hidden_act ${String(act)} is not supported`);
  const config: LlamaConfig = {
    hiddenSize,
    numLayers: num("num_hidden_layers"),
    numHeads,
    numKvHeads: num("num_key_value_heads", numHeads),
    headDim: num("head_dim", hiddenSize / numHeads),
    intermediateSize: num("intermediate_size"),
    vocabSize: num("vocab_size"),
    rmsNormEps: num("rms_norm_eps", 1e-6),
    ropeTheta,
    maxPositionEmbeddings: num("max_position_embeddings", 2048),
    tieWordEmbeddings: json.tie_word_embeddings === true,
    attentionBias: json.attention_bias === true || json.model_type === "qwen2",
  };
  if (config.numHeads % config.numKvHeads !== 0) {
    throw new UnsupportedConfigError(
      "config.json: num_attention_heads must be a multiple of num_key_value_heads",
    );
  }
  if (config.headDim % 2 !== 0)
    throw new UnsupportedConfigError("config.json: head_dim must be even for RoPE");
  return config;
}

/**
 * RoPE tables as in HF's default rotary embedding: inv_freq[j] = theta^(-2j/d), angle = pos * inv_freq,
 * cos/sin of [angle, angle] (the two halves repeat). Computed in float64, stored in `dtype`.
 */
export function ropeTables(
  config: LlamaConfig,
  dtype: DType,
): { cos: Float32Array | Float64Array; sin: Float32Array | Float64Array } {
  const d = config.headDim;
  const n = config.maxPositionEmbeddings;
  const cos = dtype === "float64" ? new Float64Array(n * d) : new Float32Array(n * d);
  const sin = dtype === "float64" ? new Float64Array(n * d) : new Float32Array(n * d);
  for (let j = 0; j < d / 2; j++) {
    // HF computes inv_freq in float32 for float32 models; float64 here differs by < 1 ulp of the angle.
    const invFreq = 1 / config.ropeTheta ** ((2 * j) / d);
    for (let p = 0; p < n; p++) {
      const angle = p * (dtype === "float64" ? invFreq : Math.fround(invFreq));
      const c = Math.cos(angle);
      const s = Math.sin(angle);
      cos[p * d + j] = c;
      cos[p * d + j + d / 2] = c;
      sin[p * d + j] = s;
      sin[p * d + j + d / 2] = s;
    }
  }
  return { cos, sin };
}

/**
 * Additive attention bias [B, 1, T, T]: 0 where query t may attend key s (s <= t and key not padding),
 * a large negative number elsewhere. `keyIsReal[b*T + s]` marks non-padding keys (default: all real).
 */
export function causalAttentionBias(
  batch: number,
  seq: number,
  dtype: "float32" | "float64" = "float32",
  keyIsReal?: ArrayLike<number | boolean>,
): Float32Array | Float64Array {
  const out = dtype === "float64" ? new Float64Array(batch * seq * seq) : new Float32Array(batch * seq * seq);
  // Finite, so a fully masked (padding) query row gives a uniform softmax instead of NaN.
  const blocked = -1e9;
  for (let b = 0; b < batch; b++) {
    for (let t = 0; t < seq; t++) {
      for (let s = 0; s < seq; s++) {
        const real = keyIsReal === undefined || Boolean(keyIsReal[b * seq + s]);
        out[(b * seq + t) * seq + s] = s <= t && real ? 0 : blocked;
      }
    }
  }
  return out;
}

/** Graph inputs a decoder forward pass reads besides the embeddings. */
export interface DecoderInputs {
  /** [B, T, H] input embeddings (token embeddings, image features, concept rows spliced in). */
  inputsEmbeds: Tensor;
  /** int64 [B, T] position ids. */
  positions: Tensor;
  /** [B, 1, T, T] additive attention bias (see causalAttentionBias). */
  attentionBias: Tensor;
}

/**
 * Inputs of a decoder pass that continues from cached keys and values. The cache is position-major,
 * [P, B, kvHeads, 1, headDim] per layer (keys after RoPE; the unit axis is the query-group axis the
 * attention broadcasts over), so the first P positions of a preallocated buffer are one contiguous
 * prefix: a caller feeds a view of it as the past and lets onnxruntime write the new rows straight after
 * it (no concatenation or copy of the cache outside the graph).
 */
export interface CachedDecoderInputs {
  /** [B, T, H] embeddings of the new positions. */
  inputsEmbeds: Tensor;
  /** int64 [B, T] position ids of the new positions (rows may start at different offsets). */
  positions: Tensor;
  /** [B, 1, T, P+T] additive bias over past and new keys (left padding, causality). */
  attentionBias: Tensor;
  /** Per layer [P, B, kvHeads, 1, headDim]; P may be 0. */
  pastKeys: Tensor[];
  pastValues: Tensor[];
}

/** A cached pass's outputs: hidden states of the new positions and their keys/values per layer. */
export interface CachedDecoderOutputs {
  /** [B, T, H] after the final norm. */
  hidden: Tensor;
  /** Per layer [T, B, kvHeads, 1, headDim]: only the new rows, to be appended after the past. */
  presentKeys: Tensor[];
  presentValues: Tensor[];
  /** Per layer [P+T, B, kvHeads, 1, headDim]: past and new rows, for callers that keep no buffers. */
  keys: Tensor[];
  values: Tensor[];
}

export class LlamaDecoder {
  private readonly dtype: DType;
  /**
   * Per layer, the attention probabilities forward() built, [B, kvHeads, groups, T, T] (query head h is
   * kv head floor(h / groups), group h % groups): what an auxiliary loss on where a head looks reads.
   */
  readonly attentionProbs = new Map<number, Tensor>();

  constructor(
    readonly graph: Graph,
    readonly config: LlamaConfig,
    readonly weights: WeightBinding,
  ) {
    this.dtype = weights.dtype;
  }

  /** Standard graph inputs for a forward pass over batch `batch` x `seq` positions. */
  inputs(batch: Dim = "batch", seq: Dim = "seq"): DecoderInputs {
    const g = this.graph;
    return {
      inputsEmbeds: g.input("inputs_embeds", this.dtype, [batch, seq, this.config.hiddenSize]),
      positions: g.input("position_ids", "int64", [batch, seq]),
      attentionBias: g.input("attention_bias", this.dtype, [batch, 1, seq, seq]),
    };
  }

  /** Token ids [B, T] -> embeddings [B, T, H]. */
  embed(ids: Tensor): Tensor {
    const table = this.w("model.embed_tokens.weight", [this.config.vocabSize, this.config.hiddenSize]);
    return this.graph.scope("model/embed_tokens", () => gather(table, ids, 0));
  }

  /** The lm_head weight [V, H] (the embedding table when tied), for the loss or for logits. */
  lmHead(): Tensor {
    const c = this.config;
    const name = c.tieWordEmbeddings ? "model.embed_tokens.weight" : "lm_head.weight";
    return this.w(name, [c.vocabSize, c.hiddenSize]);
  }

  /** Hidden states after the final norm, [B, T, H]. */
  forward(inputs: DecoderInputs): Tensor {
    const g = this.graph;
    const c = this.config;
    const rope = g.scope("model/rotary_emb", () => this.rotaryEmbedding(inputs.positions));
    // [B, 1, T, T] -> [B, 1, 1, T, T]: broadcast over key-value heads and query groups.
    const bias = unsqueeze(inputs.attentionBias, [2]);
    let h = inputs.inputsEmbeds;
    for (let i = 0; i < c.numLayers; i++) {
      h = g.scope(`model/layers.${i}`, () => this.decoderLayer(h, i, rope, bias));
    }
    return g.scope("model/norm", () => this.rmsNorm(h, "model.norm.weight"));
  }

  /** Graph inputs for a cached pass: `seq` new positions after `past` cached ones. */
  cachedInputs(batch: Dim = "batch", seq: Dim = "seq", past: Dim = "past"): CachedDecoderInputs {
    const g = this.graph;
    const c = this.config;
    const total = typeof past === "number" && typeof seq === "number" ? past + seq : `${past}+${seq}`;
    const cacheShape = [past, batch, c.numKvHeads, 1, c.headDim];
    const layers = [...Array(c.numLayers).keys()];
    return {
      inputsEmbeds: g.input("inputs_embeds", this.dtype, [batch, seq, c.hiddenSize]),
      positions: g.input("position_ids", "int64", [batch, seq]),
      attentionBias: g.input("attention_bias", this.dtype, [batch, 1, seq, total]),
      pastKeys: layers.map((i) => g.input(`past.${i}.key`, this.dtype, cacheShape)),
      pastValues: layers.map((i) => g.input(`past.${i}.value`, this.dtype, cacheShape)),
    };
  }

  /**
   * forward() over new positions that attend to cached keys/values as well as to each other. Same math,
   * written for a decode step, where ~1000 small nodes cost as much as reading the weights: the residual
   * stream is position-major [T, B, H] (new keys/values need no transposes), RMSNorm takes the form
   * onnxruntime fuses, q/k/v and gate/up are one MatMul each, and RoPE is one Gather with a signed sin
   * table, applied to all heads at once.
   */
  forwardCached(inputs: CachedDecoderInputs): CachedDecoderOutputs {
    const g = this.graph;
    const c = this.config;
    const rope = g.scope("model/rotary_emb", () => {
      const tables = this.rotaryEmbedding(transpose(inputs.positions, [1, 0]), true);
      // [T, B, d] -> [T, B, 1, 1, d]: broadcast over the heads of a [T, B, heads, 1, d] view.
      return {
        cos: unsqueeze(tables.cosRows, [2, 3]),
        sin: unsqueeze(tables.sinRows, [2, 3]),
        signedSin: true,
      };
    });
    // [B, 1, T, S] -> [B, 1, 1, T, S]: broadcast over key-value heads and query groups.
    const bias = unsqueeze(inputs.attentionBias, [2]);
    const presentKeys: Tensor[] = [];
    const presentValues: Tensor[] = [];
    const keys: Tensor[] = [];
    const values: Tensor[] = [];
    let h = transpose(inputs.inputsEmbeds, [1, 0, 2], "to_position_major");
    for (let i = 0; i < c.numLayers; i++) {
      const cache: LayerCache = { pastKey: inputs.pastKeys[i]!, pastValue: inputs.pastValues[i]! };
      h = g.scope(`model/layers.${i}`, () => this.cachedLayer(h, i, rope, bias, cache));
      presentKeys.push(cache.presentKey!);
      presentValues.push(cache.presentValue!);
      keys.push(cache.keys!);
      values.push(cache.values!);
    }
    const normed = g.scope("model/norm", () => this.rmsNorm(h, "model.norm.weight", true));
    const hidden = transpose(normed, [1, 0, 2], "to_batch_major");
    return { hidden, presentKeys, presentValues, keys, values };
  }

  private decoderLayer(x: Tensor, i: number, rope: Rope, bias: Tensor): Tensor {
    const g = this.graph;
    const p = `model.layers.${i}`;
    const attnIn = g.scope("input_layernorm", () => this.rmsNorm(x, `${p}.input_layernorm.weight`));
    const h = add(
      x,
      g.scope("self_attn", () => this.attention(attnIn, p, rope, bias, i)),
      "residual_attn",
    );
    const mlpIn = g.scope("post_attention_layernorm", () =>
      this.rmsNorm(h, `${p}.post_attention_layernorm.weight`),
    );
    return add(
      h,
      g.scope("mlp", () => this.mlp(mlpIn, p)),
      "residual_mlp",
    );
  }

  /**
   * x * rsqrt(mean(x^2) + eps) * w, over the hidden axis. `fusable` writes it as x / sqrt(mean(x^2) + eps),
   * the pattern onnxruntime fuses into one SimplifiedLayerNormalization (7 nodes -> 1; the cached path,
   * whose per-token steps are dominated by per-node overhead, uses it).
   */
  private rmsNorm(x: Tensor, weightName: string, fusable = false): Tensor {
    const w = this.w(weightName, [this.config.hiddenSize]);
    if (fusable) {
      const meanSquare = reduceMean(pow(x, 2), [-1], { keepdims: true });
      return mul(div(x, sqrt(add(meanSquare, this.config.rmsNormEps))), w);
    }
    const meanSquare = reduceMean(mul(x, x), [-1], { keepdims: true });
    const invRms = reciprocal(sqrt(add(meanSquare, this.config.rmsNormEps)));
    return mul(mul(x, invRms), w);
  }

  /**
   * Grouped-query attention in a 5-D layout [B, kvHeads, groups, T, d]: the query heads sharing a
   * key-value head (HF's repeat_kv: head h uses kv head floor(h / groups)) sit on their own axis, and K, V
   * broadcast over it, so they are never copied per query head.
   */
  private attention(x: Tensor, p: string, rope: Rope, bias: Tensor, layer: number): Tensor {
    const g = this.graph;
    const c = this.config;
    const [batch, seq] = [x.shape[0]!, x.shape[1]!];
    const groups = c.numHeads / c.numKvHeads;
    const d = c.headDim;
    const project = (name: string, heads: number) =>
      g.scope(name, () => this.linear(x, `${p}.self_attn.${name}`, heads * d, c.attentionBias));
    // [B, T, kv*groups*d] -> [B, kv, groups, T, d]
    const q = transpose(
      reshape(project("q_proj", c.numHeads), [0, 0, c.numKvHeads, groups, d], {
        shape: [batch, seq, c.numKvHeads, groups, d],
      }),
      [0, 2, 3, 1, 4],
    );
    // [B, T, kv*d] -> [B, kv, 1, T, d]
    const kvHeads = (t: Tensor) =>
      unsqueeze(
        transpose(
          reshape(t, [0, 0, c.numKvHeads, d], { shape: [batch, seq, c.numKvHeads, d] }),
          [0, 2, 1, 3],
        ),
        [2],
      );
    const k = kvHeads(project("k_proj", c.numKvHeads));
    const v = kvHeads(project("v_proj", c.numKvHeads));
    const qr = g.scope("q_rope", () => applyRope(q, rope));
    const kr = g.scope("k_rope", () => applyRope(k, rope));
    const scores = matmul(mul(qr, 1 / Math.sqrt(d), "scale"), transpose(kr, [0, 1, 2, 4, 3]), "qk");
    const probs = softmax(add(scores, bias, "mask"), -1);
    this.attentionProbs.set(layer, probs);
    const context = matmul(probs, v, "attn_v"); // [B, kv, groups, T, d]
    const merged = reshape(transpose(context, [0, 3, 1, 2, 4]), [0, 0, c.numHeads * d], {
      shape: [batch, seq, c.numHeads * d],
    });
    return g.scope("o_proj", () => this.linear(merged, `${p}.self_attn.o_proj`, c.hiddenSize, false));
  }

  /** down(silu(gate(x)) * up(x)) */
  private mlp(x: Tensor, p: string): Tensor {
    const g = this.graph;
    const c = this.config;
    const gate = g.scope("gate_proj", () => this.linear(x, `${p}.mlp.gate_proj`, c.intermediateSize, false));
    const up = g.scope("up_proj", () => this.linear(x, `${p}.mlp.up_proj`, c.intermediateSize, false));
    const act = g.scope("act_fn", () => mul(gate, sigmoid(gate)));
    return g.scope("down_proj", () => this.linear(mul(act, up), `${p}.mlp.down_proj`, c.hiddenSize, false));
  }

  /**
   * One decoder layer of the cached pass, position-major: x is [T, B, H], so the new keys and values come
   * out of the q/k/v projection already in the cache's [T, B, kv, 1, d] layout (no transposes for the
   * present rows), and the layer is written for few, large onnxruntime nodes (see forwardCached).
   */
  private cachedLayer(x: Tensor, i: number, rope: RopeTables, bias: Tensor, cache: LayerCache): Tensor {
    const g = this.graph;
    const c = this.config;
    const p = `model.layers.${i}`;
    const attnIn = g.scope("input_layernorm", () => this.rmsNorm(x, `${p}.input_layernorm.weight`, true));
    const h = add(
      x,
      g.scope("self_attn", () => this.cachedAttention(attnIn, p, rope, bias, cache)),
      "residual_attn",
    );
    const mlpIn = g.scope("post_attention_layernorm", () =>
      this.rmsNorm(h, `${p}.post_attention_layernorm.weight`, true),
    );
    const mlp = g.scope("mlp", () => {
      const [gate, up] = g.scope("gate_up_proj", () =>
        this.fusedLinear(
          mlpIn,
          [`${p}.mlp.gate_proj`, `${p}.mlp.up_proj`],
          [c.intermediateSize, c.intermediateSize],
          false,
        ),
      ) as [Tensor, Tensor];
      const act = g.scope("act_fn", () => mul(gate, sigmoid(gate)));
      return g.scope("down_proj", () => this.linear(mul(act, up), `${p}.mlp.down_proj`, c.hiddenSize, false));
    });
    return add(h, mlp, "residual_mlp");
  }

  /**
   * Grouped-query attention over cached + new keys, x [T, B, H]. q, k and v come from one MatMul (1/sqrt(d)
   * folded into the q weights: RoPE is linear, so this scales the scores), RoPE is applied to all heads at
   * once in a [T, B, heads, 1, d] view (v is taken from the unrotated view), and the attention itself runs
   * in the 5-D [B, kv, groups, T, d] layout of attention().
   */
  private cachedAttention(x: Tensor, p: string, rope: RopeTables, bias: Tensor, cache: LayerCache): Tensor {
    const g = this.graph;
    const c = this.config;
    const [seq, batch] = [x.shape[0]!, x.shape[1]!];
    const groups = c.numHeads / c.numKvHeads;
    const d = c.headDim;
    const heads = c.numHeads + 2 * c.numKvHeads;
    const [qkv] = g.scope("qkv_proj", () =>
      this.fusedLinear(
        x,
        ["q_proj", "k_proj", "v_proj"].map((n) => `${p}.self_attn.${n}`),
        [c.numHeads * d, c.numKvHeads * d, c.numKvHeads * d],
        c.attentionBias,
        [1 / Math.sqrt(d), 1, 1],
        [heads * d],
      ),
    ) as [Tensor];
    const perHead = reshape(qkv, [0, 0, heads, 1, d], { shape: [seq, batch, heads, 1, d] });
    const rotated = g.scope("rope", () => applyRope(perHead, rope));
    const [qr, kr] = split(rotated, 2, [c.numHeads, c.numKvHeads, c.numKvHeads]) as [Tensor, Tensor];
    const v = slice(perHead, [c.numHeads + c.numKvHeads], [heads], [2]); // [T, B, kv, 1, d]
    cache.presentKey = kr;
    cache.presentValue = v;
    const keys = concat([cache.pastKey, kr], 0, "concat_key"); // [P+T, B, kv, 1, d]
    const values = concat([cache.pastValue, v], 0, "concat_value");
    cache.keys = keys;
    cache.values = values;
    // [T, B, kv*groups, 1, d] -> [T, B, kv, groups, d] -> [B, kv, groups, T, d]
    const q = transpose(
      reshape(qr, [0, 0, c.numKvHeads, groups, d], { shape: [seq, batch, c.numKvHeads, groups, d] }),
      [1, 2, 3, 0, 4],
    );
    const kT = transpose(keys, [1, 2, 3, 4, 0]); // [B, kv, 1, d, S]
    const vt = transpose(values, [1, 2, 3, 0, 4]); // [B, kv, 1, S, d]
    const probs = softmax(add(matmul(q, kT, "qk"), bias, "mask"), -1);
    const context = matmul(probs, vt, "attn_v"); // [B, kv, groups, T, d]
    const merged = reshape(transpose(context, [3, 0, 1, 2, 4]), [0, 0, c.numHeads * d], {
      shape: [seq, batch, c.numHeads * d],
    });
    return g.scope("o_proj", () => this.linear(merged, `${p}.self_attn.o_proj`, c.hiddenSize, false));
  }

  /**
   * Several HF Linears over the same input (`outFeatures` each) as one projection on their stacked weights,
   * split into `splitSizes` after (a single size: no Split). `scales` multiply a part's weight and bias.
   * With float weights onnxruntime constant-folds the concatenation at load, so a decode step runs one
   * larger GEMV instead of several small ones; a quantizing binding stacks the quantized weights itself.
   */
  private fusedLinear(
    x: Tensor,
    prefixes: readonly string[],
    outFeatures: readonly number[],
    bias: boolean,
    scales: readonly number[] = prefixes.map(() => 1),
    splitSizes: readonly number[] = outFeatures,
  ): Tensor[] {
    const parts = prefixes.map((prefix, i) => ({ prefix, outFeatures: outFeatures[i]!, scale: scales[i] }));
    const y = projection(this.weights, x, parts, bias);
    return splitSizes.length === 1 ? [y] : split(y, -1, splitSizes);
  }

  /** HF Linear: x @ W^T (+ b), W stored [out, in]. */
  private linear(x: Tensor, prefix: string, outFeatures: number, bias: boolean): Tensor {
    return projection(this.weights, x, [{ prefix, outFeatures }], bias);
  }

  /** `signedSin`: the sin table with its first half negated, for applyRope's one-Gather rotate_half. */
  private rotaryEmbedding(positions: Tensor, signedSin = false): Rope {
    const g = this.graph;
    const c = this.config;
    const tables = ropeTables(c, this.dtype);
    const shape = [c.maxPositionEmbeddings, c.headDim];
    if (signedSin) {
      const d = c.headDim;
      for (let i = 0; i < tables.sin.length; i++) if (i % d < d / 2) tables.sin[i] = -tables.sin[i]!;
    }
    const cosTable = g.initializer("rope.cos_table", this.dtype, shape, typedArrayOf(this.dtype, tables.cos));
    const sinName = signedSin ? "rope.sin_signed_table" : "rope.sin_table";
    const sinTable = g.initializer(sinName, this.dtype, shape, typedArrayOf(this.dtype, tables.sin));
    const cosRows = gather(cosTable, positions, 0, "cos"); // [B, T, d]
    const sinRows = gather(sinTable, positions, 0, "sin");
    // [B, T] -> [B, 1, 1, T, d], broadcast over key-value heads and query groups.
    return {
      cos: unsqueeze(cosRows, [1, 2]),
      sin: unsqueeze(sinRows, [1, 2]),
      cosRows,
      sinRows,
      ...(signedSin ? { signedSin } : {}),
    };
  }

  private w(name: string, shape: readonly number[]): Tensor {
    return this.weights.weight(name, shape);
  }
}

/** cos/sin broadcastable against the tensor RoPE is applied to. */
interface RopeTables {
  cos: Tensor;
  sin: Tensor;
  /** sin's first half is negated (see applyRope). */
  signedSin?: boolean;
}

interface Rope extends RopeTables {
  /** The gathered [B, T, d] tables before broadcasting. */
  cosRows: Tensor;
  sinRows: Tensor;
}

/** One layer's cached keys/values in; the new rows out (set while building the layer). */
interface LayerCache {
  pastKey: Tensor;
  pastValue: Tensor;
  presentKey?: Tensor;
  presentValue?: Tensor;
  keys?: Tensor;
  values?: Tensor;
}

/**
 * x * cos + rotate_half(x) * sin, with rotate_half(x) = [-x2, x1] over the head dim. With a signed sin
 * table ([-sin, sin]) the rotation is one Gather of the halves swapped, [x2, x1] (4 nodes instead of 6:
 * the cached path, where per-node overhead dominates a decode step, uses it).
 */
function applyRope(x: Tensor, rope: RopeTables): Tensor {
  const d = x.shape[x.rank - 1] as number;
  if (rope.signedSin) {
    const swap = Array.from({ length: d }, (_, i) => (i + d / 2) % d);
    const swapped = gather(x, x.graph.constant("int64", swap, [d]), x.rank - 1, "rotate_half");
    return add(mul(x, rope.cos), mul(swapped, rope.sin));
  }
  const x1 = slice(x, [0], [d / 2], [-1]);
  const x2 = slice(x, [d / 2], [d], [-1]);
  const rotated = concat([neg(x2), x1], -1);
  return add(mul(x, rope.cos), mul(rotated, rope.sin));
}
