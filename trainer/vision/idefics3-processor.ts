// Idefics3ImageProcessor (PIL backend) as SmolVLM uses it: resize the longest edge (even short side), then
// either split into max_image_size tiles + a global image (a square resize of the whole), or (no
// splitting) one square resize. Rescale 1/255, normalize 0.5/0.5. All tiles are max_image_size square, so
// the batch padding HF applies only matters across images with different tile counts (the caller's
// concern, with the pixel attention mask).

import type { RgbImage } from "./image";
import { cropImage, type PixelOptions, type PixelValues, toPixelValues } from "./pixels";
import { type ResampleFilter, resizePil } from "./resample";

/** transformers' absolute cap on the resized longest edge. */
export const IDEFICS3_MAX_IMAGE_SIDE = 4096;

export interface Idefics3ProcessorConfig extends PixelOptions {
  doResize: boolean;
  /** size.longest_edge: the whole image's longest edge after the first resize. */
  longestEdge: number;
  /** max_image_size.longest_edge: tile side, and the global image's side. */
  maxImageSize: number;
  doImageSplitting: boolean;
  resample: ResampleFilter;
}

export interface Idefics3Image {
  /** Tiles row-major, then the global image (or just the one square image when not split). */
  frames: PixelValues[];
  /** 0 and 0 when the image was not split. */
  rows: number;
  cols: number;
}

export function idefics3Preprocess(image: RgbImage, config: Idefics3ProcessorConfig): Idefics3Image {
  let img = image;
  const resize = (height: number, width: number) => {
    img = resizePil(img, width, height, config.resample);
  };
  if (config.doResize) {
    const [h, w] = idefics3ResizeSize(img.height, img.width, config.longestEdge);
    resize(h, w);
  }
  const m = config.maxImageSize;
  let tiles: RgbImage[];
  let rows = 0;
  let cols = 0;
  if (config.doImageSplitting) {
    const [h, w] = visionEncoderSize(img.height, img.width, m);
    resize(h, w);
    if (img.height > m || img.width > m) {
      rows = Math.floor((img.height - m) / m) + 1;
      cols = Math.floor((img.width - m) / m) + 1;
      tiles = [];
      for (let r = 0; r < rows; r++)
        for (let c = 0; c < cols; c++) tiles.push(cropImage(img, c * m, r * m, m, m));
      tiles.push(resizePil(img, m, m, config.resample));
    } else {
      tiles = [img];
    }
  } else {
    resize(m, m);
    tiles = [img];
  }
  return { frames: tiles.map((t) => toPixelValues(t, config)), rows, cols };
}

/** [height, width] after the longest-edge resize (odd short sides rounded up to even), capped at 4096. */
export function idefics3ResizeSize(height: number, width: number, longestEdge: number): [number, number] {
  let h = height;
  let w = width;
  const aspect = w / h;
  if (w >= h) {
    w = longestEdge;
    h = Math.trunc(w / aspect);
    if (h % 2 !== 0) h += 1;
  } else {
    h = longestEdge;
    w = Math.trunc(h * aspect);
    if (w % 2 !== 0) w += 1;
  }
  h = Math.max(h, 1);
  w = Math.max(w, 1);
  const cap = IDEFICS3_MAX_IMAGE_SIDE;
  const capAspect = w / h;
  if (w >= h && w > cap) {
    w = cap;
    h = Math.trunc(w / capAspect);
  } else if (h > w && h > cap) {
    h = cap;
    w = Math.trunc(h * capAspect);
  }
  return [Math.max(h, 1), Math.max(w, 1)];
}

/** resize_for_vision_encoder: both sides up to multiples of the tile size, [height, width]. */
function visionEncoderSize(height: number, width: number, m: number): [number, number] {
  const aspect = width / height;
  if (width >= height) {
    const w = Math.ceil(width / m) * m;
    const h = Math.ceil(Math.trunc(w / aspect) / m) * m;
    return [h, w];
  }
  const h = Math.ceil(height / m) * m;
  const w = Math.ceil(Math.trunc(h * aspect) / m) * m;
  return [h, w];
}

export interface Idefics3PromptTokens {
  image: string;
  fakeAroundImage: string;
  globalImage: string;
}

export const IDEFICS3_PROMPT_TOKENS: Idefics3PromptTokens = {
  image: "<image>",
  fakeAroundImage: "<fake_token_around_image>",
  globalImage: "<global-img>",
};

/**
 * The string Idefics3Processor puts in place of one `<image>`: per tile `<fake><row_r_col_c><image>*N`, a
 * newline after each tile row, then `\n<fake><global-img><image>*N<fake>`; unsplit images are just
 * `<fake><global-img><image>*N<fake>`. N is processor_config.json's image_seq_len.
 */
export function idefics3ImagePrompt(
  rows: number,
  cols: number,
  imageSeqLen: number,
  tokens: Idefics3PromptTokens = IDEFICS3_PROMPT_TOKENS,
): string {
  const run = tokens.image.repeat(imageSeqLen);
  const global = `${tokens.fakeAroundImage}${tokens.globalImage}${run}${tokens.fakeAroundImage}`;
  if (rows === 0 && cols === 0) return global;
  let text = "";
  for (let r = 1; r <= rows; r++) {
    for (let c = 1; c <= cols; c++) text += `${tokens.fakeAroundImage}<row_${r}_col_${c}>${run}`;
    text += "\n";
  }
  return `${text}\n${global}`;
}
