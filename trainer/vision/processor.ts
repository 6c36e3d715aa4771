// An image processor built from a checkpoint's preprocessor_config.json (+ processor_config.json), keyed by
// `image_processor_type` as transformers does, with the prompt expansion its processor applies per image.

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import {
  CLIP_MEAN,
  CLIP_STD,
  type ClipProcessorConfig,
  clipPreprocess,
  llavaImageTokenCount,
} from "./clip-processor";
import { type Idefics3ProcessorConfig, idefics3ImagePrompt, idefics3Preprocess } from "./idefics3-processor";
import type { RgbImage } from "./image";
import type { PixelValues } from "./pixels";
import { PIL_RESAMPLE_CODES, type ResampleFilter } from "./resample";

export class ImageProcessorConfigError extends Error {
  override name = "ImageProcessorConfigError";
}

export interface ProcessedImage {
  /** One frame for CLIP; tiles + global image for Idefics3. */
  frames: PixelValues[];
  rows: number;
  cols: number;
}

export interface ImageProcessor {
  readonly kind: "clip" | "idefics3";
  /** The image token the chat template writes ("<image>"). */
  readonly imageToken: string;
  preprocess(image: RgbImage): ProcessedImage;
  /** What replaces the template's image token for this image (the model's image-feature slots). */
  imagePrompt(image: ProcessedImage): string;
}

type Json = Record<string, unknown>;

const num = (value: unknown, fallback: number): number => (typeof value === "number" ? value : fallback);
const bool = (value: unknown, fallback: boolean): boolean => (typeof value === "boolean" ? value : fallback);
const nums = (value: unknown, fallback: readonly number[]): number[] => {
  if (typeof value === "number") return [value, value, value];
  return Array.isArray(value) && value.length === 3 ? value.map(Number) : [...fallback];
};

function resampleOf(value: unknown, fallback: ResampleFilter): ResampleFilter {
  if (value === undefined || value === null) return fallback;
  const filter = PIL_RESAMPLE_CODES[value as number];
  if (filter === undefined) throw new ImageProcessorConfigError(`unsupported resample ${String(value)}`);
  return filter;
}

export function clipConfigFromHf(json: Json): ClipProcessorConfig {
  const size = (json.size ?? { shortest_edge: 224 }) as Json;
  const crop = (json.crop_size ?? { height: 224, width: 224 }) as Json;
  return {
    doResize: bool(json.do_resize, true),
    size:
      typeof size.shortest_edge === "number"
        ? { shortestEdge: size.shortest_edge }
        : { height: num(size.height, 224), width: num(size.width, 224) },
    doCenterCrop: bool(json.do_center_crop, true),
    cropSize: { height: num(crop.height, 224), width: num(crop.width, 224) },
    resample: resampleOf(json.resample, "bicubic"),
    doRescale: bool(json.do_rescale, true),
    rescaleFactor: num(json.rescale_factor, 1 / 255),
    doNormalize: bool(json.do_normalize, true),
    mean: nums(json.image_mean, CLIP_MEAN),
    std: nums(json.image_std, CLIP_STD),
    doPad: bool(json.do_pad, false),
  };
}

export function idefics3ConfigFromHf(json: Json): Idefics3ProcessorConfig {
  return {
    doResize: bool(json.do_resize, true),
    longestEdge: num((json.size as Json | undefined)?.longest_edge, 4 * 364),
    maxImageSize: num((json.max_image_size as Json | undefined)?.longest_edge, 364),
    doImageSplitting: bool(json.do_image_splitting, true),
    resample: resampleOf(json.resample, "lanczos"),
    doRescale: bool(json.do_rescale, true),
    rescaleFactor: num(json.rescale_factor, 1 / 255),
    doNormalize: bool(json.do_normalize, true),
    mean: nums(json.image_mean, [0.5, 0.5, 0.5]),
    std: nums(json.image_std, [0.5, 0.5, 0.5]),
  };
}

function readJson(path: string): Json {
  return existsSync(path) ? (JSON.parse(readFileSync(path, "utf8")) as Json) : {};
}

export function imageProcessorFromHf(pre: Json, processor: Json): ImageProcessor {
  const type = String(pre.image_processor_type ?? "").replace(/(Fast|Pil)$/, "");
  const imageToken = typeof processor.image_token === "string" ? processor.image_token : "<image>";
  if (type === "CLIPImageProcessor" || type === "LlavaImageProcessor") {
    const config = clipConfigFromHf(type === "LlavaImageProcessor" ? { do_pad: true, ...pre } : pre);
    const patchSize = num(processor.patch_size, 14);
    return {
      kind: "clip",
      imageToken,
      preprocess: (image) => ({ frames: [clipPreprocess(image, config)], rows: 0, cols: 0 }),
      imagePrompt: (image) => {
        const frame = image.frames[0]!;
        const count = llavaImageTokenCount({
          height: frame.height,
          width: frame.width,
          patchSize,
          numAdditionalImageTokens: num(processor.num_additional_image_tokens, 1),
          visionFeatureSelectStrategy:
            processor.vision_feature_select_strategy === "full" ? "full" : "default",
        });
        return imageToken.repeat(count);
      },
    };
  }
  if (type === "Idefics3ImageProcessor" || type === "SmolVLMImageProcessor") {
    const config = idefics3ConfigFromHf(pre);
    const imageSeqLen = num(processor.image_seq_len, 169);
    return {
      kind: "idefics3",
      imageToken,
      preprocess: (image) => idefics3Preprocess(image, config),
      imagePrompt: (image) => idefics3ImagePrompt(image.rows, image.cols, imageSeqLen),
    };
  }
  throw new ImageProcessorConfigError(
    `unsupported image_processor_type ${JSON.stringify(pre.image_processor_type)}`,
  );
}

/** Reads preprocessor_config.json (+ processor_config.json) from a checkpoint directory. */
export function loadImageProcessor(dir: string): ImageProcessor {
  const prePath = join(dir, "preprocessor_config.json");
  if (!existsSync(prePath)) throw new ImageProcessorConfigError(`${dir} has no preprocessor_config.json`);
  return imageProcessorFromHf(readJson(prePath), readJson(join(dir, "processor_config.json")));
}

/** Frames of several processed images as one `[N, 3, H, W]` float32 batch (the models' `pixel_values`). */
export function pixelBatch(images: ProcessedImage[]): {
  data: Float32Array;
  count: number;
  height: number;
  width: number;
} {
  const frames = images.flatMap((image) => image.frames);
  const first = frames[0];
  if (first === undefined) return { data: new Float32Array(0), count: 0, height: 0, width: 0 };
  const size = first.data.length;
  const data = new Float32Array(frames.length * size);
  frames.forEach((frame, i) => {
    if (frame.width !== first.width || frame.height !== first.height) {
      throw new ImageProcessorConfigError(
        `frames differ in size: ${frame.width}x${frame.height} vs ${first.width}x${first.height}`,
      );
    }
    data.set(frame.data, i * size);
  });
  return { data, count: frames.length, height: first.height, width: first.width };
}
