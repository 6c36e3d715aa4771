// Pixels on demand: records carry recipes, and a trainer turns them into images here, at the resolution
// its vision tower wants.

import { composeScene, type SceneRecipe } from "./compose";
import type { ConceptSample } from "./concept-data";
import type { RgbImage } from "./image";
import { captionRecord } from "./records";
import { type RenderOptions, renderScene } from "./render";
import { type Split, splitSeeds } from "./splits";

export function renderRecipe(recipe: SceneRecipe, options: RenderOptions = {}): RgbImage {
  return renderScene(composeScene(recipe), options);
}

export function renderSample(sample: ConceptSample, options: RenderOptions = {}): RgbImage {
  return renderRecipe(sample.recipe, options);
}

export interface ImageCaptionPair {
  seed: number;
  image: RgbImage;
  caption: string;
}

/** Stage-1 alignment batch: images with their captions, seeds `offset .. offset + count` of a split. */
export function captionBatch(
  split: Split,
  offset: number,
  count: number,
  options: RenderOptions = {},
): ImageCaptionPair[] {
  return splitSeeds(split, offset, count).map((seed) => {
    const record = captionRecord(seed);
    return { seed, image: renderRecipe(record.recipe!, options), caption: record.caption };
  });
}
