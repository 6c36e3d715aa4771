// Candidate scoring against full forwards: next-token candidates, left-padded batches, multi-token sums.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArrayEmbeddingTable } from "../../../trainer/generate/embeddings";
import { PrefixCache } from "../../../trainer/generate/prefix-cache";
import { logSoftmax } from "../../../trainer/generate/sampling";
import { scoreNextToken, scoreNextTokenBatch, scoreSequences } from "../../../trainer/generate/scoring";
import { embedIds, loadTinyLlama, maxAbsDiff, type TinyLlama } from "./fixture";

let tiny: TinyLlama;
beforeAll(async () => {
  tiny = await loadTinyLlama();
});
afterAll(async () => {
  await tiny.runtime.release();
});

const YES = 36;
const NO = 25;
const PROMPTS = [
  [1, 5, 17, 42, 8],
  [1, 5, 17, 42, 8, 63, 29, 11, 70, 33, 4, 58],
  [1, 90, 3, 3, 61, 12, 7, 44],
];
const prompt = (ids: readonly number[]) => embedIds(tiny.table, tiny.config.hiddenSize, ids);

/** log-softmax of the full forward's logits after the last prompt position. */
async function referenceNext(ids: readonly number[]): Promise<Float64Array> {
  const v = tiny.config.vocabSize;
  const logits = await tiny.fullLogits(prompt(ids));
  return logSoftmax(logits.subarray((ids.length - 1) * v, ids.length * v));
}

describe("candidate scoring", () => {
  it("next-token candidates equal the softmax over their logits from a full forward", async () => {
    const ids = PROMPTS[1]!;
    const scores = await scoreNextToken(tiny.decoder, prompt(ids), [YES, NO]);
    const reference = await referenceNext(ids);
    expect(maxAbsDiff(scores.logProbs, [reference[YES]!, reference[NO]!])).toBeLessThan(1e-5);
    const pYes = Math.exp(reference[YES]!) / (Math.exp(reference[YES]!) + Math.exp(reference[NO]!));
    expect(Math.abs(scores.probs[0]! - pYes)).toBeLessThan(1e-5);
    expect(scores.probs[0]! + scores.probs[1]!).toBeCloseTo(1, 12);
  });

  it("a left-padded batch of prompts of different lengths scores each row as it would alone", async () => {
    const batch = await scoreNextTokenBatch(tiny.decoder, PROMPTS.map(prompt), [YES, NO, 3]);
    expect(batch).toHaveLength(PROMPTS.length);
    for (const [b, ids] of PROMPTS.entries()) {
      const alone = await scoreNextToken(tiny.decoder, prompt(ids), [YES, NO, 3]);
      const reference = await referenceNext(ids);
      expect(maxAbsDiff(batch[b]!.logits, alone.logits)).toBeLessThan(1e-5);
      expect(maxAbsDiff(batch[b]!.logProbs, [reference[YES]!, reference[NO]!, reference[3]!])).toBeLessThan(
        1e-5,
      );
    }
    // The rows really differ (padding did not make them all look alike).
    expect(Math.abs(batch[0]!.probs[0]! - batch[1]!.probs[0]!)).toBeGreaterThan(1e-3);
  });

  it("a batch over a shared (cached) prefix scores each row as prefix + prompt alone", async () => {
    const shared = [1, 90, 3, 3];
    const suffixes = [
      [61, 12, 7],
      [44, 8, 63, 29, 11, 70, 33],
      [5, 17, 42, 8, 2],
    ];
    const prefixCache = new PrefixCache(1 << 20);
    const prefix = { embeds: prompt(shared), key: "system+<bo>@v1", prefixCache };
    const miss = await scoreNextTokenBatch(tiny.decoder, suffixes.map(prompt), [YES, NO], prefix);
    const hit = await scoreNextTokenBatch(tiny.decoder, suffixes.map(prompt), [YES, NO], prefix);
    expect(prefixCache.stats).toMatchObject({ hits: 1, misses: 1 });
    expect(hit).toEqual(miss);
    for (const [b, suffix] of suffixes.entries()) {
      const reference = await referenceNext([...shared, ...suffix]);
      expect(maxAbsDiff(miss[b]!.logProbs, [reference[YES]!, reference[NO]!])).toBeLessThan(1e-5);
    }
  });

  it("multi-token candidates are scored by the sum of their tokens' log-probabilities", async () => {
    const ids = PROMPTS[2]!;
    const candidates = [[YES, NO, 94], [NO], [YES, YES], [7, 7, 7, 7]];
    const table = new ArrayEmbeddingTable(tiny.table, tiny.config.hiddenSize);
    const scores = await scoreSequences(tiny.decoder, table, prompt(ids), candidates);
    const v = tiny.config.vocabSize;
    const expected: number[] = [];
    for (const c of candidates) {
      const full = [...ids, ...c];
      const logits = await tiny.fullLogits(prompt(full));
      let sum = 0;
      c.forEach((token, j) => {
        const t = ids.length - 1 + j;
        sum += logSoftmax(logits.subarray(t * v, (t + 1) * v))[token]!;
      });
      expected.push(sum);
    }
    expect(maxAbsDiff(scores.logProbs, expected)).toBeLessThan(1e-4);
    expect(scores.probs.reduce((a, b) => a + b, 0)).toBeCloseTo(1, 12);
    expect(argmaxOf(scores.probs)).toBe(argmaxOf(expected));
  });
});

function argmaxOf(xs: readonly number[]): number {
  return xs.indexOf(Math.max(...xs));
}
