// The float steps every HF image processor shares, in HF's exact float arithmetic: rescale is
// float32(uint8 * factor computed in float64); normalize is float32((x - float32(mean)) / float32(std)).

import type { RgbImage } from "./image";

/** Channel-first float32 pixels: data[(c * height + y) * width + x]. */
export interface PixelValues {
  width: number;
  height: number;
  data: Float32Array;
}

export interface PixelOptions {
  doRescale: boolean;
  rescaleFactor: number;
  doNormalize: boolean;
  mean: readonly number[];
  std: readonly number[];
}

export function toPixelValues(image: RgbImage, options: PixelOptions): PixelValues {
  const { width, height } = image;
  const plane = width * height;
  const out = new Float32Array(3 * plane);
  const mean = options.mean.map(Math.fround);
  const std = options.std.map(Math.fround);
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < plane; i++) {
      let v = image.data[i * 3 + c]!;
      if (options.doRescale) v = Math.fround(v * options.rescaleFactor);
      if (options.doNormalize) v = Math.fround(Math.fround(v - mean[c]!) / std[c]!);
      out[c * plane + i] = v;
    }
  }
  return { width, height, data: out };
}

/** A sub-rectangle of an image (no resampling). */
export function cropImage(
  image: RgbImage,
  left: number,
  top: number,
  width: number,
  height: number,
): RgbImage {
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const from = ((top + y) * image.width + left) * 3;
    data.set(image.data.subarray(from, from + width * 3), y * width * 3);
  }
  return { width, height, data };
}
