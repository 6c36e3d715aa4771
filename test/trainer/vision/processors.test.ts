// Parity with HF's PIL image processors (goldens from tools/reference/make_processor_fixtures.py).
// Tolerances: resampling is bit-exact (max abs diff 0 in uint8); processor outputs must match to 1e-6 in
// normalized space (same float32 arithmetic, so 0 is expected); JPEG decoding differs between sharp's
// mozjpeg and PIL's libjpeg-turbo by at most JPEG_DECODE_TOLERANCE per channel.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { type DecodedSafetensors, readSafetensorsFile } from "../../../trainer/engine/safetensors";
import { decodeImage, type RgbImage } from "../../../trainer/vision/image";
import { type ImageProcessor, loadImageProcessor, pixelBatch } from "../../../trainer/vision/processor";
import { type ResampleFilter, resizePil } from "../../../trainer/vision/resample";

const FIXTURES = join(import.meta.dirname, "../../fixtures");
const IMAGES = ["photo", "rotated", "lossless", "alpha", "grey", "wide"] as const;
const FILES: Record<(typeof IMAGES)[number], string> = {
  photo: "photo.png",
  rotated: "rotated.jpg",
  lossless: "lossless.webp",
  alpha: "alpha.png",
  grey: "grey.png",
  wide: "wide.png",
};
const PROCESSOR_TOLERANCE = 1e-6;
const JPEG_DECODE_TOLERANCE = 2;

let clipGolden: DecodedSafetensors;
let idefics3Golden: DecodedSafetensors;

beforeAll(async () => {
  clipGolden = await readSafetensorsFile(join(FIXTURES, "processors/golden-clip.safetensors"));
  idefics3Golden = await readSafetensorsFile(join(FIXTURES, "processors/golden-idefics3.safetensors"));
});

function goldenImage(name: string): RgbImage {
  const t = clipGolden.tensors.get(`decoded.${name}`)!;
  return { height: t.shape[0]!, width: t.shape[1]!, data: t.data as Uint8Array };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let max = 0;
  for (let i = 0; i < a.length; i++) max = Math.max(max, Math.abs(a[i]! - b[i]!));
  return max;
}

function concatFrames(frames: { data: Float32Array }[]): Float32Array {
  const out = new Float32Array(frames.reduce((n, f) => n + f.data.length, 0));
  let at = 0;
  for (const f of frames) {
    out.set(f.data, at);
    at += f.data.length;
  }
  return out;
}

describe("decodeImage vs PIL (exif_transpose + convert_to_rgb)", () => {
  it.each(IMAGES)("%s", async (name) => {
    const bytes = readFileSync(join(FIXTURES, "images", FILES[name]));
    const decoded = await decodeImage(bytes);
    const golden = goldenImage(name);
    expect([decoded.width, decoded.height]).toEqual([golden.width, golden.height]);
    const diff = maxAbsDiff(decoded.data, golden.data);
    expect(diff).toBeLessThanOrEqual(name === "rotated" ? JPEG_DECODE_TOLERANCE : 0);
  });
});

describe("resizePil vs PIL Image.resize", () => {
  it("is bit-exact for every golden size and filter", () => {
    const keys = [...clipGolden.tensors.keys()].filter((k) => k.startsWith("resize."));
    expect(keys.length).toBeGreaterThanOrEqual(15);
    for (const key of keys) {
      const [, filter, name, size] = key.split(".") as [string, ResampleFilter, string, string];
      const [w, h] = size.split("x").map(Number) as [number, number];
      const out = resizePil(goldenImage(name), w, h, filter);
      expect(maxAbsDiff(out.data, clipGolden.tensors.get(key)!.data as Uint8Array), key).toBe(0);
    }
  });
});

describe("processors vs HF *ImageProcessorPil", () => {
  let llava: ImageProcessor;
  let llavaPad: ImageProcessor;
  let smolvlm: ImageProcessor;
  let smolvlmNoSplit: ImageProcessor;
  const rowsCols = () => JSON.parse(idefics3Golden.metadata.rows_cols!) as Record<string, [number, number]>;

  beforeAll(() => {
    llava = loadImageProcessor(join(FIXTURES, "processors/llava"));
    const pre = JSON.parse(readFileSync(join(FIXTURES, "processors/llava/preprocessor_config.json"), "utf8"));
    llavaPad = loadImageProcessorFrom({ ...pre, image_processor_type: "LlavaImageProcessor", do_pad: true });
    smolvlm = loadImageProcessor(join(FIXTURES, "processors/smolvlm"));
    const spre = JSON.parse(
      readFileSync(join(FIXTURES, "processors/smolvlm/preprocessor_config.json"), "utf8"),
    );
    smolvlmNoSplit = loadImageProcessorFrom({ ...spre, do_image_splitting: false });
  });

  it.each(IMAGES)("CLIP (llava-hf default) %s", (name) => {
    const out = llava.preprocess(goldenImage(name));
    const golden = clipGolden.tensors.get(`clip.${name}`)!;
    expect([3, out.frames[0]!.height, out.frames[0]!.width]).toEqual(golden.shape);
    expect(maxAbsDiff(out.frames[0]!.data, golden.data as Float32Array)).toBeLessThanOrEqual(
      PROCESSOR_TOLERANCE,
    );
  });

  it.each(IMAGES)("LLaVA pad-to-square %s", (name) => {
    const out = llavaPad.preprocess(goldenImage(name));
    const golden = clipGolden.tensors.get(`llava_pad.${name}`)!.data as Float32Array;
    expect(maxAbsDiff(out.frames[0]!.data, golden)).toBeLessThanOrEqual(PROCESSOR_TOLERANCE);
    if (name !== "photo") {
      // Padding changes the result for non-square photos, so this case is not the CLIP one by accident.
      expect(
        maxAbsDiff(out.frames[0]!.data, clipGolden.tensors.get(`clip.${name}`)!.data as Float32Array),
      ).toBeGreaterThan(0.1);
    }
  });

  it.each(IMAGES)("Idefics3 with splitting %s", (name) => {
    const out = smolvlm.preprocess(goldenImage(name));
    expect([out.rows, out.cols]).toEqual(rowsCols()[name]);
    const golden = idefics3Golden.tensors.get(`idefics3.${name}`);
    if (golden === undefined) return; // pixels stored for a subset (fixture size); rows/cols for all
    expect([out.frames.length, 3, 32, 32]).toEqual(golden.shape);
    expect(maxAbsDiff(concatFrames(out.frames), golden.data as Float32Array)).toBeLessThanOrEqual(
      PROCESSOR_TOLERANCE,
    );
  });

  it.each(IMAGES)("Idefics3 single image (no splitting) %s", (name) => {
    const out = smolvlmNoSplit.preprocess(goldenImage(name));
    expect([out.rows, out.cols]).toEqual([0, 0]);
    const golden = idefics3Golden.tensors.get(`idefics3_nosplit.${name}`)!;
    expect(maxAbsDiff(concatFrames(out.frames), golden.data as Float32Array)).toBeLessThanOrEqual(
      PROCESSOR_TOLERANCE,
    );
  });

  it("pixelBatch stacks the frames of several images as [N, 3, H, W]", () => {
    const a = smolvlm.preprocess(goldenImage("wide")); // 1x2 tiles + global
    const b = smolvlmNoSplit.preprocess(goldenImage("photo"));
    const batch = pixelBatch([a, b]);
    expect([batch.count, batch.height, batch.width]).toEqual([4, 32, 32]);
    expect(batch.data.subarray(3 * 3 * 32 * 32)).toEqual(b.frames[0]!.data);
    const small = loadImageProcessorFrom({
      image_processor_type: "CLIPImageProcessor",
      size: { shortest_edge: 16 },
      crop_size: { height: 16, width: 16 },
    });
    expect(() => pixelBatch([a, small.preprocess(goldenImage("photo"))])).toThrow(/differ in size/);
  });

  it("end to end from the JPEG bytes (sharp decode + EXIF) stays within the decode tolerance", async () => {
    const image = await decodeImage(readFileSync(join(FIXTURES, "images/rotated.jpg")));
    const out = llava.preprocess(image);
    const golden = clipGolden.tensors.get("clip.rotated")!.data as Float32Array;
    // 2/255 in uint8 is at most 2/255/min(std) ~ 0.03 in CLIP-normalized space.
    expect(maxAbsDiff(out.frames[0]!.data, golden)).toBeLessThanOrEqual(
      JPEG_DECODE_TOLERANCE / 255 / 0.2613 + 1e-6,
    );
  });
});

import { imageProcessorFromHf } from "../../../trainer/vision/processor";

function loadImageProcessorFrom(pre: Record<string, unknown>): ImageProcessor {
  return imageProcessorFromHf(pre, {});
}
