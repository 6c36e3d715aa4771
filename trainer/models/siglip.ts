// SigLIP vision tower as Idefics3/SmolVLM use it (HF `Idefics3VisionTransformer`, same weights and math as
// `SiglipVisionTransformer` without the attention-pooling head):
//
//   patch Conv (with bias) -> + position_embedding -> encoder (LayerNorm, MHA, gelu_pytorch_tanh MLP) x L
//   -> post_layernorm
//
// Positions. Idefics3's embeddings support padded, variable-resolution images (NaViT-style): each image
// has a patch attention mask, and its patch grid of h x w real patches is mapped onto the n x n position
// table by bucketing the fractional coordinates i/h, j/w (idefics3PositionIds below reproduces that,
// float32 rounding included). This file implements the case the Idefics3 processor produces for every
// tile, a full image of image_size x image_size pixels: all patches are real, the bucketed ids are exactly
// 0..n*n-1 (checked against transformers for n = 4, 26, 27, 32) and no attention mask is needed. Padded
// images (a patch attention mask with zeros) are not supported yet: the encoder would also need the key
// mask. A tower built with `positionIds` takes them as a graph input instead of 0..P-1.

import { add, conv, type Graph, gather, reshape, type Tensor, transpose } from "../engine/index";
import { type HfJson, hfNumber, hfSquare } from "./hf-config";
import { type EncoderConfig, layerNorm, parseActivation, scopeOf, TransformerEncoder } from "./layers";
import { UnsupportedConfigError } from "./llama";
import type { WeightBinding } from "./weights";

export interface SiglipVisionConfig extends EncoderConfig {
  imageSize: number;
  patchSize: number;
  numChannels: number;
}

/** `vision_config` of an Idefics3 (or SigLIP) config; defaults as HF Idefics3VisionConfig. */
export function siglipVisionConfigFromHf(json: HfJson, where = "vision_config"): SiglipVisionConfig {
  const hiddenSize = hfNumber(json, "hidden_size", 1152, where);
  const numHeads = hfNumber(json, "num_attention_heads", 16, where);
  if (hiddenSize % numHeads !== 0) {
    throw new UnsupportedConfigError(`${where}: hidden_size must be a multiple of num_attention_heads`);
  }
  const config: SiglipVisionConfig = {
    hiddenSize,
    numHeads,
    intermediateSize: hfNumber(json, "intermediate_size", 3072, where),
    numLayers: hfNumber(json, "num_hidden_layers", 12, where),
    layerNormEps: hfNumber(json, "layer_norm_eps", 1e-6, where),
    hiddenAct: parseActivation(json.hidden_act ?? "gelu_pytorch_tanh", where),
    imageSize: hfSquare(json, "image_size", 224, where),
    patchSize: hfSquare(json, "patch_size", 32, where),
    numChannels: hfNumber(json, "num_channels", 3, where),
  };
  if (config.imageSize % config.patchSize !== 0) {
    throw new UnsupportedConfigError(`${where}: image_size must be a multiple of patch_size`);
  }
  return config;
}

export class SiglipVisionTower {
  readonly encoder: TransformerEncoder;
  /** Patches per side of a full image (n), and per image (n * n). */
  readonly patchesPerSide: number;
  readonly numPatches: number;

  constructor(
    readonly graph: Graph,
    readonly config: SiglipVisionConfig,
    readonly weights: WeightBinding,
    /** "model.vision_model." in Idefics3 checkpoints, "vision_model." in SigLIP ones. */
    readonly prefix = "model.vision_model.",
  ) {
    this.encoder = new TransformerEncoder(graph, config, weights, `${prefix}encoder.`);
    this.patchesPerSide = config.imageSize / config.patchSize;
    this.numPatches = this.patchesPerSide ** 2;
  }

  /**
   * pixel_values [N, C, S, S] (S = image_size) -> [N, P, D]. Without `positionIds` every image is a full
   * image (positions 0..P-1); with them (int64 [N, P], see idefics3PositionIds) they index the table.
   */
  embeddings(pixelValues: Tensor, positionIds?: Tensor): Tensor {
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
      const b = this.weights.weight(`${p}.patch_embedding.bias`, [c.hiddenSize]);
      const grid = g.scope("patch_embedding", () =>
        conv(pixelValues, w, b, { strides: [c.patchSize, c.patchSize] }),
      );
      const n = pixelValues.shape[0]!;
      const patches = transpose(
        reshape(grid, [0, c.hiddenSize, this.numPatches], { shape: [n, c.hiddenSize, this.numPatches] }),
        [0, 2, 1],
      );
      const table = this.weights.weight(`${p}.position_embedding.weight`, [this.numPatches, c.hiddenSize]);
      const positions = positionIds ? gather(table, positionIds, 0, "position_embedding") : table;
      return add(patches, positions, "add_position_embedding");
    });
  }

  /** post_layernorm(encoder(embeddings)): HF's last_hidden_state [N, P, D]. */
  forward(pixelValues: Tensor, positionIds?: Tensor): Tensor {
    const states = this.encoder.forward(this.embeddings(pixelValues, positionIds));
    const p = `${this.prefix}post_layernorm`;
    return this.graph.scope(scopeOf(p), () =>
      layerNorm(this.weights, states[states.length - 1]!, p, this.config.layerNormEps),
    );
  }
}

/**
 * Idefics3VisionEmbeddings' position ids for one image whose real patches form an h x w grid (top-left)
 * inside a rows x cols padded grid, on an n x n table: bucketize(min(i * f32(1/h), 1 - 1e-6), boundaries
 * 1/n, 2/n, ..., right) per axis, id = bucket_h * n + bucket_w; padding patches get 0. float32 arithmetic
 * as torch does it (boundaries from a float32 arange).
 */
export function idefics3PositionIds(n: number, h: number, w: number, rows = h, cols = w): BigInt64Array {
  const f = Math.fround;
  const boundaries: number[] = [];
  // torch.arange(1/n, 1, 1/n) in float32 (start + i * step in double, then rounded); a last element
  // of 1.0 that rounding may add never matters, as coordinates are clamped below 1.
  for (let i = 0; i < n - 1; i++) boundaries.push(f(1 / n + i * (1 / n)));
  const clampMax = f(1 - 1e-6);
  const bucket = (i: number, count: number) => {
    const x = Math.min(f(f(i) * f(1 / count)), clampMax);
    let k = 0;
    while (k < boundaries.length && boundaries[k]! <= x) k++;
    return k;
  };
  const out = new BigInt64Array(rows * cols);
  for (let i = 0; i < h; i++) {
    for (let j = 0; j < w; j++) out[i * cols + j] = BigInt(bucket(i, h) * n + bucket(j, w));
  }
  return out;
}
