// Padded batches for the concept graphs and the two ways of running them: a training step (loss and the
// gradients of the concept rows) and scoring (log-probabilities of the answer tokens, logits at the first
// answer position). Lengths are padded to a bucket so a few shapes cover every batch.

import type * as ort from "onnxruntime-node";
import { ortTensor } from "../engine/index";
import { type AttentionQuery, type AttentionTarget, attentionTargetFeeds } from "../models/attention-target";
import { causalAttentionBias } from "../models/llama";
import type { ConceptGraphs } from "./concept-graph";
import type { ConceptModel } from "./concept-model";
import type { EncodedExample } from "./examples";

/** One concept's rows as the graphs take them. */
export interface ConceptRowsInput {
  name: string;
  k: number;
  /** [(1 + k) * hidden]: identifier input row, then the latent rows. */
  input: Float32Array;
  /** [hidden]: the identifier output row. */
  output: Float32Array;
}

export interface BatchFeeds {
  feeds: Record<string, ort.Tensor>;
  /** Per target, in order: the example it belongs to. */
  targetExample: number[];
  /** Per target: its weight in the training loss. */
  weights: number[];
  seq: number;
}

const biasCache = new Map<string, Float32Array>();

function causalBias(batch: number, seq: number): Float32Array {
  const key = `${batch}x${seq}`;
  let bias = biasCache.get(key);
  if (!bias) {
    bias = causalAttentionBias(batch, seq, "float32") as Float32Array;
    biasCache.set(key, bias);
  }
  return bias;
}

/**
 * Feeds for `examples` with `concepts` spliced in. Every batch has at least one padding column, which
 * takes a dummy slot when no concept is present (the graphs need one); right padding never changes the
 * real positions (causal attention).
 */
export function batchFeeds(
  model: ConceptModel,
  examples: readonly EncodedExample[],
  concepts: readonly ConceptRowsInput[],
  options: { bucket: number; firstTargetOnly?: boolean; weights?: (example: number, n: number) => number },
): BatchFeeds {
  const h = model.textConfig.hiddenSize;
  const vocab = model.textConfig.vocabSize;
  const batch = examples.length;
  const longest = Math.max(...examples.map((e) => e.length));
  const seq = Math.ceil((longest + 1) / options.bucket) * options.bucket;
  const embeds = new Float32Array(batch * seq * h);
  // Padding positions take position 0: they come after every real token, so causal attention keeps them
  // out of the real rows, and the bucketed length may exceed the model's position table.
  const positions = new BigInt64Array(batch * seq);
  examples.forEach((e, b) => {
    for (let t = 0; t < e.length; t++) positions[b * seq + t] = BigInt(t);
  });
  const rowOffset = new Map<string, { offset: number; k: number; index: number }>();
  let rows = 0;
  concepts.forEach((c, index) => {
    rowOffset.set(c.name, { offset: rows, k: c.k, index });
    rows += 1 + c.k;
  });
  const conceptRows = new Float32Array(Math.max(rows, 1) * h);
  concepts.forEach((c) => {
    conceptRows.set(c.input, rowOffset.get(c.name)!.offset * h);
  });
  const headRows = new Float32Array(Math.max(concepts.length, 1) * h);
  concepts.forEach((c, i) => {
    headRows.set(c.output, i * h);
  });
  const slots: bigint[] = [];
  const slotRows: bigint[] = [];
  const targetPositions: bigint[] = [];
  const targets: bigint[] = [];
  const weights: number[] = [];
  const targetExample: number[] = [];
  examples.forEach((e, b) => {
    embeds.set(e.embeds, b * seq * h);
    for (const s of e.slots) {
      const entry = rowOffset.get(s.name);
      if (!entry) throw new Error(`batch: example uses concept ${s.name}, which has no rows here`);
      if (s.row > entry.k)
        throw new Error(`batch: ${s.name} has ${entry.k} latent rows, slot wants ${s.row}`);
      slots.push(BigInt(b * seq + s.position));
      slotRows.push(BigInt(entry.offset + s.row));
    }
    const used = options.firstTargetOnly ? e.targets.slice(0, 1) : e.targets;
    for (const t of used) {
      targetPositions.push(BigInt(b * seq + t.position));
      if ("token" in t.target) targets.push(BigInt(t.target.token));
      else {
        const entry = rowOffset.get(t.target.concept);
        if (!entry) throw new Error(`batch: answer names ${t.target.concept}, which has no rows here`);
        targets.push(BigInt(vocab + entry.index));
      }
      weights.push(options.weights ? options.weights(b, used.length) : 1);
      targetExample.push(b);
    }
  });
  if (slots.length === 0) {
    // The last column is padding in every row.
    slots.push(BigInt(seq - 1));
    slotRows.push(0n);
  }
  const feeds: Record<string, ort.Tensor> = {
    inputs_embeds: ortTensor("float32", embeds, [batch, seq, h]),
    position_ids: ortTensor("int64", positions, [batch, seq]),
    attention_bias: ortTensor("float32", causalBias(batch, seq), [batch, 1, seq, seq]),
    concept_rows: ortTensor("float32", conceptRows, [conceptRows.length / h, h]),
    concept_slots: ortTensor("int64", BigInt64Array.from(slots), [slots.length]),
    concept_slot_rows: ortTensor("int64", BigInt64Array.from(slotRows), [slotRows.length]),
    head_rows: ortTensor("float32", headRows, [headRows.length / h, h]),
    target_positions: ortTensor("int64", BigInt64Array.from(targetPositions), [targetPositions.length]),
    targets: ortTensor("int64", BigInt64Array.from(targets), [targets.length]),
  };
  return { feeds, targetExample, weights, seq };
}

export interface StepResult {
  loss: number;
  /** Per concept, same layout as its rows. */
  gradInput: Float32Array[];
  gradOutput: Float32Array[];
}

/**
 * Feeds of the attention-target loss (models/attention-target.ts) for a batch: per recognition example
 * with an image, the position that predicts its first answer token and a mask over the keys: for a "yes"
 * the subject's rows (subject-location.ts) or, when not located, the whole image; for a "no" the first
 * token (where a locating head rests when nothing matches); a batch without one gets the dummy query.
 */
export function conceptAttentionTargetFeeds(
  examples: readonly EncodedExample[],
  seq: number,
): Record<string, ort.Tensor> {
  const queries: AttentionQuery[] = [];
  examples.forEach((e, b) => {
    if (e.kind !== "recognition" || !e.label || e.imagePositions.length === 0) return;
    const keys = e.label === "yes" ? (e.subjectPositions ?? e.imagePositions) : [0];
    queries.push({ row: b * seq + e.targets[0]!.position, keys });
  });
  return attentionTargetFeeds(queries, seq);
}

/**
 * One training step's forward + backward: the loss is the mean over all answer tokens of the batch, plus
 * the attention-target loss when one is given.
 */
export async function conceptStep(
  model: ConceptModel,
  graphs: ConceptGraphs,
  examples: readonly EncodedExample[],
  concepts: readonly ConceptRowsInput[],
  bucket: number,
  attentionTarget?: AttentionTarget,
): Promise<StepResult> {
  const h = model.textConfig.hiddenSize;
  const total = examples.reduce((s, e) => s + e.targets.length, 0);
  const built = batchFeeds(model, examples, concepts, { bucket, weights: () => 1 / total });
  built.feeds.target_weights = ortTensor("float32", Float32Array.from(built.weights), [built.weights.length]);
  if (attentionTarget) Object.assign(built.feeds, conceptAttentionTargetFeeds(examples, built.seq));
  const out = await model.runtime.run(graphs.get("train", attentionTarget), built.feeds);
  const gRows = out["grad/concept_rows"]!.data as Float32Array;
  const gHead = out["grad/head_rows"]!.data as Float32Array;
  const gradInput: Float32Array[] = [];
  let offset = 0;
  for (const c of concepts) {
    gradInput.push(gRows.slice(offset * h, (offset + 1 + c.k) * h));
    offset += 1 + c.k;
  }
  const gradOutput = concepts.map((_, i) => gHead.slice(i * h, (i + 1) * h));
  return { loss: (out.loss!.data as Float32Array)[0]!, gradInput, gradOutput };
}

export interface ExampleScore {
  /** log p of each answer token (only the first with firstTargetOnly). */
  logProbs: number[];
  /** Logits over [V + concepts] at the first answer position. */
  firstLogits: Float32Array;
}

/** Scores examples in batches of `batchSize`. */
export async function scoreExamples(
  model: ConceptModel,
  graphs: ConceptGraphs,
  examples: readonly EncodedExample[],
  concepts: readonly ConceptRowsInput[],
  options: { bucket: number; batchSize: number; firstTargetOnly?: boolean },
): Promise<ExampleScore[]> {
  const results: ExampleScore[] = [];
  for (let i = 0; i < examples.length; i += options.batchSize) {
    const chunk = examples.slice(i, i + options.batchSize);
    const built = batchFeeds(model, chunk, concepts, options);
    const out = await model.runtime.run(graphs.get("score"), built.feeds);
    const logProbs = out.target_logprobs!.data as Float32Array;
    const logits = out.logits!.data as Float32Array;
    const width = logits.length / logProbs.length;
    const scores: ExampleScore[] = chunk.map(() => ({ logProbs: [], firstLogits: new Float32Array(0) }));
    built.targetExample.forEach((b, n) => {
      const s = scores[b]!;
      if (s.logProbs.length === 0) s.firstLogits = logits.slice(n * width, (n + 1) * width);
      s.logProbs.push(logProbs[n]!);
    });
    results.push(...scores);
  }
  return results;
}
