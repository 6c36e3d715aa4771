// The negatives pool: a folder of plain scenes for retrieval (Yo'LLaVA mines hard negatives from a large
// image pool by similarity to the user's photos). Its seeds default to the pool split and may never
// come from the held-out range.

import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { composeScene, type SceneRecipe } from "./compose";
import { CONCEPTS } from "./concepts";
import { encodePng } from "./png";
import { renderScene } from "./render";
import type { Scene } from "./scene";
import { assertTrainingSeeds, SPLITS } from "./splits";

export const POOL_MANIFEST = "manifest.json";
/** Version tag of the world's generator; a pool written by another version must be re-made. */
export const WORLD_VERSION = "toyworld-1";

export interface PoolItem {
  file: string;
  seed: number;
  recipe: SceneRecipe;
  scene: Scene;
}

export interface PoolManifest {
  world: string;
  size: number;
  items: PoolItem[];
}

/** A pool scene never contains a catalogue concept, so anything retrieved from it is a true negative. */
export function poolRecipe(seed: number): SceneRecipe {
  return { seed, stream: "pool", exclude: CONCEPTS.map((c) => c.identity) };
}

export interface PoolOptions {
  out: string;
  count: number;
  /** First seed; defaults to the start of the pool split. Held-out seeds are refused. */
  seed?: number;
  size?: number;
}

export async function writeNegativesPool(options: PoolOptions): Promise<PoolManifest> {
  const first = options.seed ?? SPLITS.pool.start;
  const seeds = Array.from({ length: options.count }, (_, i) => first + i);
  // Pool scenes use their own stream, so any seed gives scenes unlike the training ones; only the
  // held-out range is off limits, because evaluation must stay unseen by everything that trains.
  assertTrainingSeeds(seeds);
  const size = options.size ?? 64;
  await mkdir(options.out, { recursive: true });
  const items: PoolItem[] = [];
  for (const seed of seeds) {
    const recipe = poolRecipe(seed);
    const scene = composeScene(recipe);
    const file = `pool-${seed}.png`;
    await writeFile(join(options.out, file), await encodePng(renderScene(scene, { size })));
    items.push({ file, seed, recipe, scene });
  }
  const manifest: PoolManifest = { world: WORLD_VERSION, size, items };
  await writeFile(join(options.out, POOL_MANIFEST), JSON.stringify(manifest, null, 1));
  return manifest;
}
