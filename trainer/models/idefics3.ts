// Idefics3 / SmolVLM (HF `Idefics3ForConditionalGeneration`): SigLIP vision tower (post_layernorm output)
// -> connector (pixel shuffle + modality_projection) -> rows spliced into the Llama decoder's input
// embeddings at the image-token positions.
//
// Images: pixel_values [N, C, S, S] with S = vision image_size, i.e. the processor's tiles flattened over
// (batch, images); HF's 5-D [B, images, C, S, S] reshapes to this. HF drops all-zero padding images before
// the tower; callers pass only real images. Every tile is a full image (see siglip.ts for padded images).

import type { Graph, Tensor } from "../engine/index";
import { idefics3Connector } from "./connectors";
import { type HfJson, hfNumber, hfSubConfig } from "./hf-config";
import { type LlamaConfig, LlamaDecoder, llamaConfigFromHf } from "./llama";
import type { VisionLanguageModel } from "./multimodal";
import { type SiglipVisionConfig, SiglipVisionTower, siglipVisionConfigFromHf } from "./siglip";
import { renamedWeights, type WeightBinding } from "./weights";

export interface Idefics3Config {
  vision: SiglipVisionConfig;
  text: LlamaConfig;
  imageTokenId: number;
  scaleFactor: number;
}

/** Idefics3Config's text_config defaults (a Llama with rms_norm_eps 1e-5). */
const TEXT_DEFAULTS: HfJson = {
  model_type: "llama",
  hidden_size: 4096,
  intermediate_size: 11008,
  num_hidden_layers: 32,
  num_attention_heads: 32,
  vocab_size: 32000,
  max_position_embeddings: 2048,
  rms_norm_eps: 1e-5,
};

export function idefics3ConfigFromHf(json: HfJson): Idefics3Config {
  const textJson = hfSubConfig(json, "text_config");
  const text = llamaConfigFromHf({ ...TEXT_DEFAULTS, ...textJson });
  text.tieWordEmbeddings = json.tie_word_embeddings === true || textJson.tie_word_embeddings === true;
  return {
    vision: siglipVisionConfigFromHf(hfSubConfig(json, "vision_config")),
    text,
    imageTokenId: hfNumber(json, "image_token_id", 128257),
    scaleFactor: hfNumber(json, "scale_factor", 2),
  };
}

/** Checkpoint name -> transformers name: checkpoints of the bare Idefics3Model lack the `model.` prefix. */
export function sanitizeIdefics3WeightName(name: string): string {
  return name.replace(/^(vision_model|connector|text_model)\./, "model.$1.");
}

/** LlamaForCausalLM name the decoder asks for -> where Idefics3 keeps it (lm_head.weight stays). */
export function idefics3TextWeightName(llamaName: string): string {
  return llamaName.replace(/^model\./, "model.text_model.");
}

export class Idefics3Model implements VisionLanguageModel {
  readonly vision: SiglipVisionTower;
  readonly decoder: LlamaDecoder;

  constructor(
    readonly graph: Graph,
    readonly config: Idefics3Config,
    readonly weights: WeightBinding,
  ) {
    this.vision = new SiglipVisionTower(graph, config.vision, weights, "model.vision_model.");
    const textWeights = renamedWeights(weights, idefics3TextWeightName);
    this.decoder = new LlamaDecoder(graph, config.text, textWeights);
  }

  get imageTokenId(): number {
    return this.config.imageTokenId;
  }

  get pixelShape(): [number, number, number] {
    const v = this.config.vision;
    return [v.numChannels, v.imageSize, v.imageSize];
  }

  /** Image tokens per tile: (S / patch)^2 / scale_factor^2 (HF's image_seq_len). */
  get tokensPerImage(): number {
    return this.vision.numPatches / this.config.scaleFactor ** 2;
  }

  /** pixel_values [N, C, S, S] -> connector output [N, tokensPerImage, H] (HF get_image_features). */
  imageFeatures(pixelValues: Tensor): Tensor {
    const hidden = this.vision.forward(pixelValues);
    return idefics3Connector(this.graph, this.weights, hidden, {
      scaleFactor: this.config.scaleFactor,
      textHiddenSize: this.config.text.hiddenSize,
    });
  }
}
