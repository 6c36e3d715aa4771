// The toy CLIP's training graph: joint (contrastive + attribute heads) trains both towers; vision-only
// leaves the text side out of the graph, so a stage cannot move weights it has no loss for.

import { describe, expect, it } from "vitest";
import { isAuxiliaryWeight } from "../../../trainer/toyworld/train/attribute-supervision";
import { clipTrainingGraph, toyClipConfig } from "../../../trainer/toyworld/train/clip-recipe";

const config = toyClipConfig(64);
const names = (contrastive: boolean) => [
  ...clipTrainingGraph(config, 1, {}, contrastive).binding.shapes.keys(),
];

describe("clipTrainingGraph", () => {
  it("binds both towers, both projections and the temperature when contrastive", () => {
    const all = names(true);
    for (const prefix of [
      "text_model.",
      "vision_model.",
      "text_projection.",
      "visual_projection.",
      "logit_scale",
    ]) {
      expect(
        all.some((n) => n.startsWith(prefix)),
        prefix,
      ).toBe(true);
    }
  });

  it("binds only the vision tower and the attribute heads without the contrastive loss", () => {
    const vision = names(false);
    expect(vision.filter((n) => !n.startsWith("vision_model.") && !isAuxiliaryWeight(n))).toEqual([]);
    expect(vision.filter(isAuxiliaryWeight).length).toBeGreaterThan(0);
    // Every layer of the tower is there (its embeddings and each encoder layer).
    expect(vision).toContain("vision_model.embeddings.patch_embedding.weight");
    expect(vision.some((n) => n.startsWith("vision_model.encoder.layers.3."))).toBe(true);
  });
});
