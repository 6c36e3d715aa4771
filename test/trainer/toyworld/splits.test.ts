import { describe, expect, it } from "vitest";
import { conceptSamples } from "../../../trainer/toyworld/concept-data";
import { CONCEPTS } from "../../../trainer/toyworld/concepts";
import { instructionRecords, vqaItems } from "../../../trainer/toyworld/records";
import {
  assertTrainingSeeds,
  HELD_OUT_START,
  SPLIT_NAMES,
  SPLITS,
  splitOf,
  splitSeeds,
} from "../../../trainer/toyworld/splits";

describe("seed splits", () => {
  it("never overlap, and held-out evaluation lies above every other range", () => {
    const ranges = SPLIT_NAMES.map((s) => SPLITS[s]).sort((a, b) => a.start - b.start);
    for (let i = 1; i < ranges.length; i++)
      expect(ranges[i]!.start).toBeGreaterThanOrEqual(ranges[i - 1]!.end);
    for (const s of SPLIT_NAMES) if (s !== "test") expect(SPLITS[s].end).toBeLessThanOrEqual(HELD_OUT_START);
    expect(SPLITS.test.end).toBeLessThanOrEqual(2 ** 32);
  });

  it("hands out seeds only inside the split", () => {
    expect(splitSeeds("test", 0, 3)).toEqual([HELD_OUT_START, HELD_OUT_START + 1, HELD_OUT_START + 2]);
    expect(splitOf(splitSeeds("train", 999_999, 1)[0]!)).toBe("train");
    expect(() => splitSeeds("train", 999_999, 2)).toThrow(RangeError);
    expect(() => splitSeeds("val", -1, 1)).toThrow(RangeError);
  });

  it("keeps every generator's held-out samples out of training", () => {
    const concept = CONCEPTS[0]!;
    const train = conceptSamples(concept, "train", { positives: 5, hardNegatives: 5, easyNegatives: 5 });
    const test = conceptSamples(concept, "test", { positives: 5, hardNegatives: 5, easyNegatives: 5 });
    const seeds = (s: typeof train) =>
      [...s.positives, ...s.hardNegatives, ...s.easyNegatives].map((x) => x.seed);
    expect(() => assertTrainingSeeds(seeds(train))).not.toThrow();
    expect(() => assertTrainingSeeds(seeds(test))).toThrow(/held out/);
    for (const seed of seeds(test)) expect(splitOf(seed)).toBe("test");
    for (const r of instructionRecords("train", 0, 20)) expect(splitOf(r.recipe?.seed ?? 0)).toBe("train");
    for (const item of vqaItems("test", 0, 12)) expect(splitOf(item.recipe.seed)).toBe("test");
  });
});
