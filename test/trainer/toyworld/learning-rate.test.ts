// The toy stages' learning-rate schedule: linear warmup, then cosine decay to 10% of the peak, or the
// peak held (the vision-only tower stage, where a decaying rate learned shape more slowly).

import { describe, expect, it } from "vitest";
import { learningRate, type Schedule } from "../../../trainer/toyworld/train/optimize";

const base: Schedule = { steps: 100, lr: 2e-3, warmup: 10, weightDecay: 0, maxGradNorm: 1, logEvery: 10 };

describe("learningRate", () => {
  it("warms up linearly, then decays by a cosine to a tenth of the peak", () => {
    expect(learningRate(0, base)).toBeCloseTo(2e-4, 10);
    expect(learningRate(9, base)).toBeCloseTo(2e-3, 10);
    expect(learningRate(10, base)).toBeCloseTo(2e-3, 10);
    expect(learningRate(55, base)).toBeCloseTo(2e-3 * 0.55, 10);
    expect(learningRate(100, base)).toBeCloseTo(2e-4, 10);
  });

  it("holds the peak after warmup when decay is constant", () => {
    const constant: Schedule = { ...base, decay: "constant" };
    expect(learningRate(4, constant)).toBe(learningRate(4, base));
    for (const step of [10, 55, 99]) expect(learningRate(step, constant)).toBe(2e-3);
  });
});
