// HuggingFaceTB/SmolVLM-256M-Instruct's sizes (config.json) and random weights for them: the model the
// decode and concept benches time. Timing does not depend on the weights' values, only on their shapes,
// but weights repeated across layers make onnxruntime faster than real ones, so each name gets its own.

import type { Idefics3Config } from "../models/idefics3";
import type { LlamaConfig } from "../models/llama";

/** The text decoder; benches override numLayers (and other sizes) from their flags. */
export const SMOLVLM_256M_TEXT: LlamaConfig = {
  hiddenSize: 576,
  numLayers: 30,
  numHeads: 9,
  numKvHeads: 3,
  headDim: 64,
  intermediateSize: 1536,
  vocabSize: 49280,
  rmsNormEps: 1e-5,
  ropeTheta: 100000,
  maxPositionEmbeddings: 8192,
  tieWordEmbeddings: true,
  attentionBias: false,
};

/** The whole VLM: SigLIP 12 x 768 on 512 px (1024 patches), pixel shuffle 4 -> 64 image rows, `text`. */
export function smolvlm256m(text: LlamaConfig = SMOLVLM_256M_TEXT): Idefics3Config {
  return {
    vision: {
      hiddenSize: 768,
      intermediateSize: 3072,
      numLayers: 12,
      numHeads: 12,
      layerNormEps: 1e-6,
      hiddenAct: "gelu_pytorch_tanh",
      imageSize: 512,
      patchSize: 16,
      numChannels: 3,
    },
    text,
    imageTokenId: 49190,
    scaleFactor: 4,
  };
}

/**
 * Deterministic small random weights seeded by each weight's name (memoized, so a decoder and an
 * embedding lookup table share one copy); norm weights are 1, biases 0.
 */
export function randomWeights(): (name: string, shape: readonly number[]) => Float32Array {
  const made = new Map<string, Float32Array>();
  return (name, shape) => {
    const existing = made.get(name);
    if (existing) return existing;
    let state = 1;
    for (const ch of name) state = (Math.imul(state, 31) + ch.charCodeAt(0)) >>> 0;
    state ||= 1;
    const n = shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n);
    if (/norm.*\.weight$/.test(name)) out.fill(1);
    else if (!name.endsWith(".bias")) {
      for (let i = 0; i < n; i++) {
        state ^= state << 13;
        state ^= state >>> 17;
        state ^= state << 5;
        out[i] = ((state >>> 0) / 4294967296 - 0.5) * 0.04;
      }
    }
    made.set(name, out);
    return out;
  };
}
