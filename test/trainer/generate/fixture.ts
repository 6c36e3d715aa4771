// The tiny Llama checkpoint (test/fixtures/tiny-llama/untied) as generation tests need it: config, weights
// by HF name, the embedding table, a cached decoder, and a reference full forward (the model's forward()
// over the whole sequence, no cache) for comparisons.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { compile, Graph, matmul, ortTensor, Runtime, transpose } from "../../../trainer/engine/index";
import { SafetensorsCheckpoint } from "../../../trainer/engine/safetensors";
import { CachedDecoder } from "../../../trainer/generate/decoder";
import {
  causalAttentionBias,
  type LlamaConfig,
  LlamaDecoder,
  llamaConfigFromHf,
} from "../../../trainer/models/llama";
import { frozenWeights, type WeightValues } from "../../../trainer/models/weights";

export const TINY_LLAMA = join(import.meta.dirname, "../../fixtures/tiny-llama/untied");

export interface TinyLlama {
  config: LlamaConfig;
  values: WeightValues;
  table: Float32Array;
  runtime: Runtime;
  decoder: CachedDecoder;
  /** Logits [T, V] of every position of one unpadded sequence of embeddings [T * H], without a cache. */
  fullLogits(embeds: Float32Array): Promise<Float32Array>;
}

export async function loadTinyLlama(): Promise<TinyLlama> {
  const config = llamaConfigFromHf(JSON.parse(readFileSync(join(TINY_LLAMA, "config.json"), "utf8")));
  const checkpoint = await SafetensorsCheckpoint.open(TINY_LLAMA);
  const weights = new Map<string, Float32Array>();
  for (const name of checkpoint.names()) weights.set(name, await checkpoint.readFloat32(name));
  await checkpoint.close();
  const values: WeightValues = (name) => {
    const w = weights.get(name);
    if (!w) throw new Error(`no weight ${name}`);
    return w;
  };
  const runtime = new Runtime({ intraOpNumThreads: 1 });
  const decoder = CachedDecoder.build(config, values, { runtime, modelId: "tiny-llama-untied" });

  const g = new Graph("tiny_llama_full");
  const reference = new LlamaDecoder(g, config, frozenWeights(g, "float32", values));
  const hidden = reference.forward(reference.inputs());
  g.output(matmul(hidden, transpose(reference.lmHead(), [1, 0])), "logits");
  const full = compile(g);
  const fullLogits = async (embeds: Float32Array) => {
    const seq = embeds.length / config.hiddenSize;
    const out = await runtime.run(full, {
      inputs_embeds: ortTensor("float32", embeds, [1, seq, config.hiddenSize]),
      position_ids: ortTensor(
        "int64",
        BigInt64Array.from({ length: seq }, (_, i) => BigInt(i)),
        [1, seq],
      ),
      attention_bias: ortTensor("float32", causalAttentionBias(1, seq), [1, 1, seq, seq]),
    });
    return out.logits!.data as Float32Array;
  };
  return { config, values, table: weights.get("model.embed_tokens.weight")!, runtime, decoder, fullLogits };
}

/** Rows of `table` [V, H] for `ids`, concatenated. */
export function embedIds(table: Float32Array, hidden: number, ids: readonly number[]): Float32Array {
  const out = new Float32Array(ids.length * hidden);
  ids.forEach((id, i) => {
    out.set(table.subarray(id * hidden, (id + 1) * hidden), i * hidden);
  });
  return out;
}

export function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) throw new Error(`length ${a.length} vs ${b.length}`);
  let worst = 0;
  for (let i = 0; i < a.length; i++) worst = Math.max(worst, Math.abs(a[i]! - b[i]!));
  return worst;
}
