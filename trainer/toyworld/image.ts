// The image type the world produces: HxWx3 bytes, row-major, RGB, the layout sharp's raw input and the
// vision processors expect.

export interface RgbImage {
  width: number;
  height: number;
  /** Length width * height * 3; pixel (x, y) channel c at (y * width + x) * 3 + c. */
  data: Uint8Array;
}

export function pixelAt(image: RgbImage, x: number, y: number): [number, number, number] {
  const i = (y * image.width + x) * 3;
  return [image.data[i]!, image.data[i + 1]!, image.data[i + 2]!];
}
