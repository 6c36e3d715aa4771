// Photo decoding for the processors: bytes -> upright 8-bit RGB, with the edge's limits enforced before any
// pixel is decoded. Orientation follows EXIF (sharp's .rotate()), as HF's load_image does with
// ImageOps.exif_transpose; alpha is composited on white exactly as HF's convert_to_rgb does (PIL's
// alpha_composite integer arithmetic); embedded ICC profiles are ignored, as PIL does.

import sharp from "sharp";
import { readImageHeader } from "../../shared/image-header";
import { MAX_PHOTO_BYTES, MAX_PHOTO_PIXELS, MAX_PHOTO_SIDE } from "../../shared/limits";
import type { ImageMime } from "../../shared/prompt-plan";

/** Interleaved 8-bit RGB, row-major: data[(y * width + x) * 3 + c]. */
export interface RgbImage {
  width: number;
  height: number;
  data: Uint8Array;
}

export const IMAGE_ERROR_CODES = [
  "image_empty",
  "image_too_large",
  "image_too_many_pixels",
  "image_unsupported_format",
  "image_corrupt",
] as const;
export type ImageErrorCode = (typeof IMAGE_ERROR_CODES)[number];

export class ImageDecodeError extends Error {
  override name = "ImageDecodeError";
  constructor(
    readonly code: ImageErrorCode,
    message: string,
  ) {
    super(message);
  }
}

export interface DecodeLimits {
  maxBytes: number;
  maxPixels: number;
  maxSide: number;
}

/** The edge's limits (shared/limits.ts): the node accepts exactly what the edge lets through. */
export const DEFAULT_DECODE_LIMITS: DecodeLimits = {
  maxBytes: MAX_PHOTO_BYTES,
  maxPixels: MAX_PHOTO_PIXELS,
  maxSide: MAX_PHOTO_SIDE,
};

const SHARP_FORMATS: Record<ImageMime, string> = {
  "image/jpeg": "jpeg",
  "image/png": "png",
  "image/webp": "webp",
};

export async function decodeImage(
  bytes: Uint8Array,
  limits: DecodeLimits = DEFAULT_DECODE_LIMITS,
): Promise<RgbImage> {
  if (bytes.length === 0) throw new ImageDecodeError("image_empty", "image has no bytes");
  if (bytes.length > limits.maxBytes) {
    throw new ImageDecodeError(
      "image_too_large",
      `image has ${bytes.length} bytes (limit ${limits.maxBytes})`,
    );
  }
  const header = readImageHeader(bytes);
  if (header === null)
    throw new ImageDecodeError("image_unsupported_format", "not a JPEG, PNG or WebP image");
  checkSize(header.width, header.height, limits);
  let raw: { data: Buffer; info: sharp.OutputInfo };
  try {
    const image = sharp(bytes, {
      limitInputPixels: limits.maxPixels,
      failOn: "truncated",
      sequentialRead: true,
    });
    const meta = await image.metadata();
    if (meta.format !== SHARP_FORMATS[header.mime] || meta.width === undefined || meta.height === undefined) {
      throw new ImageDecodeError("image_corrupt", `header says ${header.mime}, decoder found ${meta.format}`);
    }
    checkSize(meta.width, meta.height, limits);
    raw = await image.rotate().raw({ depth: "uchar" }).toBuffer({ resolveWithObject: true });
  } catch (error) {
    if (error instanceof ImageDecodeError) throw error;
    throw new ImageDecodeError("image_corrupt", `cannot decode image: ${(error as Error).message}`);
  }
  return toRgb(raw.data, raw.info.width, raw.info.height, raw.info.channels);
}

function checkSize(width: number, height: number, limits: DecodeLimits): void {
  if (width > limits.maxSide || height > limits.maxSide || width * height > limits.maxPixels) {
    throw new ImageDecodeError(
      "image_too_many_pixels",
      `image is ${width}x${height} (limits: ${limits.maxPixels} pixels, ${limits.maxSide} per side)`,
    );
  }
}

/** 1-4 interleaved channels (grey, grey+alpha, RGB, RGBA) -> RGB, alpha composited on white. */
export function toRgb(data: Uint8Array, width: number, height: number, channels: number): RgbImage {
  const n = width * height;
  if (data.length !== n * channels || channels < 1 || channels > 4) {
    throw new ImageDecodeError(
      "image_corrupt",
      `unexpected raw layout: ${channels} channels, ${data.length} bytes`,
    );
  }
  const out = new Uint8Array(n * 3);
  const hasAlpha = channels === 2 || channels === 4;
  const colour = hasAlpha ? channels - 1 : channels;
  for (let i = 0; i < n; i++) {
    const src = i * channels;
    const alpha = hasAlpha ? data[src + colour]! : 255;
    for (let c = 0; c < 3; c++) {
      const v = data[src + (colour === 1 ? 0 : c)]!;
      out[i * 3 + c] = alpha === 255 ? v : compositeOnWhite(v, alpha);
    }
  }
  return { width, height, data: out };
}

/** PIL's ImagingAlphaComposite for an opaque white destination (7-bit fixed-point coefficients). */
function compositeOnWhite(value: number, alpha: number): number {
  const PRECISION_BITS = 7;
  const outa255 = alpha * 255 + 255 * (255 - alpha);
  const coef1 = Math.floor((alpha * 255 * 255 * (1 << PRECISION_BITS)) / outa255);
  const coef2 = 255 * (1 << PRECISION_BITS) - coef1;
  const tmp = value * coef1 + 255 * coef2 + (0x80 << PRECISION_BITS);
  return (((tmp >> 8) + tmp) >> 8) >> PRECISION_BITS;
}
