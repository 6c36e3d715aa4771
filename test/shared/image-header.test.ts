import { describe, expect, it } from "vitest";
import { readImageHeader } from "../../shared/image-header";
import { jpegBytes, pngBytes, webpExtendedBytes, webpLosslessBytes, webpLossyBytes } from "./image-fixtures";

describe("readImageHeader", () => {
  it("reads PNG IHDR", () =>
    expect(readImageHeader(pngBytes(640, 480))).toEqual({ mime: "image/png", width: 640, height: 480 }));
  it("reads JPEG SOFn after APPn segments", () =>
    expect(readImageHeader(jpegBytes(1024, 768))).toEqual({ mime: "image/jpeg", width: 1024, height: 768 }));
  it("reads WebP VP8, VP8L and VP8X", () => {
    expect(readImageHeader(webpLossyBytes(300, 200))).toEqual({
      mime: "image/webp",
      width: 300,
      height: 200,
    });
    expect(readImageHeader(webpLosslessBytes(17, 9))).toEqual({ mime: "image/webp", width: 17, height: 9 });
    expect(readImageHeader(webpExtendedBytes(5000, 4000))).toEqual({
      mime: "image/webp",
      width: 5000,
      height: 4000,
    });
  });
  it("rejects other bytes", () => {
    expect(readImageHeader(new TextEncoder().encode("GIF89a............................"))).toBeNull();
    expect(readImageHeader(new Uint8Array([0xff, 0xd8, 0xff, 0xd9]))).toBeNull();
    expect(readImageHeader(pngBytes(0, 10))).toBeNull();
  });
});
