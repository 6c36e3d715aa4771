// CLIPImageProcessor (PIL backend) as llava-hf/llava-1.5-* uses it: resize the shortest edge (bicubic),
// center crop, rescale 1/255, normalize with the CLIP mean/std. llava-hf's preprocessor_config.json names
// CLIPImageProcessor, which does NOT pad: it crops the centre of non-square photos. The original LLaVA-1.5
// (image_aspect_ratio=pad) first pads to a square with the mean colour, int(mean * 255) per channel;
// LlavaImageProcessor(do_pad=true) does that, and so does `doPad` here.

import type { RgbImage } from "./image";
import { type PixelOptions, type PixelValues, toPixelValues } from "./pixels";
import { type ResampleFilter, resizePil } from "./resample";

export const CLIP_MEAN = [0.48145466, 0.4578275, 0.40821073] as const;
export const CLIP_STD = [0.26862954, 0.26130258, 0.27577711] as const;

export interface ClipProcessorConfig extends PixelOptions {
  doResize: boolean;
  /** `shortest_edge` (aspect kept) or an exact `height` x `width`. */
  size: { shortestEdge: number } | { height: number; width: number };
  doCenterCrop: boolean;
  cropSize: { height: number; width: number };
  resample: ResampleFilter;
  /** LLaVA-1.5's pad-to-square with the mean colour before resizing. */
  doPad: boolean;
}

export function clipPreprocess(image: RgbImage, config: ClipProcessorConfig): PixelValues {
  let img = image;
  if (config.doPad)
    img = padToSquare(
      img,
      config.mean.map((m) => Math.trunc(m * 255)),
    );
  if (config.doResize) {
    const [h, w] = clipResizeSize(img.height, img.width, config.size);
    img = resizePil(img, w, h, config.resample);
  }
  if (config.doCenterCrop) img = centerCrop(img, config.cropSize.height, config.cropSize.width);
  return toPixelValues(img, config);
}

/** transformers' get_resize_output_image_size(default_to_square=False): [height, width]. */
export function clipResizeSize(
  height: number,
  width: number,
  size: ClipProcessorConfig["size"],
): [number, number] {
  if ("height" in size) return [size.height, size.width];
  const [short, long] = width <= height ? [width, height] : [height, width];
  const newShort = size.shortestEdge;
  const newLong = Math.trunc((newShort * long) / short);
  return width <= height ? [newLong, newShort] : [newShort, newLong];
}

/** transformers' center_crop: top/left = floor((in - crop) / 2); zero padding where the crop is larger. */
export function centerCrop(image: RgbImage, height: number, width: number): RgbImage {
  const top = Math.floor((image.height - height) / 2);
  const left = Math.floor((image.width - width) / 2);
  const data = new Uint8Array(width * height * 3);
  for (let y = 0; y < height; y++) {
    const sy = y + top;
    if (sy < 0 || sy >= image.height) continue;
    for (let x = 0; x < width; x++) {
      const sx = x + left;
      if (sx < 0 || sx >= image.width) continue;
      for (let c = 0; c < 3; c++)
        data[(y * width + x) * 3 + c] = image.data[(sy * image.width + sx) * 3 + c]!;
    }
  }
  return { width, height, data };
}

/** LlavaImageProcessor.pad_to_square: centred, offset floor((max - side) / 2), background colour per channel. */
export function padToSquare(image: RgbImage, background: readonly number[]): RgbImage {
  if (image.width === image.height) return image;
  const side = Math.max(image.width, image.height);
  const data = new Uint8Array(side * side * 3);
  for (let i = 0; i < side * side; i++) for (let c = 0; c < 3; c++) data[i * 3 + c] = background[c]!;
  const top = Math.floor((side - image.height) / 2);
  const left = Math.floor((side - image.width) / 2);
  for (let y = 0; y < image.height; y++) {
    data.set(
      image.data.subarray(y * image.width * 3, (y + 1) * image.width * 3),
      ((y + top) * side + left) * 3,
    );
  }
  return { width: side, height: side, data };
}

/** LlavaProcessor's image token count for one image of the processed size. */
export function llavaImageTokenCount(options: {
  height: number;
  width: number;
  patchSize: number;
  numAdditionalImageTokens: number;
  visionFeatureSelectStrategy: "default" | "full";
}): number {
  const patches =
    Math.floor(options.height / options.patchSize) * Math.floor(options.width / options.patchSize);
  return (
    patches + options.numAdditionalImageTokens - (options.visionFeatureSelectStrategy === "default" ? 1 : 0)
  );
}
