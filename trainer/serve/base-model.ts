/**
 * The frozen base model the node serves: weights, tokenizer, image processor, the KV-cached decoder, the
 * embedding table, and image features through the content-addressed ImageFeatureCache.
 */
import { mkdirSync, readdirSync, rmSync } from "node:fs";
import path from "node:path";
import type { ModelFingerprint } from "../../shared/concept-artifact";
import { type Graph, Runtime } from "../engine/index";
import { ArrayEmbeddingTable, CachedDecoder, ImageFeatureCache } from "../generate/index";
import type { LlamaConfig } from "../models/llama";
import { loadCausalLm } from "../models/loader";
import type { CausalLmRunner } from "../models/multimodal";
import type { WeightFormat } from "../models/quantized-weights";
import type { WeightBinding, WeightValues } from "../models/weights";
import { modelFingerprint } from "../personalize/concept-model";
import { loadTokenizer, type TextTokenizer } from "../text/tokenizer";
import { decodeImage } from "../vision/image";
import { type ImageProcessor, loadImageProcessor } from "../vision/processor";
import type { ServeConfig } from "./config";
import { IMAGE_FEATURE_CACHE_BYTES } from "./limits";

export interface BaseModel {
  readonly id: string;
  readonly dir: string;
  readonly source: string;
  readonly fingerprint: ModelFingerprint;
  readonly device: string;
  readonly runtime: Runtime;
  readonly runner: CausalLmRunner;
  readonly decoder: CachedDecoder;
  readonly embeddings: ArrayEmbeddingTable;
  readonly tokenizer: TextTokenizer;
  readonly processor: ImageProcessor | undefined;
  readonly hiddenSize: number;
  /** The decoder's config and weights under LlamaForCausalLM names (for the concept trainer). */
  readonly textConfig: LlamaConfig;
  readonly textWeights: WeightValues;
  /** How the decoder's weights are held (YO_WEIGHTS): "float32", or quantized at load ("int8", "int4"). */
  readonly weightFormat: WeightFormat;
  /** Quantized formats: the decoder bound in that format (converted once, shared by every graph), and the
   * directory holding the converted weights and the graphs over them (removed by release()). */
  readonly quantized?: { binding: (graph: Graph) => WeightBinding; directory: string };
  /** Releases the sessions and deletes the converted weights. */
  release(): Promise<void>;
  readonly imageFeatureCache: ImageFeatureCache;
  /** Per image: its feature rows and what replaces the template's image token. */
  imageInput(bytes: Uint8Array): Promise<{ features: Float32Array; prompt: string }>;
}

/**
 * `<cacheDir>/converted/<model>-<config hash>-<format>.<pid>`: one per process, because the file is
 * rewritten at every load and other processes may have it memory-mapped. Directories of processes that
 * are gone (killed before release()) are removed here.
 */
export function convertedWeightsDir(
  cacheDir: string,
  modelId: string,
  fingerprint: ModelFingerprint,
  format: WeightFormat,
): string {
  const root = path.join(cacheDir, "converted");
  mkdirSync(root, { recursive: true });
  for (const entry of readdirSync(root)) {
    const pid = /\.(\d+)$/.exec(entry)?.[1];
    if (pid !== undefined && !processAlive(Number(pid))) {
      rmSync(path.join(root, entry), { recursive: true, force: true });
    }
  }
  const slug = modelId.replace(/[^A-Za-z0-9._-]+/g, "_");
  const dir = path.join(root, `${slug}-${fingerprint.config_hash}-${format}.${process.pid}`);
  rmSync(dir, { recursive: true, force: true });
  mkdirSync(dir, { recursive: true });
  return dir;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

export async function loadBaseModel(
  config: Pick<
    ServeConfig,
    "modelDir" | "modelSource" | "tokenizerDir" | "modelId" | "device" | "threads" | "weights" | "cacheDir"
  >,
): Promise<BaseModel> {
  const runtime = new Runtime({
    executionProvider: config.device,
    ...(config.threads ? { intraOpNumThreads: config.threads } : {}),
  });
  const fingerprint: ModelFingerprint = modelFingerprint(config.modelDir, config.modelId);
  const format = config.weights;
  const directory =
    format === "float32"
      ? undefined
      : convertedWeightsDir(config.cacheDir, config.modelId, fingerprint, format);
  let loaded: Awaited<ReturnType<typeof loadCausalLm>>;
  try {
    loaded =
      directory === undefined
        ? await loadCausalLm(config.modelDir, runtime)
        : await loadCausalLm(config.modelDir, runtime, { weights: format, directory });
  } catch (error) {
    if (directory) rmSync(directory, { recursive: true, force: true });
    throw error;
  }
  const { runner, textConfig, snapshot } = loaded;
  const hiddenSize = textConfig.hiddenSize;
  const embedName = "model.embed_tokens.weight";
  const table = loaded.textWeights(embedName, [textConfig.vocabSize, hiddenSize]);
  // Quantized loads read float32 weights from the checkpoint on each call: keep the one table.
  const textWeights: WeightValues =
    directory === undefined
      ? loaded.textWeights
      : (name, shape) => (name === embedName ? table : loaded.textWeights(name, shape));
  const quantized = directory === undefined ? undefined : { binding: loaded.textBinding, directory };
  const decoder = quantized
    ? CachedDecoder.build(
        textConfig,
        { binding: quantized.binding },
        { runtime, modelId: config.modelId, directory: quantized.directory },
      )
    : CachedDecoder.build(textConfig, textWeights, { runtime, modelId: config.modelId });
  const embeddings = new ArrayEmbeddingTable(table, hiddenSize);
  const tokenizer = loadTokenizer(config.tokenizerDir);
  const processor = snapshot.architecture.vision ? loadImageProcessor(config.modelDir) : undefined;
  const imageFeatureCache = new ImageFeatureCache(IMAGE_FEATURE_CACHE_BYTES);
  const featureKey = { model: config.modelId, config_hash: fingerprint.config_hash };

  async function imageInput(bytes: Uint8Array): Promise<{ features: Float32Array; prompt: string }> {
    if (!processor) throw new Error(`${config.modelId} takes no images`);
    const image = await decodeImage(bytes);
    const processed = processor.preprocess(image);
    const features = await imageFeatureCache.getOrCompute(bytes, featureKey, async () => {
      const frameSize = processed.frames[0]!.data.length;
      const data = new Float32Array(frameSize * processed.frames.length);
      processed.frames.forEach((frame, i) => {
        data.set(frame.data, i * frameSize);
      });
      return runner.imageFeatures({ data, count: processed.frames.length });
    });
    // CLIP (LLaVA): one image token per feature row; the processor config does not know the tower's count.
    const prompt =
      processor.kind === "clip"
        ? processor.imageToken.repeat(features.length / hiddenSize)
        : processor.imagePrompt(processed);
    return { features, prompt };
  }

  return {
    id: config.modelId,
    dir: config.modelDir,
    source: config.modelSource,
    fingerprint,
    device: runtime.executionProvider,
    runtime,
    runner,
    decoder,
    embeddings,
    tokenizer,
    processor,
    hiddenSize,
    textConfig,
    textWeights,
    weightFormat: format,
    ...(quantized ? { quantized } : {}),
    async release() {
      await runtime.release();
      if (directory) rmSync(directory, { recursive: true, force: true });
    },
    imageFeatureCache,
    imageInput,
  };
}
