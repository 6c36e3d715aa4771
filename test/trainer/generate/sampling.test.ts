// Sampling distributions: temperature, top-k, top-p as transformers applies them, and seeded draws that
// follow the distribution.

import { describe, expect, it } from "vitest";
import {
  argmax,
  type SamplingOptions,
  SeededRandom,
  sampleToken,
  samplingDistribution,
} from "../../../trainer/generate/sampling";

const LOGITS = [2.0, 1.0, 0.5, 0.0, -1.0, 3.0];

function softmax(xs: readonly number[], temperature = 1): number[] {
  const e = xs.map((x) => Math.exp(x / temperature));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / s);
}

function empirical(options: SamplingOptions, draws: number): number[] {
  const random = new SeededRandom(options.seed);
  const counts = new Array<number>(LOGITS.length).fill(0);
  for (let i = 0; i < draws; i++) counts[sampleToken(LOGITS, options, random)]!++;
  return counts.map((c) => c / draws);
}

describe("sampling", () => {
  it("greedy is the argmax (first on ties)", () => {
    expect(argmax(LOGITS)).toBe(5);
    expect(argmax([1, 3, 3])).toBe(1);
    expect(sampleToken(LOGITS, {}, new SeededRandom(1))).toBe(5);
    expect([...samplingDistribution(LOGITS, { temperature: 0 })]).toEqual([0, 0, 0, 0, 0, 1]);
  });

  it("temperature scales the logits before the softmax", () => {
    const dist = samplingDistribution(LOGITS, { temperature: 2 });
    const expected = softmax(LOGITS, 2);
    dist.forEach((p, i) => {
      expect(p).toBeCloseTo(expected[i]!, 12);
    });
  });

  it("top-k keeps the k most likely tokens, renormalized", () => {
    const dist = samplingDistribution(LOGITS, { temperature: 1, topK: 2 });
    const kept = softmax([3.0, 2.0]);
    expect(dist[5]).toBeCloseTo(kept[0]!, 12);
    expect(dist[0]).toBeCloseTo(kept[1]!, 12);
    expect(dist.filter((p) => p > 0)).toHaveLength(2);
  });

  it("top-p keeps the smallest most-likely set reaching p", () => {
    const full = softmax(LOGITS);
    // Sorted: 5 (0.55), 0 (0.20), 1 (0.07), ... -> p = 0.7 needs two tokens, 0.5 only one.
    const two = samplingDistribution(LOGITS, { temperature: 1, topP: 0.7 });
    expect(two.filter((p) => p > 0)).toHaveLength(2);
    expect(two[5]).toBeCloseTo(full[5]! / (full[5]! + full[0]!), 12);
    const one = samplingDistribution(LOGITS, { temperature: 1, topP: 0.5 });
    expect([...one]).toEqual([0, 0, 0, 0, 0, 1]);
    // top-k is applied first: with k = 3 the nucleus is taken over the renormalized top 3.
    const both = samplingDistribution(LOGITS, { temperature: 1, topK: 3, topP: 0.9 });
    expect(both.filter((p) => p > 0)).toHaveLength(2);
  });

  it("seeded draws follow the distribution and repeat with the seed", () => {
    const options = { temperature: 1.3, topK: 4, topP: 0.95, seed: 11 };
    const expected = samplingDistribution(LOGITS, options);
    const observed = empirical(options, 20000);
    // 20000 draws: the standard error of a frequency is <= 0.0036.
    observed.forEach((f, i) => {
      expect(Math.abs(f - expected[i]!)).toBeLessThan(0.015);
    });
    expect(observed.filter((f) => f > 0)).toHaveLength(expected.filter((p) => p > 0).length);
    expect(empirical(options, 50)).toEqual(empirical(options, 50));
    expect(empirical({ ...options, seed: 12 }, 50)).not.toEqual(empirical(options, 50));
  });

  it("the generator is uniform on [0, 1)", () => {
    const random = new SeededRandom(5);
    let sum = 0;
    let min = 1;
    let max = 0;
    for (let i = 0; i < 10000; i++) {
      const u = random.next();
      sum += u;
      min = Math.min(min, u);
      max = Math.max(max, u);
    }
    expect(Math.abs(sum / 10000 - 0.5)).toBeLessThan(0.01);
    expect(min).toBeGreaterThanOrEqual(0);
    expect(max).toBeLessThan(1);
  });
});
