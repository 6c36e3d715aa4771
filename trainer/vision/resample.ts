// PIL-compatible resizing of 8-bit images (Pillow's Resample.c), because HF's PIL processors resize with
// PIL and sharp/libvips uses different kernels and rounding. Same algorithm, same integer arithmetic:
// - separable convolution, each pass only where the size changes; horizontal first, except (Pillow 13.0's
//   rule, `verticalFirst` below) when the height shrinks by more than twice as many pixels as the width;
// - kernel support scaled by the downscale factor (antialiasing), taps centred at (i + 0.5) * scale;
// - weights normalised to sum 1 in float64, then to 22-bit fixed point rounded half away from zero;
// - accumulate in integers from 2^21 (rounding), clip to 0..255 between the passes (uint8 intermediate).
// The only possible divergence is libm's sin (Lanczos) vs V8's Math.sin in the last ulp, which could move
// a weight by one fixed-point unit; the tests measure none.

import type { RgbImage } from "./image";

export type ResampleFilter = "bilinear" | "bicubic" | "lanczos";

/** PIL.Image.Resampling codes as stored in preprocessor_config.json's `resample`. */
export const PIL_RESAMPLE_CODES: Readonly<Record<number, ResampleFilter>> = {
  1: "lanczos",
  2: "bilinear",
  3: "bicubic",
};

interface Kernel {
  support: number;
  weight(x: number): number;
}

const BICUBIC_A = -0.5;

const KERNELS: Record<ResampleFilter, Kernel> = {
  bilinear: {
    support: 1,
    weight: (x) => {
      const ax = Math.abs(x);
      return ax < 1 ? 1 - ax : 0;
    },
  },
  bicubic: {
    support: 2,
    weight: (x) => {
      const a = BICUBIC_A;
      const ax = Math.abs(x);
      if (ax < 1) return ((a + 2) * ax - (a + 3)) * ax * ax + 1;
      if (ax < 2) return (((ax - 5) * ax + 8) * ax - 4) * a;
      return 0;
    },
  },
  lanczos: {
    support: 3,
    weight: (x) => (x >= -3 && x < 3 ? sinc(x) * sinc(x / 3) : 0),
  },
};

function sinc(x: number): number {
  if (x === 0) return 1;
  const px = x * Math.PI;
  return Math.sin(px) / px;
}

const PRECISION_BITS = 32 - 8 - 2;

interface Coefficients {
  ksize: number;
  /** Per output index: first input index and tap count. */
  bounds: Int32Array;
  /** Fixed-point weights, ksize per output index. */
  weights: Int32Array;
}

function precomputeCoefficients(inSize: number, outSize: number, kernel: Kernel): Coefficients {
  const scale = inSize / outSize;
  const filterScale = Math.max(scale, 1);
  const support = kernel.support * filterScale;
  const ksize = Math.ceil(support) * 2 + 1;
  const bounds = new Int32Array(outSize * 2);
  const weights = new Int32Array(outSize * ksize);
  const taps = new Float64Array(ksize);
  for (let xx = 0; xx < outSize; xx++) {
    const center = (xx + 0.5) * scale;
    const ss = 1 / filterScale;
    const xmin = Math.max(Math.trunc(center - support + 0.5), 0);
    const xmax = Math.min(Math.trunc(center + support + 0.5), inSize) - xmin;
    let total = 0;
    for (let x = 0; x < xmax; x++) {
      const w = kernel.weight((x + xmin - center + 0.5) * ss);
      taps[x] = w;
      total += w;
    }
    for (let x = 0; x < xmax; x++) {
      const k = total !== 0 ? taps[x]! / total : taps[x]!;
      weights[xx * ksize + x] = Math.trunc(
        k < 0 ? -0.5 + k * (1 << PRECISION_BITS) : 0.5 + k * (1 << PRECISION_BITS),
      );
    }
    bounds[xx * 2] = xmin;
    bounds[xx * 2 + 1] = xmax;
  }
  return { ksize, bounds, weights };
}

function clip8(value: number): number {
  if (value >= 1 << (PRECISION_BITS + 8)) return 255;
  if (value <= 0) return 0;
  return value >> PRECISION_BITS;
}

const CHANNELS = 3;

function resampleHorizontal(src: RgbImage, outWidth: number, kernel: Kernel): RgbImage {
  const { ksize, bounds, weights } = precomputeCoefficients(src.width, outWidth, kernel);
  const out = new Uint8Array(outWidth * src.height * CHANNELS);
  const half = 1 << (PRECISION_BITS - 1);
  const data = src.data;
  for (let y = 0; y < src.height; y++) {
    const row = y * src.width * CHANNELS;
    for (let xx = 0; xx < outWidth; xx++) {
      const xmin = bounds[xx * 2]!;
      const xmax = bounds[xx * 2 + 1]!;
      const k = xx * ksize;
      let s0 = half;
      let s1 = half;
      let s2 = half;
      for (let x = 0, p = row + xmin * CHANNELS; x < xmax; x++, p += CHANNELS) {
        const w = weights[k + x]!;
        s0 += data[p]! * w;
        s1 += data[p + 1]! * w;
        s2 += data[p + 2]! * w;
      }
      const o = (y * outWidth + xx) * CHANNELS;
      out[o] = clip8(s0);
      out[o + 1] = clip8(s1);
      out[o + 2] = clip8(s2);
    }
  }
  return { width: outWidth, height: src.height, data: out };
}

function resampleVertical(src: RgbImage, outHeight: number, kernel: Kernel): RgbImage {
  const { ksize, bounds, weights } = precomputeCoefficients(src.height, outHeight, kernel);
  const stride = src.width * CHANNELS;
  const out = new Uint8Array(outHeight * stride);
  const half = 1 << (PRECISION_BITS - 1);
  // Row-at-a-time accumulation (sequential memory access); integer sums are exact in float64.
  const acc = new Float64Array(stride);
  const data = src.data;
  for (let yy = 0; yy < outHeight; yy++) {
    const ymin = bounds[yy * 2]!;
    const ymax = bounds[yy * 2 + 1]!;
    const k = yy * ksize;
    acc.fill(half);
    for (let y = 0; y < ymax; y++) {
      const w = weights[k + y]!;
      const from = (y + ymin) * stride;
      for (let i = 0; i < stride; i++) acc[i]! += data[from + i]! * w;
    }
    const o = yy * stride;
    for (let i = 0; i < stride; i++) out[o + i] = clip8(acc[i]!);
  }
  return { width: src.width, height: outHeight, data: out };
}

/** `PIL.Image.resize((width, height), resample)` for an RGB image. */
export function resizePil(image: RgbImage, width: number, height: number, filter: ResampleFilter): RgbImage {
  if (!Number.isInteger(width) || !Number.isInteger(height) || width < 1 || height < 1) {
    throw new RangeError(`bad target size ${width}x${height}`);
  }
  const kernel = KERNELS[filter];
  let out = image;
  if (verticalFirst(image.width, image.height, width, height)) {
    if (height !== image.height) out = resampleVertical(out, height, kernel);
    if (width !== image.width) out = resampleHorizontal(out, width, kernel);
  } else {
    if (width !== image.width) out = resampleHorizontal(out, width, kernel);
    if (height !== image.height) out = resampleVertical(out, height, kernel);
  }
  return out === image ? { width, height, data: image.data.slice() } : out;
}

/**
 * Pillow 13.0 (ImagingResampleInner) runs the vertical pass first when the height loses more than twice as
 * many pixels as the width; Pillow <= 12 always ran horizontal first. The order matters by +-1 on some
 * pixels because of the uint8 rounding between passes; the goldens come from Pillow 13.0.
 */
export function verticalFirst(
  inWidth: number,
  inHeight: number,
  outWidth: number,
  outHeight: number,
): boolean {
  const dy = inHeight - outHeight;
  return dy > 0 && dy > (inWidth - outWidth) * 2;
}
