// An auxiliary loss on where one attention head looks from a row's answer position: -log of the
// attention mass it puts on the row's target tokens. Recognition quads (toyworld/train/recognition-quads.ts)
// target the patches of the object a yes/no question describes, or the first token (<s>) when nothing in
// the picture matches. The plain yes/no loss reaches the "find the described object" attention only through a product
// of two untrained circuits (where to look x what a look means), so its gradient starts near zero and
// every run sat at ln 2 per answer; this loss trains the first factor directly, and the answer follows.
// Measured in transformers and in our engine: toyworld README, "What to try next", item 1.

import type * as ort from "onnxruntime-node";
import {
  add,
  type Graph,
  gather,
  int64s,
  log,
  mul,
  neg,
  ortTensor,
  reduceMean,
  reduceSum,
  reshape,
  type Tensor,
} from "../engine/index";
import type { LlamaDecoder } from "./llama";

export interface AttentionTarget {
  /** Decoder layer whose attention is supervised (0-based). */
  layer: number;
  /** Query head within that layer. */
  head: number;
  /** Weight of the loss next to the token loss (a mean over answer tokens). */
  weight: number;
}

/** Graph inputs of the loss: which rows of the flattened [B*T] queries, and their target masks. */
export interface AttentionTargetInputs {
  /** int64 [N]: b * T + the answer position of each supervised row. */
  rows: Tensor;
  /** float32 [N, T]: 1 on the tokens the head should attend to. */
  mask: Tensor;
}

export function attentionTargetInputs(graph: Graph): AttentionTargetInputs {
  return {
    rows: graph.input("attention_rows", "int64", ["attention_targets"]),
    mask: graph.input("attention_mask", "float32", ["attention_targets", "seq"]),
  };
}

/** One supervised query: its row of the flattened [B*T] queries and the keys its head should look at. */
export interface AttentionQuery {
  row: number;
  keys: readonly number[];
}

/**
 * The loss's feeds (`attention_rows`, `attention_mask`) for `queries` over T keys. A batch without any
 * gets one dummy query whose mask covers every key: mass 1, loss 0, no gradient.
 */
export function attentionTargetFeeds(
  queries: readonly AttentionQuery[],
  T: number,
): Record<string, ort.Tensor> {
  const used = queries.length > 0 ? queries : [{ row: 0, keys: Array.from({ length: T }, (_, t) => t) }];
  const mask = new Float32Array(used.length * T);
  used.forEach((q, n) => {
    for (const t of q.keys) mask[n * T + t] = 1;
  });
  return {
    attention_rows: ortTensor(
      "int64",
      BigInt64Array.from(used, (q) => BigInt(q.row)),
      [used.length],
    ),
    attention_mask: ortTensor("float32", mask, [used.length, T]),
  };
}

/**
 * mean over the N rows of -log(sum over t of probs[b, head, answer, t] * mask[n, t]). `probs` is the
 * decoder's [B, kvHeads, groups, T, T] (LlamaDecoder.attentionProbs); query head h is kv head
 * floor(h / groups), group h % groups, as in HF's repeat_kv.
 */
export function attentionTargetLoss(probs: Tensor, head: number, inputs: AttentionTargetInputs): Tensor {
  const g = probs.graph;
  return g.scope("attention_target", () => {
    const groups = probs.shape[2] as number;
    const byKv = gather(probs, int64s(g, [Math.floor(head / groups)]), 1);
    const one = gather(byKv, int64s(g, [head % groups]), 2); // [B, 1, 1, T, T]
    const queries = reshape(one, [-1, probs.shape[4]!]); // [B*T, T]
    const picked = gather(queries, inputs.rows, 0); // [N, T]
    const mass = reduceSum(mul(picked, inputs.mask), [1], { keepdims: false });
    // + 1e-6 keeps log finite when the head has drifted off every target token (a max would cut the
    // gradient exactly where the loss is largest).
    return neg(reduceMean(log(add(mass, 1e-6)), undefined, { keepdims: false }));
  });
}

/**
 * The loss for `target` on a decoder whose forward() has run, with its inputs added to the decoder's
 * graph; refuses a layer or head the decoder does not have.
 */
export function decoderAttentionTargetLoss(decoder: LlamaDecoder, target: AttentionTarget): Tensor {
  const probs = decoder.attentionProbs.get(target.layer);
  if (!probs) throw new Error(`attention target: the LLM has no layer ${target.layer}`);
  if (!(Number.isInteger(target.head) && target.head >= 0 && target.head < decoder.config.numHeads))
    throw new Error(`attention target: the LLM has no head ${target.head}`);
  return attentionTargetLoss(probs, target.head, attentionTargetInputs(decoder.graph));
}
