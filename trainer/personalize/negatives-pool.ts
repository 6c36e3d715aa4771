// The negatives pool: a folder of images plus its persisted CLIP image-embedding index. Hard negatives
// are the pool's top-m by exact cosine similarity to the mean of the positives' embeddings; easy
// negatives are drawn at random from the rest. `pool build` (cli.ts) writes the index.
//
// Files in the pool folder: the images (png, jpg, jpeg, webp, any names), `clip-index.json`
// ({ format, clip fingerprint, dim, files }) and `clip-index.f32` (files.length x dim float32 LE, rows
// unit length, in the order of `files`).

import { readdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { ModelFingerprint } from "../../shared/concept-artifact";
import { decodeImage, ImageDecodeError, type RgbImage } from "../vision/image";
import type { ClipImageEncoder } from "./clip-encoder";
import { normalize } from "./clip-encoder";
import { ConceptTrainingError } from "./errors";
import type { SeededRandom } from "./random";

export const POOL_INDEX_JSON = "clip-index.json";
export const POOL_INDEX_DATA = "clip-index.f32";
const POOL_FORMAT = 1;
const IMAGE_EXTENSIONS = /\.(png|jpe?g|webp)$/i;
/** Pool entries at least this similar to the positives are taken to be the same photo, not a negative. */
const SAME_PHOTO_COSINE = 0.999;

interface PoolIndexJson {
  format: number;
  clip: ModelFingerprint;
  /** Digest of the CLIP weights the index was built with. */
  clip_weights?: string;
  dim: number;
  files: string[];
  /** Files that could not be decoded when the index was built. */
  skipped: string[];
}

export interface PoolBuildReport {
  dir: string;
  images: number;
  skipped: string[];
  dim: number;
  ms: number;
}

/** Embeds every image of `dir` with `clip` and writes the index next to them. */
export async function buildNegativesPool(
  dir: string,
  clip: ClipImageEncoder,
  options: { batchSize?: number; onProgress?: (done: number, total: number) => void } = {},
): Promise<PoolBuildReport> {
  const started = performance.now();
  const names = (await readdir(dir)).filter((f) => IMAGE_EXTENSIONS.test(f)).sort();
  const files: string[] = [];
  const skipped: string[] = [];
  const rows: Float32Array[] = [];
  const batch = options.batchSize ?? 64;
  for (let i = 0; i < names.length; i += batch) {
    const images: RgbImage[] = [];
    for (const name of names.slice(i, i + batch)) {
      try {
        images.push(await decodeImage(await readFile(join(dir, name))));
        files.push(name);
      } catch (e) {
        if (!(e instanceof ImageDecodeError)) throw e;
        skipped.push(name);
      }
    }
    rows.push(await clip.embed(images));
    options.onProgress?.(Math.min(i + batch, names.length), names.length);
  }
  const data = new Float32Array(files.length * clip.dim);
  let offset = 0;
  for (const r of rows) {
    data.set(r, offset);
    offset += r.length;
  }
  const index: PoolIndexJson = {
    format: POOL_FORMAT,
    clip: clip.fingerprint,
    clip_weights: clip.weights,
    dim: clip.dim,
    files,
    skipped,
  };
  await writeFile(join(dir, POOL_INDEX_DATA), new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
  await writeFile(join(dir, POOL_INDEX_JSON), JSON.stringify(index));
  return { dir, images: files.length, skipped, dim: clip.dim, ms: performance.now() - started };
}

export class NegativesPool {
  private constructor(
    readonly dir: string,
    readonly clip: ModelFingerprint,
    /** Absent in indexes written before weights were recorded. */
    readonly clipWeights: string | undefined,
    readonly dim: number,
    readonly files: readonly string[],
    private readonly embeds: Float32Array,
  ) {}

  get size(): number {
    return this.files.length;
  }

  /**
   * Opens a pool; with `expected`, refuses an index built with another CLIP: another config, or (given an
   * encoder) other weights.
   */
  static async open(
    dir: string,
    expectedClip?: ModelFingerprint | Pick<ClipImageEncoder, "fingerprint" | "weights">,
  ): Promise<NegativesPool> {
    const expected =
      expectedClip === undefined
        ? undefined
        : "fingerprint" in expectedClip
          ? expectedClip
          : { fingerprint: expectedClip, weights: undefined };
    let index: PoolIndexJson;
    let raw: Buffer;
    try {
      index = JSON.parse(await readFile(join(dir, POOL_INDEX_JSON), "utf8")) as PoolIndexJson;
      raw = await readFile(join(dir, POOL_INDEX_DATA));
    } catch (e) {
      throw new ConceptTrainingError(
        "pool_mismatch",
        `${dir} has no readable CLIP index (run \`pool build\`): ${(e as Error).message}`,
      );
    }
    if (index.format !== POOL_FORMAT || raw.byteLength !== index.files.length * index.dim * 4) {
      throw new ConceptTrainingError("pool_mismatch", `${dir}: the CLIP index is corrupt; rebuild it`);
    }
    if (
      expected &&
      (expected.fingerprint.config_hash !== index.clip.config_hash ||
        (expected.weights !== undefined &&
          index.clip_weights !== undefined &&
          expected.weights !== index.clip_weights))
    ) {
      throw new ConceptTrainingError(
        "pool_mismatch",
        `${dir} was indexed with CLIP ${index.clip.repo}#${index.clip.config_hash} (weights ${index.clip_weights}), ` +
          `not ${expected.fingerprint.repo}#${expected.fingerprint.config_hash} (weights ${expected.weights})`,
      );
    }
    const embeds = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength));
    return new NegativesPool(dir, index.clip, index.clip_weights, index.dim, index.files, embeds);
  }

  /** Cosine similarity of every pool image to the (normalized) mean of `queries` ([n * dim], unit rows). */
  similarities(queries: Float32Array): Float32Array {
    const d = this.dim;
    const mean = new Float32Array(d);
    const n = queries.length / d;
    for (let i = 0; i < n; i++) for (let j = 0; j < d; j++) mean[j] = mean[j]! + queries[i * d + j]!;
    const q = normalize(mean);
    const sims = new Float32Array(this.size);
    for (let i = 0; i < this.size; i++) {
      let s = 0;
      for (let j = 0; j < d; j++) s += this.embeds[i * d + j]! * q[j]!;
      sims[i] = s;
    }
    return sims;
  }

  /** Indices of the top-m pool images by exact cosine to the mean of `queries`, best first. */
  hardNegatives(queries: Float32Array, m: number): number[] {
    const sims = this.similarities(queries);
    const order = [...sims.keys()].filter((i) => sims[i]! < SAME_PHOTO_COSINE);
    order.sort((a, b) => sims[b]! - sims[a]! || a - b);
    return order.slice(0, m);
  }

  /** m indices drawn uniformly without replacement from those not in `exclude`. */
  easyNegatives(m: number, rng: SeededRandom, exclude: ReadonlySet<number> = new Set()): number[] {
    const candidates = [...this.files.keys()].filter((i) => !exclude.has(i));
    return rng.shuffle(candidates).slice(0, m);
  }

  async image(index: number): Promise<RgbImage> {
    return decodeImage(await readFile(join(this.dir, this.files[index]!)));
  }
}
