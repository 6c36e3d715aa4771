// Generation and scoring on a quantized load: CachedDecoder.build takes the loader's textBinding
// ({ binding }) instead of float32 values. On the tiny random LLaVA fixture's decoder (logits up to ~11):
// float32 through the binding is the same graph as through the values; int8 keeps the float32 greedy
// tokens and moves candidate probabilities little.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { Runtime } from "../../../trainer/engine/index";
import { CachedDecoder } from "../../../trainer/generate/decoder";
import { ArrayEmbeddingTable } from "../../../trainer/generate/embeddings";
import { generate } from "../../../trainer/generate/generate";
import { scoreNextTokenBatch } from "../../../trainer/generate/scoring";
import { type LoadedCausalLm, loadCausalLm } from "../../../trainer/models/loader";
import { fixtureDir } from "../models/golden";
import { embedIds, maxAbsDiff } from "./fixture";

const runtime = new Runtime({ intraOpNumThreads: 1 });
let float32: LoadedCausalLm;
let int8: LoadedCausalLm;
let table: Float32Array;
beforeAll(async () => {
  float32 = await loadCausalLm(fixtureDir("llava"), runtime);
  int8 = await loadCausalLm(fixtureDir("llava"), runtime, { weights: "int8" });
  const c = float32.textConfig;
  table = float32.textWeights("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize]);
});
afterAll(async () => {
  await runtime.release();
});

const PROMPTS = [
  [1, 5, 17, 42, 8],
  [1, 5, 17, 42, 8, 63, 29, 11, 70, 33, 4, 58],
  [1, 90, 3, 3, 61, 12, 7, 44],
];
const CANDIDATES = [36, 25];
const decoderOf = (loaded: LoadedCausalLm, viaBinding: boolean) =>
  CachedDecoder.build(loaded.textConfig, viaBinding ? { binding: loaded.textBinding } : loaded.textWeights, {
    runtime,
    modelId: `fixture-llava-${loaded.weightFormat}`,
  });

async function greedy(decoder: CachedDecoder, ids: readonly number[], maxNewTokens = 20) {
  const h = decoder.config.hiddenSize;
  const embeddings = new ArrayEmbeddingTable(table, h);
  return (await generate({ decoder, embeddings }, { prompt: embedIds(table, h, ids), maxNewTokens }))
    .tokenIds;
}

describe("cached decoder over the loader's binding", () => {
  it("float32 through textBinding is the graph built from the values", () => {
    expect(decoderOf(float32, true).model.hash).toBe(decoderOf(float32, false).model.hash);
  });

  // Greedy decoding on this random model meets near-ties, where a 0.4 change of logits picks another token.
  // So: int8 follows float32 token for token until float32's own margin between its token and int8's is
  // within that change; then they are different continuations of equally likely text.
  it("int8: greedy tokens follow float32's, diverging only at a near-tie", async () => {
    const quantized = decoderOf(int8, true);
    expect(quantized.model.hash).not.toBe(decoderOf(float32, false).model.hash);
    const reference = decoderOf(float32, false);
    const h = float32.textConfig.hiddenSize;
    let same = 0;
    for (const ids of PROMPTS) {
      const [a, b] = [await greedy(quantized, ids), await greedy(reference, ids)];
      const d = a.findIndex((t, i) => t !== b[i]);
      let margin: number | null = null;
      if (d >= 0) {
        const prompt = embedIds(table, h, [...ids, ...b.slice(0, d)]);
        const [scores] = await scoreNextTokenBatch(reference, [prompt], [b[d]!, a[d]!]);
        margin = scores!.logProbs[0]! - scores!.logProbs[1]!;
        expect(margin).toBeGreaterThanOrEqual(0);
        expect(margin).toBeLessThan(0.8);
      }
      same += d < 0 ? a.length : d;
      console.log(
        JSON.stringify({ test: "quantized-greedy", prompt: ids.length, first_difference: d, margin }),
      );
    }
    expect(same).toBeGreaterThanOrEqual(PROMPTS.length * 8);
  });

  it("int8: recognition-style candidate probabilities close to float32's", async () => {
    const h = float32.textConfig.hiddenSize;
    const prompts = PROMPTS.map((ids) => embedIds(table, h, ids));
    const [q, f] = [
      await scoreNextTokenBatch(decoderOf(int8, true), prompts, CANDIDATES),
      await scoreNextTokenBatch(decoderOf(float32, false), prompts, CANDIDATES),
    ];
    const probs = (s: typeof q) => s.flatMap((r) => [...r.probs]);
    const logProbs = (s: typeof q) => s.flatMap((r) => [...r.logProbs]);
    const diff = { probs: maxAbsDiff(probs(q), probs(f)), logProbs: maxAbsDiff(logProbs(q), logProbs(f)) };
    console.log(JSON.stringify({ test: "quantized-scores", ...diff }));
    // int8 moves this fixture's logits by up to ~0.4 (models/README.md): a two-way softmax moves by at most
    // a quarter of the logit gap's change, so 0.1 in probability and 0.8 in log-probability.
    expect(diff.probs).toBeLessThan(0.1);
    expect(diff.logProbs).toBeLessThan(0.8);
  });
});
