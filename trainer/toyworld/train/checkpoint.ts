// Writes a trained model as an HF snapshot directory: config.json, model.safetensors (weights under the
// names transformers loads), tokenizer.json + tokenizer_config.json (with the chat template),
// preprocessor_config.json (CLIPImageProcessor at 64x64) and, for the LLaVA, generation_config.json.

import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { readSafetensorsFile, writeSafetensorsFile } from "../../engine/safetensors";
import type { HfJson } from "../../models/hf-config";
import { IMAGE_MEAN, IMAGE_STD } from "./batching";
import type { ToyTokenizerFiles } from "./tokenizer";

export const IMAGE_SIZE = 64;

export function preprocessorConfig(): HfJson {
  // 64x64 toy images pass through resize and crop unchanged; other sizes are brought to 64x64 as CLIP does.
  return {
    image_processor_type: "CLIPImageProcessor",
    do_resize: true,
    size: { shortest_edge: IMAGE_SIZE },
    resample: 3,
    do_center_crop: true,
    crop_size: { height: IMAGE_SIZE, width: IMAGE_SIZE },
    do_rescale: true,
    rescale_factor: 1 / 255,
    do_normalize: true,
    image_mean: [...IMAGE_MEAN],
    image_std: [...IMAGE_STD],
    do_convert_rgb: true,
  };
}

const json = (value: unknown) => `${JSON.stringify(value, null, 2)}\n`;

export async function writeSnapshot(options: {
  dir: string;
  config: HfJson;
  weights: ReadonlyMap<string, { shape: readonly number[]; data: Float32Array }>;
  tokenizer: ToyTokenizerFiles;
  extra?: Record<string, unknown>;
}): Promise<void> {
  const { dir } = options;
  await mkdir(dir, { recursive: true });
  const tensors = new Map(
    [...options.weights].map(([name, w]) => [
      name,
      { dtype: "F32" as const, shape: [...w.shape], data: w.data },
    ]),
  );
  await writeSafetensorsFile(join(dir, "model.safetensors"), tensors, { format: "pt" });
  await writeFile(join(dir, "config.json"), json(options.config));
  await writeFile(join(dir, "tokenizer.json"), json(options.tokenizer.tokenizerJson));
  await writeFile(join(dir, "tokenizer_config.json"), json(options.tokenizer.tokenizerConfig));
  await writeFile(join(dir, "preprocessor_config.json"), json(preprocessorConfig()));
  for (const [file, value] of Object.entries(options.extra ?? {}))
    await writeFile(join(dir, file), json(value));
}

/** One weight of a snapshot: its shape and float32 data. */
export interface SnapshotTensor {
  shape: readonly number[];
  data: Float32Array;
}

/** model.safetensors of a snapshot as float32 tensors (shape and data) by name. */
export async function readSnapshotTensors(dir: string): Promise<Map<string, SnapshotTensor>> {
  const decoded = await readSafetensorsFile(join(dir, "model.safetensors"));
  const out = new Map<string, SnapshotTensor>();
  for (const [name, t] of decoded.tensors) out.set(name, { shape: t.shape, data: t.data as Float32Array });
  return out;
}

/** The float32 arrays of snapshot tensors by name (shared, not copied). */
export function tensorData(tensors: ReadonlyMap<string, SnapshotTensor>): Map<string, Float32Array> {
  return new Map([...tensors].map(([name, t]) => [name, t.data]));
}

/** model.safetensors of a snapshot as float32 arrays by name. */
export async function readSnapshotWeights(dir: string): Promise<Map<string, Float32Array>> {
  return tensorData(await readSnapshotTensors(dir));
}
