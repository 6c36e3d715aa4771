// HF `model_type` -> builder. Each entry says what the family builds (a causal LM with or without an
// image path, or a CLIP pair of towers), how checkpoint names map to the names its builder asks for (one
// sanitize function per architecture), and whether a snapshot needs preprocessor_config.json.

import type { Graph } from "../engine/index";
import { ClipModel, clipConfigFromHf } from "./clip";
import type { HfJson } from "./hf-config";
import {
  Idefics3Model,
  idefics3ConfigFromHf,
  idefics3TextWeightName,
  sanitizeIdefics3WeightName,
} from "./idefics3";
import { type LlamaConfig, LlamaDecoder, llamaConfigFromHf } from "./llama";
import { LlavaModel, llavaConfigFromHf, llavaTextWeightName, sanitizeLlavaWeightName } from "./llava";
import type { CausalLm } from "./multimodal";
import type { WeightBinding } from "./weights";

export const MODEL_TYPES = ["llava", "idefics3", "llama", "qwen2", "clip"] as const;
export type ModelType = (typeof MODEL_TYPES)[number];

/** Names (after sanitize) the checkpoint holds: lets a builder see e.g. a missing lm_head (tied). */
export type WeightNames = ReadonlySet<string>;

export interface CausalLmArchitecture {
  readonly kind: "causal-lm";
  readonly modelType: ModelType;
  /** Has an image path (pixel_values); then the snapshot needs preprocessor_config.json. */
  readonly vision: boolean;
  sanitize(checkpointName: string): string;
  build(graph: Graph, config: HfJson, weights: WeightBinding, names: WeightNames): CausalLm;
  /** The decoder's config alone (for trainer/generate's cached decoder). */
  textConfig(config: HfJson, names: WeightNames): LlamaConfig;
  /** LlamaForCausalLM weight name -> this architecture's name for it. */
  textWeightName(llamaName: string): string;
}

export interface ClipArchitecture {
  readonly kind: "clip";
  readonly modelType: ModelType;
  readonly vision: true;
  sanitize(checkpointName: string): string;
  build(graph: Graph, config: HfJson, weights: WeightBinding, names: WeightNames): ClipModel;
}

export type Architecture = CausalLmArchitecture | ClipArchitecture;

export class UnsupportedArchitectureError extends Error {
  readonly code = "UNSUPPORTED_ARCHITECTURE";
}

const unchanged = (name: string) => name;

/** A checkpoint without lm_head.weight ties the head to the embedding table, whatever the config says. */
function tiedIfHeadless<T extends { tieWordEmbeddings: boolean }>(text: T, names: WeightNames): T {
  if (!names.has("lm_head.weight")) text.tieWordEmbeddings = true;
  return text;
}

const textOnly = (modelType: ModelType): CausalLmArchitecture => ({
  kind: "causal-lm",
  modelType,
  vision: false,
  sanitize: unchanged,
  build(graph, config, weights, names) {
    return { graph, decoder: new LlamaDecoder(graph, this.textConfig(config, names), weights) };
  },
  textConfig: (config, names) => tiedIfHeadless(llamaConfigFromHf(config), names),
  textWeightName: unchanged,
});

export const ARCHITECTURES: Readonly<Record<ModelType, Architecture>> = {
  llava: {
    kind: "causal-lm",
    modelType: "llava",
    vision: true,
    sanitize: sanitizeLlavaWeightName,
    build(graph, config, weights, names) {
      const c = llavaConfigFromHf(config);
      tiedIfHeadless(c.text, names);
      const model = new LlavaModel(graph, c, weights);
      return { graph, decoder: model.decoder, vision: model };
    },
    textConfig: (config, names) => tiedIfHeadless(llavaConfigFromHf(config).text, names),
    textWeightName: llavaTextWeightName,
  },
  idefics3: {
    kind: "causal-lm",
    modelType: "idefics3",
    vision: true,
    sanitize: sanitizeIdefics3WeightName,
    build(graph, config, weights, names) {
      const c = idefics3ConfigFromHf(config);
      tiedIfHeadless(c.text, names);
      const model = new Idefics3Model(graph, c, weights);
      return { graph, decoder: model.decoder, vision: model };
    },
    textConfig: (config, names) => tiedIfHeadless(idefics3ConfigFromHf(config).text, names),
    textWeightName: idefics3TextWeightName,
  },
  llama: textOnly("llama"),
  qwen2: textOnly("qwen2"),
  clip: {
    kind: "clip",
    modelType: "clip",
    vision: true,
    sanitize: unchanged,
    build: (graph, config, weights) => new ClipModel(graph, clipConfigFromHf(config), weights),
  },
};

export function architectureFor(modelType: unknown, architectures?: unknown): Architecture {
  if (typeof modelType === "string" && (MODEL_TYPES as readonly string[]).includes(modelType)) {
    return ARCHITECTURES[modelType as ModelType];
  }
  const named = Array.isArray(architectures) ? ` (${architectures.join(", ")})` : "";
  throw new UnsupportedArchitectureError(
    `model_type ${JSON.stringify(modelType)}${named} is not supported; supported: ${MODEL_TYPES.join(", ")}`,
  );
}
