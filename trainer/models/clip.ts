// CLIP (HF `CLIPModel`): the vision tower (LLaVA's image encoder), the causal text tower and the two
// projections, as engine graphs. Weight names are HF's; each tower takes its checkpoint prefix
// ("vision_model." in CLIPModel, "model.vision_tower." inside LLaVA).
//
//   vision: patch Conv -> [CLS; patches] + position_embedding -> pre_layrnorm -> encoder (LayerNorm, MHA,
//           quick_gelu MLP) x L -> post_layernorm(CLS) -> visual_projection
//   text:   token_embedding + position_embedding -> causal encoder x L -> final_layer_norm
//           -> row at the pooling position (eos) -> text_projection

import {
  add,
  concat,
  conv,
  dim,
  div,
  exp,
  expand,
  type Graph,
  gather,
  gatherElements,
  int64s,
  logSoftmax,
  matmul,
  mul,
  neg,
  range,
  reduceMean,
  reduceSum,
  reshape,
  slice,
  sqrt,
  type Tensor,
  transpose,
  unsqueeze,
} from "../engine/index";
import { type HfJson, hfNumber, hfSquare } from "./hf-config";
import {
  type EncoderConfig,
  layerNorm,
  linear,
  parseActivation,
  scopeOf,
  TransformerEncoder,
} from "./layers";
import { UnsupportedConfigError } from "./llama";
import type { WeightBinding } from "./weights";

export interface ClipVisionConfig extends EncoderConfig {
  imageSize: number;
  patchSize: number;
  numChannels: number;
}

export interface ClipTextConfig extends EncoderConfig {
  vocabSize: number;
  maxPositionEmbeddings: number;
  /** Pooling row: first eos_token_id in each row, or (eos_token_id == 2, pre-#24773 configs) the argmax id. */
  eosTokenId: number;
}

export interface ClipConfig {
  vision: ClipVisionConfig;
  text: ClipTextConfig;
  projectionDim: number;
}

function encoderConfigFromHf(json: HfJson, where: string, defaults: Partial<EncoderConfig>): EncoderConfig {
  const hiddenSize = hfNumber(json, "hidden_size", defaults.hiddenSize, where);
  const numHeads = hfNumber(json, "num_attention_heads", defaults.numHeads, where);
  if (hiddenSize % numHeads !== 0) {
    throw new UnsupportedConfigError(`${where}: hidden_size must be a multiple of num_attention_heads`);
  }
  return {
    hiddenSize,
    numHeads,
    intermediateSize: hfNumber(json, "intermediate_size", defaults.intermediateSize, where),
    numLayers: hfNumber(json, "num_hidden_layers", defaults.numLayers, where),
    layerNormEps: hfNumber(json, "layer_norm_eps", defaults.layerNormEps, where),
    hiddenAct: parseActivation(json.hidden_act ?? defaults.hiddenAct, where),
  };
}

/** `vision_config` of a CLIPModel or LLaVA config (defaults as HF CLIPVisionConfig). */
export function clipVisionConfigFromHf(json: HfJson, where = "vision_config"): ClipVisionConfig {
  return {
    ...encoderConfigFromHf(json, where, {
      hiddenSize: 768,
      intermediateSize: 3072,
      numLayers: 12,
      numHeads: 12,
      layerNormEps: 1e-5,
      hiddenAct: "quick_gelu",
    }),
    imageSize: hfSquare(json, "image_size", 224, where),
    patchSize: hfSquare(json, "patch_size", 32, where),
    numChannels: hfNumber(json, "num_channels", 3, where),
  };
}

/** `text_config` of a CLIPModel config (defaults as HF CLIPTextConfig). */
export function clipTextConfigFromHf(json: HfJson, where = "text_config"): ClipTextConfig {
  return {
    ...encoderConfigFromHf(json, where, {
      hiddenSize: 512,
      intermediateSize: 2048,
      numLayers: 12,
      numHeads: 8,
      layerNormEps: 1e-5,
      hiddenAct: "quick_gelu",
    }),
    vocabSize: hfNumber(json, "vocab_size", 49408, where),
    maxPositionEmbeddings: hfNumber(json, "max_position_embeddings", 77, where),
    eosTokenId: hfNumber(json, "eos_token_id", 49407, where),
  };
}

export function clipConfigFromHf(json: HfJson): ClipConfig {
  const sub = (key: string) => (json[key] ?? {}) as HfJson;
  return {
    vision: clipVisionConfigFromHf(sub("vision_config")),
    text: clipTextConfigFromHf(sub("text_config")),
    projectionDim: hfNumber(json, "projection_dim", 512),
  };
}

/** LLaVA's feature choice: which hidden state(s), and whether the CLS row is kept. */
export interface VisionFeatureSelection {
  /** Index into HF's hidden_states (0 = pre_layrnorm output, k = output of layer k - 1); negative from the end. */
  layer: number | readonly number[];
  /** "default" drops the CLS row, "full" keeps it. */
  strategy: "default" | "full";
}

export class ClipVisionTower {
  readonly encoder: TransformerEncoder;
  readonly numPatches: number;

  constructor(
    readonly graph: Graph,
    readonly config: ClipVisionConfig,
    readonly weights: WeightBinding,
    /** Checkpoint prefix of the tower, with the trailing dot. */
    readonly prefix = "vision_model.",
  ) {
    this.encoder = new TransformerEncoder(graph, config, weights, `${prefix}encoder.`);
    this.numPatches = (config.imageSize / config.patchSize) ** 2;
  }

  /** pixel_values [N, C, S, S] (S = image_size; no position interpolation) -> [N, 1 + P, D]. */
  embeddings(pixelValues: Tensor): Tensor {
    const g = this.graph;
    const c = this.config;
    const p = `${this.prefix}embeddings`;
    return g.scope(scopeOf(p), () => {
      const w = this.weights.weight(`${p}.patch_embedding.weight`, [
        c.hiddenSize,
        c.numChannels,
        c.patchSize,
        c.patchSize,
      ]);
      const grid = g.scope("patch_embedding", () =>
        conv(pixelValues, w, null, { strides: [c.patchSize, c.patchSize] }),
      );
      const n = pixelValues.shape[0]!;
      // [N, D, g, g] -> [N, P, D]
      const patches = transpose(
        reshape(grid, [0, c.hiddenSize, this.numPatches], { shape: [n, c.hiddenSize, this.numPatches] }),
        [0, 2, 1],
      );
      const cls = expand(
        reshape(this.weights.weight(`${p}.class_embedding`, [c.hiddenSize]), [1, 1, c.hiddenSize]),
        concat([dim(patches, 0), int64s(g, [1, c.hiddenSize])], 0),
        { shape: [n, 1, c.hiddenSize] },
      );
      const table = this.weights.weight(`${p}.position_embedding.weight`, [
        this.numPatches + 1,
        c.hiddenSize,
      ]);
      return add(concat([cls, patches], 1), table, "add_position_embedding");
    });
  }

  /** HF's hidden_states for the first `layers` encoder layers: [pre_layrnorm(embeddings), layer outputs...]. */
  hiddenStates(pixelValues: Tensor, layers = this.config.numLayers): Tensor[] {
    const g = this.graph;
    const x = this.embeddings(pixelValues);
    const pre = g.scope(scopeOf(`${this.prefix}pre_layrnorm`), () =>
      layerNorm(this.weights, x, `${this.prefix}pre_layrnorm`, this.config.layerNormEps),
    );
    return this.encoder.forward(pre, layers);
  }

  /** LLaVA's image features: hidden state(s) at `selection.layer`, CLS dropped for "default". [N, P(+1), D*k] */
  selectFeatures(pixelValues: Tensor, selection: VisionFeatureSelection): Tensor {
    const count = this.config.numLayers + 1;
    const layers = (typeof selection.layer === "number" ? [selection.layer] : [...selection.layer]).map(
      (l) => {
        const i = l < 0 ? count + l : l;
        if (i < 0 || i >= count) {
          throw new UnsupportedConfigError(`vision_feature_layer ${l} is out of range for ${count} states`);
        }
        return i;
      },
    );
    // Only the layers up to the deepest selected one are built.
    const states = this.hiddenStates(pixelValues, Math.max(...layers));
    const picked = layers.map((i) => {
      const s = states[i]!;
      return selection.strategy === "default" ? slice(s, [1], [this.numPatches + 1], [1]) : s;
    });
    return picked.length === 1 ? picked[0]! : concat(picked, -1);
  }

  /** post_layernorm of the CLS row of the last layer: HF's pooler_output [N, D]. */
  pooled(pixelValues: Tensor): Tensor {
    const states = this.hiddenStates(pixelValues);
    return this.poolLastState(states[states.length - 1]!);
  }

  /** pooler_output from the last layer's states [N, 1 + P, D] (for callers that also read the states). */
  poolLastState(last: Tensor): Tensor {
    const cls = reshape(slice(last, [0], [1], [1]), [0, this.config.hiddenSize], {
      shape: [last.shape[0]!, this.config.hiddenSize],
    });
    return this.graph.scope(scopeOf(`${this.prefix}post_layernorm`), () =>
      layerNorm(this.weights, cls, `${this.prefix}post_layernorm`, this.config.layerNormEps),
    );
  }
}

export class ClipTextTower {
  readonly encoder: TransformerEncoder;

  constructor(
    readonly graph: Graph,
    readonly config: ClipTextConfig,
    readonly weights: WeightBinding,
    readonly prefix = "text_model.",
  ) {
    this.encoder = new TransformerEncoder(graph, config, weights, `${prefix}encoder.`);
  }

  /** token_embedding(ids) + position_embedding(0..T-1): [B, T, D]. */
  embeddings(inputIds: Tensor): Tensor {
    const g = this.graph;
    const c = this.config;
    const p = `${this.prefix}embeddings`;
    return g.scope(scopeOf(p), () => {
      const tokens = this.weights.weight(`${p}.token_embedding.weight`, [c.vocabSize, c.hiddenSize]);
      const positions = this.weights.weight(`${p}.position_embedding.weight`, [
        c.maxPositionEmbeddings,
        c.hiddenSize,
      ]);
      const ids = range(int64s(g, [0]), dim(inputIds, 1), int64s(g, [1]));
      return add(
        gather(tokens, inputIds, 0, "token_embedding"),
        gather(positions, ids, 0, "position_embedding"),
      );
    });
  }

  /**
   * Last hidden state after final_layer_norm, [B, T, D]. `attentionBias` [B, 1, T, T] is the causal mask
   * (with padding keys blocked when there is an attention mask): see llama.ts causalAttentionBias.
   */
  forward(inputIds: Tensor, attentionBias: Tensor): Tensor {
    const states = this.encoder.forward(this.embeddings(inputIds), this.config.numLayers, attentionBias);
    const p = `${this.prefix}final_layer_norm`;
    return this.graph.scope(scopeOf(p), () =>
      layerNorm(this.weights, states[states.length - 1]!, p, this.config.layerNormEps),
    );
  }

  /** Rows at `poolPositions` (int64 [B], flat b*T+t, see clipPoolPositions): HF's pooler_output [B, D]. */
  pool(hidden: Tensor, poolPositions: Tensor): Tensor {
    const flat = reshape(hidden, [-1, this.config.hiddenSize], { shape: ["rows", this.config.hiddenSize] });
    return gather(flat, poolPositions, 0, "pool");
  }
}

/**
 * The pooling row of each sequence as transformers picks it, as flat indices b*T + t: with
 * eos_token_id == 2 (configs older than transformers PR #24773) the position of the largest id, otherwise
 * the first position holding eos_token_id (HF assumes there is one; without one it takes position 0).
 */
export function clipPoolPositions(
  inputIds: ArrayLike<number | bigint>,
  batch: number,
  seq: number,
  eosTokenId: number,
): BigInt64Array {
  const out = new BigInt64Array(batch);
  for (let b = 0; b < batch; b++) {
    let best = 0;
    for (let t = 0; t < seq; t++) {
      const id = Number(inputIds[b * seq + t]!);
      if (eosTokenId === 2) {
        if (id > Number(inputIds[b * seq + best]!)) best = t;
      } else if (id === eosTokenId) {
        best = t;
        break;
      }
    }
    out[b] = BigInt(b * seq + best);
  }
  return out;
}

/** CLIPModel: both towers and their projections (no normalization; callers normalize for cosine logits). */
export class ClipModel {
  readonly vision: ClipVisionTower;
  readonly text: ClipTextTower;

  constructor(
    readonly graph: Graph,
    readonly config: ClipConfig,
    readonly weights: WeightBinding,
  ) {
    this.vision = new ClipVisionTower(graph, config.vision, weights, "vision_model.");
    this.text = new ClipTextTower(graph, config.text, weights, "text_model.");
  }

  /** visual_projection(pooled) [N, projection_dim]: HF get_image_features. */
  imageEmbeds(pixelValues: Tensor): Tensor {
    return this.projectImage(this.vision.pooled(pixelValues));
  }

  /** Image embeddings and the vision tower's last hidden states [N, 1 + P, D], from one forward. */
  imageEmbedsAndStates(pixelValues: Tensor): { embeds: Tensor; lastState: Tensor } {
    const states = this.vision.hiddenStates(pixelValues);
    const lastState = states[states.length - 1]!;
    return { embeds: this.projectImage(this.vision.poolLastState(lastState)), lastState };
  }

  /** visual_projection of pooled rows [N, D] (HF get_image_features after the tower). */
  projectImage(pooled: Tensor): Tensor {
    return this.graph.scope("visual_projection", () =>
      linear(this.weights, pooled, "visual_projection", this.config.projectionDim, false),
    );
  }

  /** text_projection(pooled) [B, projection_dim]: HF get_text_features. */
  textEmbeds(inputIds: Tensor, attentionBias: Tensor, poolPositions: Tensor): Tensor {
    const pooled = this.text.pool(this.text.forward(inputIds, attentionBias), poolPositions);
    return this.graph.scope("text_projection", () =>
      linear(this.weights, pooled, "text_projection", this.config.projectionDim, false),
    );
  }

  /** The logit_scale parameter (a log temperature: logits are scaled by exp(logit_scale)). */
  logitScale(): Tensor {
    return this.weights.weight("logit_scale", []);
  }

  /**
   * CLIP's training loss (HF `return_loss=True`): cosine similarities scaled by exp(logit_scale), then the
   * mean of the text->image and image->text cross-entropies, pair i of the batch being the positive of
   * row i. Also returns logits_per_image [N, N].
   */
  contrastiveLoss(imageEmbeds: Tensor, textEmbeds: Tensor): { loss: Tensor; logitsPerImage: Tensor } {
    const g = this.graph;
    return g.scope("contrastive_loss", () => {
      const unit = (x: Tensor) => div(x, sqrt(reduceSum(mul(x, x), [-1], { keepdims: true })));
      const logitsPerText = mul(
        matmul(unit(textEmbeds), transpose(unit(imageEmbeds), [1, 0])),
        exp(this.logitScale()),
        "scale",
      );
      const logitsPerImage = transpose(logitsPerText, [1, 0]);
      // -mean_i log_softmax(logits)[i, i]
      const diagonalNll = (logits: Tensor) => {
        const diagonal = unsqueeze(range(int64s(g, [0]), dim(logits, 0), int64s(g, [1])), [1]); // [N, 1]
        const picked = gatherElements(logSoftmax(logits, -1), diagonal, 1);
        return neg(reduceMean(picked, [0, 1], { keepdims: false }));
      };
      const loss = mul(add(diagonalNll(logitsPerText), diagonalNll(logitsPerImage)), 0.5, "loss");
      return { loss, logitsPerImage };
    });
  }
}
