import { describe, expect, it } from "vitest";
import { recognitionAccuracy, rocAuc } from "../../../trainer/personalize/recognition-score";

describe("rocAuc", () => {
  it("is 1 when every positive outranks every negative, 0 when reversed", () => {
    expect(rocAuc([0.9, 0.8, 0.2, 0.1], [true, true, false, false])).toBe(1);
    expect(rocAuc([0.1, 0.2, 0.8, 0.9], [true, true, false, false])).toBe(0);
  });

  it("counts ties as half, so a constant score is 0.5", () => {
    expect(rocAuc([0.3, 0.3, 0.3], [true, false, false])).toBe(0.5);
  });

  it("matches the pairwise count on a mixed case", () => {
    // Positives 0.6 and 0.4; negatives 0.5, 0.4, 0.1. Pairs won: 0.6 beats all 3; 0.4 beats 0.1 and
    // ties 0.4: 1.5. (3 + 1.5) / 6.
    expect(rocAuc([0.6, 0.4, 0.5, 0.4, 0.1], [true, true, false, false, false])).toBeCloseTo(4.5 / 6, 12);
  });

  it("is NaN without both labels", () => {
    expect(rocAuc([0.2, 0.7], [true, true])).toBeNaN();
  });
});

describe("recognitionAccuracy", () => {
  it("reports accuracy at 0.5 next to the threshold-free figures", () => {
    // Every P(yes) is below 0.5, so accuracy says "no to everything", yet positives rank first.
    const acc = recognitionAccuracy([0.45, 0.4, 0.3, 0.2], ["yes", "yes", "no", "no"]);
    expect(acc.positive).toBe(0);
    expect(acc.negative).toBe(1);
    expect(acc.weighted).toBe(0.5);
    expect(acc.auc).toBe(1);
    expect(acc.meanPYesPositive).toBeCloseTo(0.425, 12);
    expect(acc.meanPYesNegative).toBeCloseTo(0.25, 12);
  });

  it("averages the loss per class, so three negatives do not outweigh one positive", () => {
    const acc = recognitionAccuracy([0.5, 0.9, 0.9, 0.9], ["yes", "no", "no", "no"]);
    const pos = -Math.log(0.5);
    const neg = -Math.log(0.1);
    expect(acc.loss).toBeCloseTo((pos + 3 * neg) / 4, 12);
    expect(acc.balancedLoss).toBeCloseTo((pos + neg) / 2, 12);
  });
});
