import { describe, expect, it } from "vitest";
import { composeScene } from "../../../trainer/toyworld/compose";
import { conceptSamples } from "../../../trainer/toyworld/concept-data";
import {
  conceptDescriptionRecord,
  conceptsTogetherRecipe,
  conceptVqaItems,
  recognitionRecord,
} from "../../../trainer/toyworld/concept-records";
import { findConcept } from "../../../trainer/toyworld/concepts";

const bo = findConcept("<bo>");

describe("concept records", () => {
  it("recognition says yes exactly for positives", () => {
    const s = conceptSamples(bo, "train", { positives: 5, hardNegatives: 5, easyNegatives: 5 });
    for (const sample of [...s.positives, ...s.hardNegatives, ...s.easyNegatives]) {
      const r = recognitionRecord(sample);
      expect(r.answer).toBe(sample.label === "positive" ? "yes" : "no");
      expect(r.conversations[0]!.value).toContain("<bo>");
      expect(r.conversations[1]!.value.startsWith(r.answer === "yes" ? "Yes" : "No")).toBe(true);
    }
  });

  it("personalized VQA answers from the concept's place in the scene graph", () => {
    for (const item of conceptVqaItems(bo, "test", 0, 20)) {
      const scene = composeScene(item.recipe);
      const me = scene.objects.find((o) => o.concept === "<bo>")!;
      expect(item.answer).toBe(item.kind === "position" ? me.cell : String(scene.objects.length - 1));
    }
  });

  it("puts several concepts in one scene and describes a positive", () => {
    const scene = composeScene(conceptsTogetherRecipe([bo, findConcept("<mochi>")], 3));
    expect(
      scene.objects
        .map((o) => o.concept)
        .filter(Boolean)
        .sort(),
    ).toEqual(["<bo>", "<mochi>"]);
    const sample = conceptSamples(bo, "train", { positives: 1, hardNegatives: 0, easyNegatives: 0 })
      .positives[0]!;
    expect(conceptDescriptionRecord(sample).conversations[1]!.value).toMatch(/^<bo> is (in|at|on) the /);
  });
});
