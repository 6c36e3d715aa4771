// Vision-to-text connectors: image features [N, P, D_vision] -> rows in the decoder's embedding space.
//   LLaVA:    linear_1 -> act (projector_hidden_act, "gelu") -> linear_2          (multi_modal_projector)
//   Idefics3: pixel_shuffle(scale_factor) -> modality_projection.proj, no bias    (connector)

import { type Graph, reshape, type Tensor, transpose } from "../engine/index";
import { type Activation, activation, linear, scopeOf } from "./layers";
import { UnsupportedConfigError } from "./llama";
import type { WeightBinding } from "./weights";

export interface LlavaProjectorConfig {
  textHiddenSize: number;
  act: Activation;
  bias: boolean;
}

/** LlavaMultiModalProjector: [N, P, D] -> [N, P, H]. */
export function llavaProjector(
  graph: Graph,
  weights: WeightBinding,
  features: Tensor,
  config: LlavaProjectorConfig,
  prefix = "model.multi_modal_projector",
): Tensor {
  return graph.scope(scopeOf(prefix), () => {
    const h = graph.scope("linear_1", () =>
      linear(weights, features, `${prefix}.linear_1`, config.textHiddenSize, config.bias),
    );
    const a = graph.scope("act", () => activation(h, config.act));
    return graph.scope("linear_2", () =>
      linear(weights, a, `${prefix}.linear_2`, config.textHiddenSize, config.bias),
    );
  });
}

/**
 * Idefics3Connector.pixel_shuffle: [N, seq, D] on a sqrt(seq) x sqrt(seq) grid -> [N, seq/s^2, D*s^2],
 * each output row holding an s x s block of neighbouring patches (same reshapes and permutes as HF).
 */
export function pixelShuffle(x: Tensor, scaleFactor: number): Tensor {
  const [n, seq, d] = x.shape as [string | number, number, number];
  const side = Math.round(Math.sqrt(seq));
  const s = scaleFactor;
  if (side * side !== seq || side % s !== 0) {
    throw new UnsupportedConfigError(`pixel shuffle: ${seq} patches is not a square grid divisible by ${s}`);
  }
  const a = reshape(x, [0, side, side / s, d * s], { shape: [n, side, side / s, d * s] });
  const b = transpose(a, [0, 2, 1, 3]); // [N, side/s, side, d*s]
  const c = reshape(b, [0, side / s, side / s, d * s * s], { shape: [n, side / s, side / s, d * s * s] });
  const e = transpose(c, [0, 2, 1, 3]);
  return reshape(e, [0, seq / (s * s), d * s * s], { shape: [n, seq / (s * s), d * s * s] });
}

export interface Idefics3ConnectorConfig {
  scaleFactor: number;
  textHiddenSize: number;
}

/** Idefics3Connector: pixel shuffle, then modality_projection.proj (no bias): [N, P, D] -> [N, P/s^2, H]. */
export function idefics3Connector(
  graph: Graph,
  weights: WeightBinding,
  features: Tensor,
  config: Idefics3ConnectorConfig,
  prefix = "model.connector",
): Tensor {
  return graph.scope(scopeOf(prefix), () => {
    const shuffled = graph.scope("pixel_shuffle", () => pixelShuffle(features, config.scaleFactor));
    return graph.scope("modality_projection/proj", () =>
      linear(weights, shuffled, `${prefix}.modality_projection.proj`, config.textHiddenSize, false),
    );
  });
}
