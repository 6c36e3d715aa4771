// PNG files and contact sheets, for pools on disk and for looking at the world with one's own eyes.

import sharp from "sharp";
import type { RgbImage } from "./image";

export async function encodePng(image: RgbImage): Promise<Buffer> {
  return sharp(image.data, { raw: { width: image.width, height: image.height, channels: 3 } })
    .png()
    .toBuffer();
}

/**
 * Tiles rows of equally sized images onto one image with `gap` pixels of dark separator, so positives and
 * each kind of hard negative can be compared side by side.
 */
export function contactSheet(rows: readonly (readonly RgbImage[])[], gap = 2, scale = 1): RgbImage {
  const first = rows.find((r) => r.length > 0)?.[0];
  if (!first) throw new Error("contactSheet: no images");
  const tile = first.width * scale;
  const columns = Math.max(...rows.map((r) => r.length));
  const width = columns * tile + (columns + 1) * gap;
  const height = rows.length * tile + (rows.length + 1) * gap;
  const data = new Uint8Array(width * height * 3).fill(40);
  rows.forEach((row, r) => {
    row.forEach((image, c) => {
      const ox = gap + c * (tile + gap);
      const oy = gap + r * (tile + gap);
      for (let y = 0; y < tile; y++) {
        for (let x = 0; x < tile; x++) {
          const src = (Math.floor(y / scale) * image.width + Math.floor(x / scale)) * 3;
          const dst = ((oy + y) * width + ox + x) * 3;
          data[dst] = image.data[src]!;
          data[dst + 1] = image.data[src + 1]!;
          data[dst + 2] = image.data[src + 2]!;
        }
      }
    });
  });
  return { width, height, data };
}
