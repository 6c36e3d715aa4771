// Masked token cross-entropy that only computes logits at the target positions: N rows of the hidden
// states times the lm_head, never the full vocabulary over the whole sequence.

import type { Tensor } from "./graph";
import { gather, gatherElements, gemm, logSoftmax, neg, reduceMean, reshape, unsqueeze } from "./ops/index";

export interface TokenCrossEntropyOptions {
  /** "out_in": lm_head is [vocab, hidden] as in HF checkpoints (default); "in_out": [hidden, vocab]. */
  lmHeadLayout?: "out_in" | "in_out";
}

/**
 * mean over n of -log softmax(hidden[positions[n]] . lmHead)[targets[n]].
 * hidden: [B, T, H] or [M, H]; positions: int64 [N] indices into the flattened B*T rows;
 * targets: int64 [N] token ids; lmHead: [V, H] (or [H, V] with lmHeadLayout "in_out").
 */
export function maskedTokenCrossEntropy(
  hidden: Tensor,
  positions: Tensor,
  targets: Tensor,
  lmHead: Tensor,
  options: TokenCrossEntropyOptions = {},
): Tensor {
  const g = hidden.graph;
  return g.scope("loss", () => {
    const width = hidden.shape[hidden.rank - 1]!;
    const rows = hidden.rank === 2 ? hidden : reshape(hidden, [-1, width]);
    const picked = gather(rows, positions, 0);
    const logits = gemm(picked, lmHead, null, { transB: (options.lmHeadLayout ?? "out_in") === "out_in" });
    const logProbs = logSoftmax(logits, -1);
    const targetLogProbs = gatherElements(logProbs, unsqueeze(targets, [1]), 1);
    return neg(reduceMean(targetLogProbs, undefined, { keepdims: false }));
  });
}
