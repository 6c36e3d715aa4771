/** Checks uploaded images by magic bytes and header dimensions against the limits in shared/limits.ts. */
import { readImageHeader } from "../../shared/image-header";
import { MAX_PHOTO_BYTES, MAX_PHOTO_PIXELS, MAX_PHOTO_SIDE } from "../../shared/limits";
import type { ImageMime } from "../../shared/prompt-plan";
import { ApiError } from "./errors";

export interface CheckedImage {
  bytes: Uint8Array;
  mime: ImageMime;
  width: number;
  height: number;
}

export function checkImage(bytes: Uint8Array, label: string): CheckedImage {
  if (bytes.byteLength > MAX_PHOTO_BYTES) {
    throw new ApiError(
      "image_too_large",
      `${label} is ${bytes.byteLength} bytes; the limit is ${MAX_PHOTO_BYTES}`,
    );
  }
  const header = readImageHeader(bytes);
  if (!header) throw new ApiError("invalid_image", `${label} is not a JPEG, PNG or WebP image`);
  const { width, height } = header;
  if (width > MAX_PHOTO_SIDE || height > MAX_PHOTO_SIDE || width * height > MAX_PHOTO_PIXELS) {
    throw new ApiError(
      "image_too_large",
      `${label} is ${width}x${height}; limits are ${MAX_PHOTO_PIXELS} pixels and ${MAX_PHOTO_SIDE} per side`,
    );
  }
  return { bytes, ...header };
}

const DATA_URL = /^data:([a-z]+\/[a-z0-9.+-]+)?(;[a-z0-9-]+=[^;,]*)*;base64,([A-Za-z0-9+/]*={0,2})$/i;
const RAW_BASE64 = /^[A-Za-z0-9+/]+={0,2}$/;

/** Accepts a data: URL or bare base64; the declared MIME type is ignored in favour of the magic bytes. */
export function decodeImageString(value: string, label: string): CheckedImage {
  const match = DATA_URL.exec(value);
  const base64 = match ? match[3]! : RAW_BASE64.test(value) ? value : null;
  if (base64 === null || base64.length === 0)
    throw new ApiError("invalid_image", `${label} is not base64 image data`);
  if ((base64.length * 3) / 4 > MAX_PHOTO_BYTES + 3) {
    throw new ApiError("image_too_large", `${label} exceeds ${MAX_PHOTO_BYTES} bytes`);
  }
  let bytes: Uint8Array;
  try {
    bytes = base64ToBytes(base64);
  } catch {
    throw new ApiError("invalid_image", `${label} is not valid base64`);
  }
  return checkImage(bytes, label);
}

export function base64ToBytes(base64: string): Uint8Array {
  const binary = atob(base64);
  const bytes = new Uint8Array(binary.length);
  for (let i = 0; i < binary.length; i++) bytes[i] = binary.charCodeAt(i);
  return bytes;
}

export function bytesToBase64(bytes: Uint8Array): string {
  let binary = "";
  const chunk = 0x8000;
  for (let i = 0; i < bytes.length; i += chunk) {
    binary += String.fromCharCode(...bytes.subarray(i, i + chunk));
  }
  return btoa(binary);
}
