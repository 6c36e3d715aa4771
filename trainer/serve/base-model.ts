/**
 * The frozen base model the node serves: weights, tokenizer, image processor, the KV-cached decoder, the
 * embedding table, and image features through the content-addressed ImageFeatureCache.
 */
import { createHash } from "node:crypto";
import { readFileSync } from "node:fs";
import path from "node:path";
import type { ModelFingerprint } from "../../shared/concept-artifact";
import { Runtime } from "../engine/index";
import { ArrayEmbeddingTable, CachedDecoder, ImageFeatureCache } from "../generate/index";
import type { LlamaConfig } from "../models/llama";
import { loadCausalLm } from "../models/loader";
import type { CausalLmRunner } from "../models/multimodal";
import type { WeightValues } from "../models/weights";
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
  readonly imageFeatureCache: ImageFeatureCache;
  /** Per image: its feature rows and what replaces the template's image token. */
  imageInput(bytes: Uint8Array): Promise<{ features: Float32Array; prompt: string }>;
}

export async function loadBaseModel(
  config: Pick<ServeConfig, "modelDir" | "modelSource" | "tokenizerDir" | "modelId" | "device" | "threads">,
): Promise<BaseModel> {
  const runtime = new Runtime({
    executionProvider: config.device,
    ...(config.threads ? { intraOpNumThreads: config.threads } : {}),
  });
  const { runner, textConfig, textWeights, snapshot } = await loadCausalLm(config.modelDir, runtime);
  const decoder = CachedDecoder.build(textConfig, textWeights, { runtime, modelId: config.modelId });
  const hiddenSize = textConfig.hiddenSize;
  const table = textWeights("model.embed_tokens.weight", [textConfig.vocabSize, hiddenSize]);
  const embeddings = new ArrayEmbeddingTable(table, hiddenSize);
  const tokenizer = loadTokenizer(config.tokenizerDir);
  const processor = snapshot.architecture.vision ? loadImageProcessor(config.modelDir) : undefined;
  const configText = readFileSync(path.join(config.modelDir, "config.json"));
  const fingerprint: ModelFingerprint = {
    repo: config.modelId,
    revision: "local",
    config_hash: createHash("sha256").update(configText).digest("hex").slice(0, 16),
  };
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
    imageFeatureCache,
    imageInput,
  };
}
