// Training images, rendered once per run. Every plain-scene record at a seed (caption, conversation,
// VQA item, recognition question) shows the same picture, so one rendered image per seed serves every
// stage and task; a task is drawn per row instead of per scene.

import { composeScene } from "../compose";
import type { RgbImage } from "../image";
import { renderScene } from "../render";
import type { Scene } from "../scene";
import { assertTrainingSeeds, splitSeeds } from "../splits";

export class TrainingScenes {
  readonly seeds: number[];
  readonly scenes: Scene[];
  readonly images: RgbImage[];

  constructor(count: number, size: number) {
    this.seeds = splitSeeds("train", 0, count);
    assertTrainingSeeds(this.seeds);
    this.scenes = this.seeds.map((seed) => composeScene({ seed }));
    this.images = this.scenes.map((scene) => renderScene(scene, { size }));
  }

  /** Indices of the scenes with at most `n` objects (a curriculum starts on the simple ones). */
  withAtMostObjects(n: number): number[] {
    return this.scenes.flatMap((s, k) => (s.objects.length <= n ? [k] : []));
  }

  get count(): number {
    return this.seeds.length;
  }
}
