// Small building blocks the architecture files share: HF Linear, LayerNorm, the activations HF names in
// configs, and the pre-norm transformer encoder that CLIP, SigLIP and Idefics3's vision tower all use.

import {
  add,
  type Graph,
  gelu,
  layerNormalization,
  matmul,
  mul,
  reshape,
  sigmoid,
  softmax,
  type Tensor,
  transpose,
} from "../engine/index";
import { UnsupportedConfigError } from "./llama";
import { projection, type WeightBinding } from "./weights";

/** HF Linear: x @ W^T (+ b), W stored [out, in] under `${prefix}.weight`, b under `${prefix}.bias`. */
export function linear(
  weights: WeightBinding,
  x: Tensor,
  prefix: string,
  outFeatures: number,
  bias: boolean,
): Tensor {
  return projection(weights, x, [{ prefix, outFeatures }], bias);
}

/** nn.LayerNorm over the last axis, weights `${prefix}.weight` and `${prefix}.bias`. */
export function layerNorm(weights: WeightBinding, x: Tensor, prefix: string, eps: number): Tensor {
  const width = x.shape[x.rank - 1] as number;
  return layerNormalization(
    x,
    weights.weight(`${prefix}.weight`, [width]),
    weights.weight(`${prefix}.bias`, [width]),
    { epsilon: eps },
  );
}

/** The activations vision towers and projectors name in their configs (HF ACT2FN keys). */
export const ACTIVATIONS = ["quick_gelu", "gelu", "gelu_pytorch_tanh"] as const;
export type Activation = (typeof ACTIVATIONS)[number];

export function parseActivation(value: unknown, where: string): Activation {
  if (!ACTIVATIONS.includes(value as Activation)) {
    throw new UnsupportedConfigError(`${where}: activation ${JSON.stringify(value)} is not supported`);
  }
  return value as Activation;
}

/**
 * quick_gelu: x * sigmoid(1.702 x) (CLIP); gelu: exact erf GELU (ONNX Gelu, float32 only in ORT);
 * gelu_pytorch_tanh: the tanh approximation (SigLIP).
 */
export function activation(x: Tensor, act: Activation): Tensor {
  switch (act) {
    case "quick_gelu":
      return mul(x, sigmoid(mul(x, 1.702)));
    case "gelu":
      return gelu(x, "none");
    case "gelu_pytorch_tanh":
      return gelu(x, "tanh");
  }
}

/** "model.vision_tower.encoder.layers.3" -> "model/vision_tower/encoder/layers.3" (graph scope names). */
export function scopeOf(prefix: string): string {
  const parts = prefix.replace(/\.$/, "").split(".");
  const out: string[] = [];
  for (const p of parts) {
    if (/^\d+$/.test(p) && out.length > 0) out[out.length - 1] += `.${p}`;
    else out.push(p);
  }
  return out.join("/");
}

export interface EncoderConfig {
  hiddenSize: number;
  intermediateSize: number;
  numLayers: number;
  numHeads: number;
  layerNormEps: number;
  hiddenAct: Activation;
}

/**
 * The pre-norm encoder of CLIP/SigLIP (HF CLIPEncoder, SiglipEncoder, Idefics3Encoder): per layer
 * x + attention(layer_norm1(x)), then + mlp(layer_norm2(x)). Weights under `${prefix}layers.<i>.`.
 */
export class TransformerEncoder {
  constructor(
    readonly graph: Graph,
    readonly config: EncoderConfig,
    readonly weights: WeightBinding,
    /** e.g. "vision_model.encoder." */
    readonly prefix: string,
  ) {}

  /**
   * HF's hidden_states: [x, output of layer 0, ..., output of layer n-1] for the first `layers` layers.
   * `attentionBias` [B, 1, T, T] is added to the scores (a causal or padding mask); none for vision.
   */
  forward(x: Tensor, layers = this.config.numLayers, attentionBias?: Tensor): Tensor[] {
    const states = [x];
    let h = x;
    for (let i = 0; i < layers; i++) {
      h = this.graph.scope(scopeOf(`${this.prefix}layers.${i}`), () => this.layer(h, i, attentionBias));
      states.push(h);
    }
    return states;
  }

  layer(x: Tensor, i: number, attentionBias?: Tensor): Tensor {
    const g = this.graph;
    const p = `${this.prefix}layers.${i}`;
    const eps = this.config.layerNormEps;
    const attnIn = g.scope("layer_norm1", () => layerNorm(this.weights, x, `${p}.layer_norm1`, eps));
    const h = add(
      x,
      g.scope("self_attn", () => this.attention(attnIn, p, attentionBias)),
      "residual_attn",
    );
    const mlpIn = g.scope("layer_norm2", () => layerNorm(this.weights, h, `${p}.layer_norm2`, eps));
    return add(
      h,
      g.scope("mlp", () => this.mlp(mlpIn, p)),
      "residual_mlp",
    );
  }

  /** Multi-head attention with biased q/k/v/out projections, softmax(q k^T / sqrt(d) + bias) v. */
  attention(x: Tensor, p: string, attentionBias?: Tensor): Tensor {
    const g = this.graph;
    const c = this.config;
    const d = c.hiddenSize / c.numHeads;
    const [batch, seq] = [x.shape[0]!, x.shape[1]!];
    // [B, T, D] -> [B, heads, T, d]
    const heads = (name: string) =>
      transpose(
        reshape(
          g.scope(name, () => linear(this.weights, x, `${p}.self_attn.${name}`, c.hiddenSize, true)),
          [0, 0, c.numHeads, d],
          { shape: [batch, seq, c.numHeads, d] },
        ),
        [0, 2, 1, 3],
      );
    const q = heads("q_proj");
    const k = heads("k_proj");
    const v = heads("v_proj");
    let scores = mul(matmul(q, transpose(k, [0, 1, 3, 2]), "qk"), 1 / Math.sqrt(d), "scale");
    if (attentionBias) scores = add(scores, attentionBias, "mask");
    const context = matmul(softmax(scores, -1), v, "attn_v"); // [B, heads, T, d]
    const merged = reshape(transpose(context, [0, 2, 1, 3]), [0, 0, c.hiddenSize], {
      shape: [batch, seq, c.hiddenSize],
    });
    return g.scope("out_proj", () =>
      linear(this.weights, merged, `${p}.self_attn.out_proj`, c.hiddenSize, true),
    );
  }

  /** fc2(act(fc1(x))) */
  mlp(x: Tensor, p: string): Tensor {
    const g = this.graph;
    const c = this.config;
    const h = g.scope("fc1", () => linear(this.weights, x, `${p}.mlp.fc1`, c.intermediateSize, true));
    const a = g.scope("activation_fn", () => activation(h, c.hiddenAct));
    return g.scope("fc2", () => linear(this.weights, a, `${p}.mlp.fc2`, c.hiddenSize, true));
  }
}
