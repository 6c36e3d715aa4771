// Opens a Hugging Face snapshot directory (as `pull` or `save_pretrained` leaves it): config.json, the
// safetensors weights (single file or sharded with model.safetensors.index.json), preprocessor_config.json
// for models that take images. Failures are typed and name the missing file or the unsupported model.

import { readFile } from "node:fs/promises";
import { join } from "node:path";
import { Graph, type Runtime, WeightFile } from "../engine/index";
import {
  SafetensorsCheckpoint,
  SafetensorsError,
  SHARD_INDEX_FILE,
  SINGLE_FILE,
} from "../engine/safetensors";
import type { ClipModel } from "./clip";
import type { HfJson } from "./hf-config";
import type { LlamaConfig } from "./llama";
import { CausalLmRunner } from "./multimodal";
import {
  type QuantizationOptions,
  QuantizedWeightStore,
  quantizationFor,
  type WeightFormat,
} from "./quantized-weights";
import { type Architecture, architectureFor, type ModelType } from "./registry";
import { frozenWeights, renamedWeights, type WeightBinding } from "./weights";

export const CONFIG_FILE = "config.json";
export const PREPROCESSOR_FILE = "preprocessor_config.json";

export type HfSnapshotErrorCode = "MISSING_FILE" | "BAD_CONFIG" | "MISSING_WEIGHT" | "DUPLICATE_WEIGHT";

export class HfSnapshotError extends Error {
  constructor(
    readonly code: HfSnapshotErrorCode,
    message: string,
    /** The file concerned, when there is one. */
    readonly path?: string,
  ) {
    super(message);
  }
}

export interface HfSnapshot {
  readonly dir: string;
  readonly modelType: ModelType;
  readonly architecture: Architecture;
  readonly config: HfJson;
  /** preprocessor_config.json, when the snapshot has one (required for image models). */
  readonly preprocessorConfig?: HfJson;
  readonly checkpoint: SafetensorsCheckpoint;
  /** Builder name (after the architecture's sanitize) -> checkpoint name. */
  readonly weightNames: ReadonlyMap<string, string>;
}

async function readJson(path: string, required: true): Promise<HfJson>;
async function readJson(path: string, required: false): Promise<HfJson | undefined>;
async function readJson(path: string, required: boolean): Promise<HfJson | undefined> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== "ENOENT") throw e;
    if (!required) return undefined;
    throw new HfSnapshotError("MISSING_FILE", `${path} is missing`, path);
  }
  try {
    const json = JSON.parse(text) as unknown;
    if (typeof json !== "object" || json === null || Array.isArray(json)) throw new Error("not an object");
    return json as HfJson;
  } catch (e) {
    throw new HfSnapshotError("BAD_CONFIG", `${path}: ${(e as Error).message}`, path);
  }
}

/**
 * Reads config.json, picks the architecture by model_type (UnsupportedArchitectureError otherwise), opens
 * the weights (headers only) and maps their names through the architecture's sanitize.
 */
export async function openHfSnapshot(dir: string): Promise<HfSnapshot> {
  const config = await readJson(join(dir, CONFIG_FILE), true);
  const architecture = architectureFor(config.model_type, config.architectures);
  const preprocessorConfig = await readJson(join(dir, PREPROCESSOR_FILE), false);
  if (architecture.vision && !preprocessorConfig) {
    throw new HfSnapshotError(
      "MISSING_FILE",
      `${join(dir, PREPROCESSOR_FILE)} is missing (${architecture.modelType} takes images)`,
      join(dir, PREPROCESSOR_FILE),
    );
  }
  let checkpoint: SafetensorsCheckpoint;
  try {
    checkpoint = await SafetensorsCheckpoint.open(dir);
  } catch (e) {
    if (e instanceof SafetensorsError && e.code === "NO_CHECKPOINT") {
      throw new HfSnapshotError(
        "MISSING_FILE",
        `${dir} has neither ${SINGLE_FILE} nor ${SHARD_INDEX_FILE}`,
        join(dir, SINGLE_FILE),
      );
    }
    throw e;
  }
  const weightNames = new Map<string, string>();
  for (const name of checkpoint.names()) {
    const canonical = architecture.sanitize(name);
    const previous = weightNames.get(canonical);
    if (previous !== undefined) {
      throw new HfSnapshotError("DUPLICATE_WEIGHT", `${previous} and ${name} both map to ${canonical}`);
    }
    weightNames.set(canonical, name);
  }
  return {
    dir,
    modelType: architecture.modelType,
    architecture,
    config,
    preprocessorConfig,
    checkpoint,
    weightNames,
  };
}

/**
 * Every weight of the snapshot as float32 in memory, by builder name. Fine for the small models and
 * fixtures this serves today; multi-gigabyte checkpoints want file-backed initializers instead.
 */
export async function readWeightsFloat32(snapshot: HfSnapshot): Promise<Map<string, Float32Array>> {
  const values = new Map<string, Float32Array>();
  for (const [canonical, name] of snapshot.weightNames) {
    values.set(canonical, await snapshot.checkpoint.readFloat32(name));
  }
  return values;
}

/** Frozen float32 initializers for `graph`, failing with the weight's name when the checkpoint lacks it. */
export function snapshotWeights(
  graph: Graph,
  snapshot: HfSnapshot,
  values: ReadonlyMap<string, Float32Array>,
): WeightBinding {
  return frozenWeights(graph, "float32", (name) => {
    const data = values.get(name);
    if (!data) {
      throw new HfSnapshotError(
        "MISSING_WEIGHT",
        `${snapshot.dir}: the ${snapshot.modelType} builder needs ${name}, which the checkpoint lacks`,
      );
    }
    return data;
  });
}

export interface LoadOptions {
  /**
   * "float32" (default): every weight read into memory as float32, baked into the graphs. "int8" /
   * "int4": the decoder's and the projector's Linear weights quantized block-wise at load time
   * (com.microsoft.MatMulNBits), one weight read at a time; embeddings, norms, lm_head and the vision
   * tower stay float32 (see quantized-weights.ts).
   */
  weights?: WeightFormat;
  /** Block size, symmetry, accuracy level, which weights (quantized formats only). */
  quantization?: Omit<QuantizationOptions, "bits">;
  /**
   * Save the graphs here with their weights in files that onnxruntime memory-maps; with a quantized
   * format the converted weights go to `<directory>/weights-<format>.bin` as they are made, so JS never
   * holds the model. Needed for checkpoints that do not fit in memory as float32.
   */
  directory?: string;
}

export interface LoadedCausalLm {
  snapshot: HfSnapshot;
  runner: CausalLmRunner;
  weightFormat: WeightFormat;
  /** The decoder's config, and its weights under LlamaForCausalLM names (`model.layers.0...`,
   * `lm_head.weight`), as trainer/generate's cached decoder takes them. With a quantized format these
   * are read from the checkpoint on each call (float32): fine for the embedding table, not for a whole
   * decoder, which should be bound with textBinding. */
  textConfig: LlamaConfig;
  textWeights: (name: string, shape: readonly number[]) => Float32Array;
  /** The decoder's weights (LlamaForCausalLM names) bound in `graph` in the loaded format, for graphs
   * built outside the runner (the cached decoder, concept training). */
  textBinding: (graph: Graph) => WeightBinding;
}

/** A causal LM (llava, idefics3, llama, qwen2) ready to run: weights read, graphs built on first use. */
export async function loadCausalLm(
  dir: string,
  runtime: Runtime,
  options: LoadOptions = {},
): Promise<LoadedCausalLm> {
  const snapshot = await openHfSnapshot(dir);
  const arch = snapshot.architecture;
  if (arch.kind !== "causal-lm") {
    throw new HfSnapshotError("BAD_CONFIG", `${dir}: ${arch.modelType} is not a causal language model`);
  }
  const format = options.weights ?? "float32";
  const compileOptions = options.directory ? { directory: options.directory } : {};
  const names = new Set(snapshot.weightNames.keys());
  const textConfig = arch.textConfig(snapshot.config, names);
  const missing = (name: string, asked = name) =>
    new HfSnapshotError(
      "MISSING_WEIGHT",
      `${dir}: the ${snapshot.modelType} builder needs ${asked}${asked === name ? "" : ` (${name})`}, which the checkpoint lacks`,
    );
  const quantization = quantizationFor(format, options.quantization);
  if (quantization) {
    // Read on demand: nothing is held but what the store converts.
    const read = (name: string, asked = name): Float32Array => {
      const stored = snapshot.weightNames.get(name);
      if (stored === undefined) throw missing(name, asked);
      return snapshot.checkpoint.readFloat32Sync(stored);
    };
    const file = options.directory
      ? new WeightFile(join(options.directory, `weights-${format}.bin`))
      : undefined;
    const store = new QuantizedWeightStore((name) => read(name), quantization, file);
    const runner = new CausalLmRunner(
      (graphName) => {
        const graph = new Graph(`${snapshot.modelType}-${graphName}`);
        return arch.build(graph, snapshot.config, store.bind(graph), names);
      },
      runtime,
      compileOptions,
    );
    return {
      snapshot,
      runner,
      weightFormat: format,
      textConfig,
      textWeights: (name) => read(arch.textWeightName(name), name),
      textBinding: (graph) => renamedWeights(store.bind(graph), arch.textWeightName),
    };
  }
  const values = await readWeightsFloat32(snapshot);
  await snapshot.checkpoint.close();
  const runner = new CausalLmRunner(
    (graphName) => {
      const graph = new Graph(`${snapshot.modelType}-${graphName}`);
      return arch.build(graph, snapshot.config, snapshotWeights(graph, snapshot, values), names);
    },
    runtime,
    compileOptions,
  );
  const textWeights = (name: string): Float32Array => {
    const data = values.get(arch.textWeightName(name));
    if (!data) throw missing(arch.textWeightName(name), name);
    return data;
  };
  return {
    snapshot,
    runner,
    weightFormat: format,
    textConfig,
    textWeights,
    textBinding: (graph) => frozenWeights(graph, "float32", textWeights),
  };
}

/** A CLIPModel built into `graph` (the caller adds inputs and outputs for what it needs). */
export async function loadClip(
  dir: string,
  graph: Graph,
): Promise<{ snapshot: HfSnapshot; model: ClipModel }> {
  const snapshot = await openHfSnapshot(dir);
  const arch = snapshot.architecture;
  if (arch.kind !== "clip") throw new HfSnapshotError("BAD_CONFIG", `${dir}: ${arch.modelType} is not CLIP`);
  const values = await readWeightsFloat32(snapshot);
  await snapshot.checkpoint.close();
  const model = arch.build(
    graph,
    snapshot.config,
    snapshotWeights(graph, snapshot, values),
    new Set(values.keys()),
  );
  return { snapshot, model };
}
