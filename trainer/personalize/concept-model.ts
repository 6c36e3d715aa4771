// The frozen base model as concept training sees it: the decoder's config and weights, the embedding
// table, the prompt renderer (chat template + tokenizer, slots for concepts and images), the vision tower's
// features per image (cached: they never change while a concept trains) and the model's fingerprint.

import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { ModelFingerprint } from "../../shared/concept-artifact";
import type { Graph, Runtime } from "../engine/index";
import type { CachedDecoder } from "../generate/decoder";
import { ArrayEmbeddingTable } from "../generate/embeddings";
import type { AttentionTarget } from "../models/attention-target";
import type { LlamaConfig } from "../models/llama";
import { HfSnapshotError, type LoadOptions, loadCausalLm } from "../models/loader";
import type { CausalLmRunner } from "../models/multimodal";
import type { WeightFormat } from "../models/quantized-weights";
import { UnsupportedArchitectureError } from "../models/registry";
import type { WeightBinding, WeightValues } from "../models/weights";
import { localWeightsRevision } from "../models/weights-revision";
import { type PromptTurn, type RenderedPrompt, renderPrompt } from "../text/prompt";
import { loadTokenizer, type TextTokenizer } from "../text/tokenizer";
import type { RgbImage } from "../vision/image";
import { type ImageProcessor, loadImageProcessor } from "../vision/processor";
import { readBaseConceptRecipe } from "./base-recipe";
import { ConceptTrainingError } from "./errors";

/** An image as the decoder takes it: projected features and the prompt text that makes room for them. */
export interface PreparedImage {
  /** [rows * hidden] */
  features: Float32Array;
  rows: number;
  /** Trusted prompt text replacing the template's image token (LLaVA: the image token `rows` times). */
  expansion: string;
}

export interface RenderOptions {
  addGenerationPrompt: boolean;
  /** One expansion per image segment, in prompt order. */
  imageExpansions: readonly string[];
}

/**
 * How the frozen decoder's weights go into the graphs concept training builds (the training/scoring graphs,
 * the self-teacher's cached decoder). Absent: float32 initializers over `textWeights`.
 */
export interface ConceptModelWeights {
  /** "float32" | "int8" | "int4", as loaded. */
  format: WeightFormat;
  /** loadCausalLm's textBinding: the decoder in the loaded format, converted once per process. */
  binding: (graph: Graph) => WeightBinding;
  /** Where graphs over file-backed (converted) weights are compiled; in memory when absent. */
  directory?: string;
}

export interface ConceptModel {
  readonly fingerprint: ModelFingerprint;
  readonly textConfig: LlamaConfig;
  /** Float32 values by LlamaForCausalLM name (the embedding table, the lm_head; the decoder when
   * `weights` is absent). */
  readonly textWeights: WeightValues;
  /** The decoder's weights in the loaded format; absent: float32 from `textWeights`. */
  readonly weights?: ConceptModelWeights;
  /** A cached decoder on the same weights to reuse (the serving node's), instead of building one. */
  readonly decoder?: CachedDecoder;
  readonly embeddings: ArrayEmbeddingTable;
  readonly runtime: Runtime;
  /** Ids that end an answer (the tokenizer's EOS), for the self-teacher. */
  readonly stopTokenIds: readonly number[];
  /** The base's locating head (base-recipe.ts), trainConcept's default attention target. */
  readonly attentionTarget?: AttentionTarget;
  render(turns: PromptTurn[], options: RenderOptions): RenderedPrompt;
  decode(ids: readonly number[]): string;
  prepareImage(image: RgbImage): Promise<PreparedImage>;
}

/** sha256 of an image's size and pixels: the key of feature caches and of the duplicate check. */
export function imageDigest(image: RgbImage): string {
  return createHash("sha256").update(`${image.width}x${image.height}|`).update(image.data).digest("hex");
}

export interface ConceptModelParts {
  fingerprint: ModelFingerprint;
  runner: CausalLmRunner;
  textConfig: LlamaConfig;
  textWeights: WeightValues;
  weights?: ConceptModelWeights;
  decoder?: CachedDecoder;
  attentionTarget?: AttentionTarget;
  runtime: Runtime;
  tokenizer: TextTokenizer;
  processor: ImageProcessor;
  /** Maps rendered ids into the model's vocabulary (only for test fixtures whose tokenizer is larger). */
  mapIds?: (id: number) => number;
}

export function conceptModelFromParts(parts: ConceptModelParts): ConceptModel {
  const { textConfig: c, tokenizer, processor, runner } = parts;
  const table = parts.textWeights("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize]) as Float32Array;
  const embeddings = new ArrayEmbeddingTable(table, c.hiddenSize);
  const cache = new Map<string, Promise<PreparedImage>>();
  const mapIds = parts.mapIds;
  const prepare = async (image: RgbImage): Promise<PreparedImage> => {
    const processed = processor.preprocess(image);
    const frames = processed.frames;
    const plane = frames[0]!.data.length;
    const data = new Float32Array(plane * frames.length);
    frames.forEach((f, i) => {
      data.set(f.data, i * plane);
    });
    const features = await runner.imageFeatures({ data, count: frames.length });
    const rows = features.length / c.hiddenSize;
    const expansion =
      processor.kind === "clip" ? processor.imageToken.repeat(rows) : processor.imagePrompt(processed);
    return { features, rows, expansion };
  };
  return {
    fingerprint: parts.fingerprint,
    textConfig: c,
    textWeights: parts.textWeights,
    ...(parts.weights ? { weights: parts.weights } : {}),
    ...(parts.decoder ? { decoder: parts.decoder } : {}),
    ...(parts.attentionTarget ? { attentionTarget: parts.attentionTarget } : {}),
    embeddings,
    runtime: parts.runtime,
    stopTokenIds: tokenizer.eosId === undefined ? [] : [mapIds ? mapIds(tokenizer.eosId) : tokenizer.eosId],
    render(turns, options) {
      const rendered = renderPrompt(tokenizer, turns, {
        imageToken: processor.imageToken,
        addGenerationPrompt: options.addGenerationPrompt,
        expandImage: (i) => options.imageExpansions[i] ?? processor.imageToken,
      });
      return mapIds ? { ...rendered, ids: rendered.ids.map(mapIds) } : rendered;
    },
    decode: (ids) => tokenizer.decode([...ids], { skipSpecialTokens: true }),
    prepareImage(image) {
      const key = imageDigest(image);
      let entry = cache.get(key);
      if (!entry) {
        entry = prepare(image);
        cache.set(key, entry);
        entry.catch(() => cache.delete(key));
      }
      return entry;
    },
  };
}

/** repo + revision (default: the local weights' content, weights-revision.ts) + the first 16 hex of
 * sha256(config.json): what an artifact is bound to. */
export function modelFingerprint(dir: string, repo?: string, revision?: string): ModelFingerprint {
  const config = readFileSync(join(dir, "config.json"));
  return {
    repo: repo ?? basename(dir),
    revision: revision ?? localWeightsRevision(dir),
    config_hash: createHash("sha256").update(config).digest("hex").slice(0, 16),
  };
}

export interface LoadConceptModelOptions {
  runtime: Runtime;
  /** Where tokenizer.json lives when not in the model directory (test fixtures). */
  tokenizerDir?: string;
  repo?: string;
  revision?: string;
  mapIds?: (id: number) => number;
  /** Weight format, quantization and converted-weights directory (loadCausalLm's options); default float32. */
  load?: LoadOptions;
}

/**
 * Loads a vision-language checkpoint for concept training. Anything that is not a supported VLM snapshot
 * (missing directory or files, unknown model_type, a text-only model) is `unknown_base_model`.
 */
export async function loadConceptModel(dir: string, options: LoadConceptModelOptions): Promise<ConceptModel> {
  let loaded: Awaited<ReturnType<typeof loadCausalLm>>;
  try {
    loaded = await loadCausalLm(dir, options.runtime, options.load);
  } catch (e) {
    if (e instanceof HfSnapshotError || e instanceof UnsupportedArchitectureError) {
      throw new ConceptTrainingError("unknown_base_model", `${dir}: ${(e as Error).message}`);
    }
    throw e;
  }
  if (!loaded.snapshot.architecture.vision) {
    throw new ConceptTrainingError(
      "unknown_base_model",
      `${dir}: ${loaded.snapshot.modelType} has no image path; concepts need a vision-language model`,
    );
  }
  let tokenizer: TextTokenizer;
  try {
    tokenizer = loadTokenizer(options.tokenizerDir ?? dir);
  } catch (e) {
    throw new ConceptTrainingError("unknown_base_model", `${dir}: ${(e as Error).message}`);
  }
  return conceptModelFromParts({
    fingerprint: modelFingerprint(dir, options.repo, options.revision),
    ...readBaseConceptRecipe(dir),
    runner: loaded.runner,
    textConfig: loaded.textConfig,
    textWeights: loaded.textWeights,
    ...(loaded.weightFormat === "float32"
      ? {}
      : {
          weights: {
            format: loaded.weightFormat,
            binding: loaded.textBinding,
            ...(options.load?.directory ? { directory: options.load.directory } : {}),
          },
        }),
    runtime: options.runtime,
    tokenizer,
    processor: loadImageProcessor(dir),
    mapIds: options.mapIds,
  });
}
