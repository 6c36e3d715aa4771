// Fixed-shape batches: images as CLIP-normalised pixel_values, token rows right-padded to one of a few
// bucket lengths, so onnxruntime sees a handful of shapes and keeps its sessions and buffers.
// Right padding needs no key mask: attention is causal and padding sits after every real token.

import type { RgbImage } from "../image";

/** CLIPImageProcessor's OpenAI mean/std (written to preprocessor_config.json). */
export const IMAGE_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const IMAGE_STD = [0.26862954, 0.26130258, 0.27577711] as const;

/** HWC uint8 images -> [N, 3, S, S] float32, rescaled by 1/255 then normalised per channel. */
export function pixelValues(images: readonly RgbImage[]): Float32Array {
  const s = images[0]!.width;
  const plane = s * s;
  const out = new Float32Array(images.length * 3 * plane);
  images.forEach((img, n) => {
    if (img.width !== s || img.height !== s)
      throw new Error("pixelValues: images must share one square size");
    for (let c = 0; c < 3; c++) {
      const base = (n * 3 + c) * plane;
      const mean = IMAGE_MEAN[c]!;
      const std = IMAGE_STD[c]!;
      for (let i = 0; i < plane; i++) out[base + i] = (img.data[i * 3 + c]! / 255 - mean) / std;
    }
  });
  return out;
}

/** The smallest bucket that holds `length`, or undefined when none does. */
export function bucketFor(length: number, buckets: readonly number[]): number | undefined {
  return buckets.find((b) => b >= length);
}

/** Causal [B, 1, T, T] additive bias, cached per shape (the same array feeds every step). */
const biasCache = new Map<string, Float32Array>();
export function causalBias(batch: number, seq: number): Float32Array {
  const key = `${batch}x${seq}`;
  let bias = biasCache.get(key);
  if (!bias) {
    bias = new Float32Array(batch * seq * seq);
    for (let b = 0; b < batch; b++)
      for (let t = 0; t < seq; t++) for (let s = t + 1; s < seq; s++) bias[(b * seq + t) * seq + s] = -1e9;
    biasCache.set(key, bias);
  }
  return bias;
}

/** position_ids 0..T-1 per row. */
export function positionIds(batch: number, seq: number): BigInt64Array {
  return BigInt64Array.from({ length: batch * seq }, (_, i) => BigInt(i % seq));
}
