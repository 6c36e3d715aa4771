import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  DEFAULT_DECODE_LIMITS,
  decodeImage,
  ImageDecodeError,
  type ImageErrorCode,
} from "../../../trainer/vision/image";

const IMAGES = join(import.meta.dirname, "../../fixtures/images");
const photo = readFileSync(join(IMAGES, "photo.png"));
const jpeg = readFileSync(join(IMAGES, "rotated.jpg"));

async function codeOf(promise: Promise<unknown>): Promise<ImageErrorCode | "ok"> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    expect(error).toBeInstanceOf(ImageDecodeError);
    return (error as ImageDecodeError).code;
  }
}

/** A PNG signature + IHDR claiming the given size, with no image data. */
function pngHeader(width: number, height: number): Uint8Array {
  const bytes = new Uint8Array(33);
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  const view = new DataView(bytes.buffer);
  view.setUint32(16, width);
  view.setUint32(20, height);
  bytes.set([8, 2, 0, 0, 0], 24);
  return bytes;
}

describe("decodeImage errors carry stable codes", () => {
  it("accepts the fixtures and honours EXIF orientation", async () => {
    expect(await codeOf(decodeImage(photo))).toBe("ok");
    const upright = await decodeImage(jpeg);
    expect([upright.width, upright.height]).toEqual([24, 40]); // stored 40x24, orientation 6
  });

  it("rejects empty and oversized inputs before decoding", async () => {
    expect(await codeOf(decodeImage(new Uint8Array(0)))).toBe("image_empty");
    expect(await codeOf(decodeImage(photo, { ...DEFAULT_DECODE_LIMITS, maxBytes: 100 }))).toBe(
      "image_too_large",
    );
    expect(await codeOf(decodeImage(photo, { ...DEFAULT_DECODE_LIMITS, maxPixels: 48 * 40 - 1 }))).toBe(
      "image_too_many_pixels",
    );
    expect(await codeOf(decodeImage(photo, { ...DEFAULT_DECODE_LIMITS, maxSide: 47 }))).toBe(
      "image_too_many_pixels",
    );
    // A 20000 x 20000 PNG header is refused from its header alone (no pixel buffer is allocated).
    expect(await codeOf(decodeImage(pngHeader(20_000, 20_000)))).toBe("image_too_many_pixels");
  });

  it("rejects unsupported formats", async () => {
    const gif = new TextEncoder().encode(
      "GIF89a\x01\x00\x01\x00\x80\x00\x00\xff\xff\xff\x00\x00\x00!\xf9\x04",
    );
    expect(await codeOf(decodeImage(gif))).toBe("image_unsupported_format");
    expect(await codeOf(decodeImage(new TextEncoder().encode("hello, not an image at all")))).toBe(
      "image_unsupported_format",
    );
  });

  it("rejects corrupt and truncated images", async () => {
    expect(await codeOf(decodeImage(photo.subarray(0, 120)))).toBe("image_corrupt");
    expect(await codeOf(decodeImage(jpeg.subarray(0, Math.floor(jpeg.length / 2))))).toBe("image_corrupt");
    expect(await codeOf(decodeImage(pngHeader(16, 16)))).toBe("image_corrupt");
  });
});
