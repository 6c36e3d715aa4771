// The tiny random LLaVA fixture as a concept base model. Its vocabulary (128) is smaller than the llava
// tokenizer fixture's (931), so rendered ids are folded into it: meaningless text, real mechanics.

import { join } from "node:path";
import { Runtime } from "../../../trainer/engine/index";
import { type ConceptModel, loadConceptModel } from "../../../trainer/personalize/concept-model";
import type { RgbImage } from "../../../trainer/vision/image";

export const FIXTURES = join(import.meta.dirname, "../../fixtures");
export const LLAVA_DIR = join(FIXTURES, "models/llava");
export const CLIP_DIR = join(FIXTURES, "models/clip");
export const TOKENIZER_DIR = join(FIXTURES, "tokenizers/llava");

let shared: Promise<ConceptModel> | undefined;

export function tinyConceptModel(runtime = new Runtime({ intraOpNumThreads: 1 })): Promise<ConceptModel> {
  shared ??= loadConceptModel(LLAVA_DIR, {
    runtime,
    tokenizerDir: TOKENIZER_DIR,
    repo: "test/tiny-llava",
    revision: "fixture",
    mapIds: (id) => id % 128,
  });
  return shared;
}

/** A deterministic photo: a coloured square on a plain background (distinct per `seed`). */
export function photo(seed: number, size = 40): RgbImage {
  const data = new Uint8Array(size * size * 3);
  for (let y = 0; y < size; y++) {
    for (let x = 0; x < size; x++) {
      const inside = x > size / 4 && x < (3 * size) / 4 && y > size / 4 && y < (3 * size) / 4;
      const i = (y * size + x) * 3;
      data[i] = inside ? (seed * 53) % 256 : 200;
      data[i + 1] = inside ? (seed * 97 + x) % 256 : 190;
      data[i + 2] = inside ? (seed * 29 + y) % 256 : 180;
    }
  }
  return { width: size, height: size, data };
}
