// The graph concept training and scoring run: the frozen decoder (weights are initializers) over input
// embeddings into which the concept rows are spliced, and a head with the concepts' identifier output rows
// appended to the frozen lm_head (logits = [hidden . lm_head^T, hidden . rows^T]), evaluated only at the
// answer positions. The training variant appends the backward graph for the concept rows alone, so a
// step is one InferenceSession.run that returns the loss and both gradients.
//
// Inputs (B x T a padded batch, right padding, causal attention):
//   inputs_embeds [B, T, H]    token rows and image features, concept slots left as anything
//   position_ids int64 [B, T], attention_bias [B, 1, T, T]
//   concept_rows [R, H]        every concept's input rows: identifier, then its latent rows
//   concept_slots int64 [S]    flat positions b*T + t of the slots; concept_slot_rows int64 [S] row per slot
//   head_rows [E, H]           identifier output rows (class V + e)
//   target_positions int64 [N], targets int64 [N] (class ids in [0, V + E)), target_weights [N]
//   with an attention target (training only): attention_rows int64 [M], attention_mask [M, T]
// Outputs: training: loss = -sum_n w_n log p(target_n) (+ weight x the attention-target loss),
//          grad/concept_rows, grad/head_rows; scoring: target_logprobs [N], logits [N, V + E].

import {
  add,
  type CompiledModel,
  compile,
  concat,
  Graph,
  gather,
  gatherElements,
  gemm,
  gradients,
  logSoftmax,
  mul,
  neg,
  reduceSum,
  reshape,
  squeeze,
  unsqueeze,
} from "../engine/index";
import { type AttentionTarget, decoderAttentionTargetLoss } from "../models/attention-target";
import { LlamaDecoder } from "../models/llama";
import { mergeImageFeatures } from "../models/multimodal";
import { frozenWeights } from "../models/weights";
import type { ConceptModel } from "./concept-model";

export type ConceptGraphKind = "train" | "score";

/** The graph's name, which also names its file: a training graph with an attention target differs. */
function graphName(kind: ConceptGraphKind, target: AttentionTarget | undefined): string {
  return target
    ? `concept_${kind}_attend_l${target.layer}h${target.head}w${target.weight}`
    : `concept_${kind}`;
}

export function buildConceptGraph(
  model: Pick<ConceptModel, "textConfig" | "textWeights" | "weights">,
  kind: ConceptGraphKind,
  /** Training only: the auxiliary loss on where one head looks from the answer position. */
  attentionTarget?: AttentionTarget,
): Graph {
  if (attentionTarget && kind !== "train") throw new Error("an attention target is a training loss");
  const c = model.textConfig;
  const h = c.hiddenSize;
  const g = new Graph(graphName(kind, attentionTarget));
  // Initializers (never differentiated): float32, or the loaded format's MatMulNBits, whose VJP gives d/dx.
  const decoder = new LlamaDecoder(
    g,
    c,
    model.weights ? model.weights.binding(g) : frozenWeights(g, "float32", model.textWeights),
  );
  const inputs = decoder.inputs("batch", "seq");
  const rows = g.input("concept_rows", "float32", ["concept_rows", h]);
  const slots = g.input("concept_slots", "int64", ["slots"]);
  const slotRows = g.input("concept_slot_rows", "int64", ["slots"]);
  const headRows = g.input("head_rows", "float32", ["head_rows", h]);
  const positions = g.input("target_positions", "int64", ["n"]);
  const targets = g.input("targets", "int64", ["n"]);
  const embeds = g.scope("concept/splice", () =>
    mergeImageFeatures(inputs.inputsEmbeds, gather(rows, slotRows, 0), slots),
  );
  const hidden = decoder.forward({ ...inputs, inputsEmbeds: embeds });
  const logProbs = g.scope("concept/head", () => {
    const picked = gather(reshape(hidden, [-1, h], { shape: ["rows", h] }), positions, 0);
    const logits = concat(
      [
        gemm(picked, decoder.lmHead(), null, { transB: true }),
        gemm(picked, headRows, null, { transB: true }),
      ],
      -1,
    );
    if (kind === "score") g.output(logits, "logits");
    return logSoftmax(logits, -1);
  });
  const targetLogProbs = g.scope("concept/loss", () =>
    squeeze(gatherElements(logProbs, unsqueeze(targets, [1]), 1), [1]),
  );
  if (kind === "score") {
    g.output(targetLogProbs, "target_logprobs");
    return g;
  }
  const weights = g.input("target_weights", "float32", ["n"]);
  let loss = g.scope("concept/loss", () =>
    neg(reduceSum(mul(targetLogProbs, weights), undefined, { keepdims: false })),
  );
  if (attentionTarget)
    loss = add(loss, mul(decoderAttentionTargetLoss(decoder, attentionTarget), attentionTarget.weight));
  g.output(loss, "loss");
  gradients(g, loss, [rows, headRows], { addOutputs: true });
  return g;
}

/** The compiled graphs of a base model (scoring, training with or without an attention target), built on
 * first use. */
export class ConceptGraphs {
  private readonly compiled = new Map<string, CompiledModel>();

  constructor(
    private readonly model: Pick<ConceptModel, "textConfig" | "textWeights" | "weights" | "fingerprint">,
    /** Write models with external data here (large checkpoints); default the converted weights'
     * directory when there is one, else in memory. */
    private readonly directory: string | undefined = model.weights?.directory,
  ) {}

  get(kind: ConceptGraphKind, attentionTarget?: AttentionTarget): CompiledModel {
    const name = graphName(kind, attentionTarget);
    let c = this.compiled.get(name);
    if (!c) {
      const graph = buildConceptGraph(this.model, kind, attentionTarget);
      const fp = this.model.fingerprint;
      c = compile(
        graph,
        this.directory
          ? {
              directory: this.directory,
              weightsFingerprint: `${fp.repo}@${fp.revision}#${fp.config_hash}${this.model.weights ? `#${this.model.weights.format}` : ""}`,
            }
          : {},
      );
      this.compiled.set(name, c);
    }
    return c;
  }
}
