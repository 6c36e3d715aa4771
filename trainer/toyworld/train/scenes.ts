// Training images, rendered once per run. Every plain-scene record at a seed (caption, conversation,
// VQA item, recognition question) shows the same picture, so one rendered image per seed serves every
// stage and task; a task is drawn per row instead of per scene.

import { renderRecipe } from "../batches";
import type { RgbImage } from "../image";
import { assertTrainingSeeds, splitSeeds } from "../splits";

export class TrainingScenes {
  readonly seeds: number[];
  readonly images: RgbImage[];

  constructor(count: number, size: number) {
    this.seeds = splitSeeds("train", 0, count);
    assertTrainingSeeds(this.seeds);
    this.images = this.seeds.map((seed) => renderRecipe({ seed }, { size }));
  }

  get count(): number {
    return this.seeds.length;
  }
}
