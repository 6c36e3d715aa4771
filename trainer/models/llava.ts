// LLaVA-1.5 (HF `LlavaForConditionalGeneration`): CLIP vision tower -> hidden state at vision_feature_layer
// (CLS dropped for the "default" strategy) -> multi_modal_projector -> rows spliced into the Llama
// decoder's input embeddings at the image-token positions.
//
// Weight names are transformers 5's in-memory names (`model.vision_tower.*`, `model.multi_modal_projector.*`,
// `model.language_model.*`, `lm_head.weight`); sanitizeLlavaWeightName maps the older on-disk layouts
// (llava-hf before the 4.52 refactor, and what save_pretrained still writes) onto them.

import type { Graph, Tensor } from "../engine/index";
import {
  type ClipVisionConfig,
  ClipVisionTower,
  clipVisionConfigFromHf,
  type VisionFeatureSelection,
} from "./clip";
import { llavaProjector } from "./connectors";
import { type HfJson, hfNumber, hfSubConfig } from "./hf-config";
import { type Activation, parseActivation } from "./layers";
import { type LlamaConfig, LlamaDecoder, llamaConfigFromHf, UnsupportedConfigError } from "./llama";
import type { VisionLanguageModel } from "./multimodal";
import { renamedWeights, type WeightBinding } from "./weights";

export interface LlavaConfig {
  vision: ClipVisionConfig;
  text: LlamaConfig;
  imageTokenId: number;
  featureSelection: VisionFeatureSelection;
  projectorAct: Activation;
  projectorBias: boolean;
}

/**
 * Sub-config defaults LlavaConfig applies (llava-hf configs leave these out): LlamaConfig's defaults and
 * CLIP ViT-L/14-336.
 */
const TEXT_DEFAULTS: HfJson = {
  model_type: "llama",
  hidden_size: 4096,
  intermediate_size: 11008,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  vocab_size: 32000,
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-6,
};
const VISION_DEFAULTS: HfJson = {
  hidden_size: 1024,
  intermediate_size: 4096,
  num_hidden_layers: 24,
  num_attention_heads: 16,
  patch_size: 14,
  image_size: 336,
};

export function llavaConfigFromHf(json: HfJson): LlavaConfig {
  const textJson = hfSubConfig(json, "text_config");
  const text = llamaConfigFromHf({ ...TEXT_DEFAULTS, ...textJson });
  // transformers forwards tie_word_embeddings between the top level and text_config.
  text.tieWordEmbeddings = json.tie_word_embeddings === true || textJson.tie_word_embeddings === true;
  const strategy = json.vision_feature_select_strategy ?? "default";
  if (strategy !== "default" && strategy !== "full") {
    throw new UnsupportedConfigError(`config.json: vision_feature_select_strategy ${String(strategy)}`);
  }
  const layer = json.vision_feature_layer ?? -2;
  if (!(typeof layer === "number" || (Array.isArray(layer) && layer.every((l) => typeof l === "number")))) {
    throw new UnsupportedConfigError(
      "config.json: vision_feature_layer must be a number or a list of numbers",
    );
  }
  return {
    vision: clipVisionConfigFromHf({ ...VISION_DEFAULTS, ...hfSubConfig(json, "vision_config") }),
    text,
    // Saved as image_token_index by llava-hf configs; image_token_id is the transformers 5 attribute name.
    imageTokenId: hfNumber(json, "image_token_index", (json.image_token_id as number | undefined) ?? 32000),
    featureSelection: { layer: layer as number | number[], strategy },
    projectorAct: parseActivation(json.projector_hidden_act ?? "gelu", "config.json projector_hidden_act"),
    projectorBias: json.multimodal_projector_bias !== false,
  };
}

/** Checkpoint name -> transformers 5 name (old and new LLaVA layouts). */
export function sanitizeLlavaWeightName(name: string): string {
  const renames: [RegExp, string][] = [
    [/^language_model\.lm_head\./, "lm_head."],
    [/^language_model\.model\./, "model.language_model."],
    [/^language_model\./, "model.language_model."],
    [/^vision_tower\./, "model.vision_tower."],
    [/^multi_modal_projector\./, "model.multi_modal_projector."],
    // CLIPVisionModel used to wrap the tower in `vision_model`.
    [/^model\.vision_tower\.vision_model\./, "model.vision_tower."],
  ];
  let out = name;
  for (const [pattern, replacement] of renames) out = out.replace(pattern, replacement);
  return out;
}

/** LlamaForCausalLM name the decoder asks for -> where LLaVA keeps it (lm_head.weight stays). */
export function llavaTextWeightName(llamaName: string): string {
  return llamaName.replace(/^model\./, "model.language_model.");
}

export class LlavaModel implements VisionLanguageModel {
  readonly vision: ClipVisionTower;
  readonly decoder: LlamaDecoder;

  constructor(
    readonly graph: Graph,
    readonly config: LlavaConfig,
    readonly weights: WeightBinding,
  ) {
    this.vision = new ClipVisionTower(graph, config.vision, weights, "model.vision_tower.");
    // The decoder asks for LlamaForCausalLM names; here they live under model.language_model.
    const textWeights = renamedWeights(weights, llavaTextWeightName);
    this.decoder = new LlamaDecoder(graph, config.text, textWeights);
  }

  get imageTokenId(): number {
    return this.config.imageTokenId;
  }

  get pixelShape(): [number, number, number] {
    const v = this.config.vision;
    return [v.numChannels, v.imageSize, v.imageSize];
  }

  get tokensPerImage(): number {
    return this.vision.numPatches + (this.config.featureSelection.strategy === "full" ? 1 : 0);
  }

  /** pixel_values [N, C, S, S] -> projected features [N, tokensPerImage, H] (HF get_image_features). */
  imageFeatures(pixelValues: Tensor): Tensor {
    const selected = this.vision.selectFeatures(pixelValues, this.config.featureSelection);
    return llavaProjector(this.graph, this.weights, selected, {
      textHiddenSize: this.config.text.hiddenSize,
      act: this.config.projectorAct,
      bias: this.config.projectorBias,
    });
  }
}
