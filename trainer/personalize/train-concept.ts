// trainConcept(): the Yo'LLaVA recipe on a frozen vision-language model. Trainable: the identifier's input
// row, k latent input rows and the identifier's output row (an extra lm_head class). Data: recognition
// over the user's photos (+ flips), retrieved hard negatives and random easy negatives, and text-only
// conversations from a teacher and/or the user's facts; recognition answers take the frozen model's own
// form (answer-style.ts). AdamW on the rows; each step is one onnxruntime run (loss + gradients); image
// features are computed once per image. The checkpoint kept is the best on held-out photos and pool
// negatives (never training images); training stops early when that stops improving, and can be
// cancelled between steps.

import type { TrainingReport } from "../../shared/concept-artifact";
import { CONCEPT_KINDS, CONCEPT_NAME_PATTERN, type ConceptKind } from "../../shared/concept-name";
import { MAX_LATENT_TOKENS } from "../../shared/limits";
import { AdamW } from "../engine/adamw";
import type { RgbImage } from "../vision/image";
import {
  type AnswerStyle,
  type RecognitionAnswers,
  SENTENCE_ANSWERS,
  selfAnswerStyle,
  wordAnswers,
} from "./answer-style";
import { conceptArtifact, encodeConcept } from "./artifact";
import { CheckpointSelector } from "./checkpoint-selection";
import type { ClipImageEncoder } from "./clip-encoder";
import { type ConceptRowsInput, conceptStep } from "./concept-batch";
import { ConceptGraphs } from "./concept-graph";
import type { ConceptModel } from "./concept-model";
import { type ConceptQA, conversationExamples } from "./conversation-data";
import { CONCEPT_DEFAULTS } from "./defaults";
import { ConceptTrainingError, throwIfCancelled } from "./errors";
import { type EncodedExample, type ExampleSpec, encodeExample } from "./examples";
import type { NegativesPool } from "./negatives-pool";
import { checkPhotos, type PhotoInput } from "./photos";
import { SeededRandom } from "./random";
import { recognitionExample, recognitionExamples } from "./recognition-data";
import { recognitionAccuracy, recognitionProbabilities, type YesNoIds, yesNoIds } from "./recognition-score";
import { type ConversationTeacher, SelfTeacher, teacherConversations } from "./teacher";
import { conversationKindOf } from "./templates";

/** Negatives from a pool (retrieval) or given directly (evaluations, tests). */
export type NegativesSource =
  | { pool: NegativesPool; clip: ClipImageEncoder }
  | { hard: readonly RgbImage[]; easy: readonly RgbImage[]; validation?: readonly RgbImage[] };

export interface TrainingProgress {
  phase: "data" | "train" | "validate" | "done";
  epoch: number;
  step: number;
  totalSteps: number;
  /** Loss of the last step (mean over its answer tokens). */
  loss?: number;
  elapsedMs: number;
  /** Remaining time at the current pace (ignores early stopping). */
  etaMs?: number;
  validation?: { weighted: number; loss: number };
}

export interface TrainConceptOptions {
  model: ConceptModel;
  name: string;
  kind: ConceptKind;
  photos: readonly PhotoInput[];
  negatives?: NegativesSource;
  /** Conversation teacher; default the frozen model itself (SelfTeacher); null for none. */
  teacher?: ConversationTeacher | null;
  /** Facts the user wrote (question template with {name}, answer naming the concept). */
  facts?: readonly ConceptQA[];
  latentTokens?: number;
  hardNegatives?: number;
  easyNegatives?: number;
  flip?: boolean;
  /** Positives are repeated up to this share of the negatives' count (default 0.5). */
  positiveShare?: number;
  /** How recognition answers are worded; "auto" (default) asks the frozen model (answer-style.ts). */
  answerStyle?: AnswerStyle | "auto";
  epochs?: number;
  /** First epochs without the hard negatives (default 4; 0: every epoch sees them). */
  warmupEpochs?: number;
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  seed?: number;
  patience?: number;
  validationFraction?: number;
  validationNegatives?: number;
  lengthBucket?: number;
  minPhotos?: number;
  /** Reuse compiled graphs across concepts of one base model. */
  graphs?: ConceptGraphs;
  onProgress?: (progress: TrainingProgress) => void;
  signal?: AbortSignal;
  version?: number;
}

export interface ConceptTrainingReport extends TrainingReport {
  data: {
    photos: number;
    train_photos: number;
    validation_photos: number;
    positives: number;
    hard_negatives: number;
    easy_negatives: number;
    conversations: number;
    validation_negatives: number;
    teacher: string;
    /** The recognition answers' wording, and the frozen model's answer that chose it (auto). */
    answer_style: AnswerStyle;
    answer_probe?: string;
  };
  config: {
    k: number;
    epochs: number;
    warmup_epochs: number;
    batch_size: number;
    lr: number;
    weight_decay: number;
    seed: number;
  };
  losses: number[];
  epochs_run: number;
  best_epoch: number;
  stopped_early: boolean;
  validation: {
    weighted: number;
    positive: number;
    negative: number;
    loss: number;
    balanced_loss: number;
  }[];
  steps: number;
  step_ms: number;
  data_ms: number;
  train_ms: number;
}

export interface TrainedConcept {
  rows: ConceptRowsInput;
  report: ConceptTrainingReport;
  /** The YOCN artifact (k = 0 included: identifier input and output rows only). */
  artifact: Uint8Array;
}

function checkOptions(o: TrainConceptOptions): void {
  const bad = (message: string) => {
    throw new ConceptTrainingError("bad_options", message);
  };
  if (!CONCEPT_NAME_PATTERN.test(o.name)) bad(`concept name ${JSON.stringify(o.name)} is not like <bo>`);
  if (!CONCEPT_KINDS.includes(o.kind)) bad(`unknown concept kind ${o.kind}`);
  const k = o.latentTokens ?? CONCEPT_DEFAULTS.latentTokens;
  if (!Number.isInteger(k) || k < 0 || k > MAX_LATENT_TOKENS)
    bad(`latent tokens must be 0..${MAX_LATENT_TOKENS}`);
  for (const [key, v] of Object.entries({
    epochs: o.epochs,
    batchSize: o.batchSize,
    lengthBucket: o.lengthBucket,
  })) {
    if (v !== undefined && (!Number.isInteger(v) || v < 1)) bad(`${key} must be a positive integer`);
  }
  for (const [key, v] of Object.entries({
    hardNegatives: o.hardNegatives,
    easyNegatives: o.easyNegatives,
    warmupEpochs: o.warmupEpochs,
  })) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) bad(`${key} must be a non-negative integer`);
  }
  if (o.lr !== undefined && !(o.lr > 0)) bad("lr must be positive");
  if (o.answerStyle !== undefined && !["auto", "sentence", "word"].includes(o.answerStyle))
    bad("answerStyle must be auto, sentence or word");
}

/** Initial rows: input rows near the embedding table's mean (spread by its per-dimension std), the output
 * row at the lm_head's mean row, so the new class starts as an average token. */
export function initialRows(
  model: ConceptModel,
  name: string,
  k: number,
  rng: SeededRandom,
): ConceptRowsInput {
  const c = model.textConfig;
  const h = c.hiddenSize;
  const table = model.embeddings.table;
  const head = (
    c.tieWordEmbeddings ? table : model.textWeights("lm_head.weight", [c.vocabSize, h])
  ) as Float32Array;
  const mean = new Float64Array(h);
  const sq = new Float64Array(h);
  const headMean = new Float64Array(h);
  for (let v = 0; v < c.vocabSize; v++) {
    for (let j = 0; j < h; j++) {
      const x = table[v * h + j]!;
      mean[j] = mean[j]! + x;
      sq[j] = sq[j]! + x * x;
      headMean[j] = headMean[j]! + head[v * h + j]!;
    }
  }
  const input = new Float32Array((1 + k) * h);
  for (let j = 0; j < h; j++) {
    const m = mean[j]! / c.vocabSize;
    const std = Math.sqrt(Math.max(sq[j]! / c.vocabSize - m * m, 0));
    for (let r = 0; r <= k; r++) input[r * h + j] = m + std * rng.normal();
  }
  const output = Float32Array.from(headMean, (x) => x / c.vocabSize);
  return { name, k, input, output };
}

async function poolNegatives(
  source: NegativesSource | undefined,
  trainPhotos: readonly RgbImage[],
  counts: { hard: number; easy: number; validation: number },
  rng: SeededRandom,
): Promise<{ hard: RgbImage[]; easy: RgbImage[]; validation: RgbImage[] }> {
  if (!source) return { hard: [], easy: [], validation: [] };
  if (!("pool" in source)) {
    return {
      hard: source.hard.slice(0, counts.hard),
      easy: source.easy.slice(0, counts.easy),
      validation: [...(source.validation ?? [])],
    };
  }
  const { pool, clip } = source;
  const otherWeights = pool.clipWeights !== undefined && pool.clipWeights !== clip.weights;
  if (pool.clip.config_hash !== clip.fingerprint.config_hash || otherWeights) {
    throw new ConceptTrainingError("pool_mismatch", "the pool was indexed with another CLIP model");
  }
  const queries = await clip.embed(trainPhotos);
  // Validation takes the next-hardest half and random others: never an image that is trained on.
  const ranked = pool.hardNegatives(queries, counts.hard + Math.ceil(counts.validation / 2));
  const hardIdx = ranked.slice(0, counts.hard);
  const valHard = ranked.slice(counts.hard);
  const taken = new Set(ranked);
  const easyIdx = pool.easyNegatives(counts.easy + Math.floor(counts.validation / 2), rng, taken);
  const load = (idx: number[]) => Promise.all(idx.map((i) => pool.image(i)));
  return {
    hard: await load(hardIdx),
    easy: await load(easyIdx.slice(0, counts.easy)),
    validation: await load([...valHard, ...easyIdx.slice(counts.easy)]),
  };
}

export async function trainConcept(options: TrainConceptOptions): Promise<TrainedConcept> {
  const started = performance.now();
  checkOptions(options);
  const o = { ...CONCEPT_DEFAULTS, ...stripUndefined(options) };
  const { model, name, signal } = options;
  const k = o.latentTokens;
  const rng = new SeededRandom(o.seed);
  const progress = (p: Omit<TrainingProgress, "elapsedMs">) =>
    options.onProgress?.({ ...p, elapsedMs: performance.now() - started });
  throwIfCancelled(signal);

  // 1. Input checks, before anything expensive.
  const photos = await checkPhotos(options.photos, { minPhotos: o.minPhotos });
  throwIfCancelled(signal);
  progress({ phase: "data", epoch: 0, step: 0, totalSteps: 0 });

  // 2. Held-out photos for checkpoint selection (only when some remain to train on).
  const order = rng.shuffle([...photos.keys()]);
  const nVal = photos.length >= 3 ? Math.max(1, Math.round(photos.length * o.validationFraction)) : 0;
  const valPhotos = order.slice(0, nVal).map((i) => photos[i]!);
  const trainPhotos = order.slice(nVal).map((i) => photos[i]!);

  // 3. Negatives and conversations.
  const negatives = await poolNegatives(
    options.negatives,
    trainPhotos,
    { hard: o.hardNegatives, easy: o.easyNegatives, validation: nVal > 0 ? o.validationNegatives : 0 },
    rng,
  );
  throwIfCancelled(signal);
  const teacher = options.teacher === undefined ? new SelfTeacher(model) : options.teacher;
  const answers = await recognitionAnswers(o.answerStyle, model, trainPhotos[0]!, options.kind, signal);
  throwIfCancelled(signal);
  const qa: ConceptQA[] = [...(options.facts ?? [])];
  if (teacher) {
    qa.push(
      ...(await teacherConversations(teacher, name, conversationKindOf(options.kind), trainPhotos, signal)),
    );
  }
  const specs: ExampleSpec[] = [
    ...recognitionExamples(
      name,
      k,
      { positives: trainPhotos, hardNegatives: negatives.hard, easyNegatives: negatives.easy },
      rng,
      { flip: o.flip, positiveShare: o.positiveShare, answers },
    ),
    ...conversationExamples(name, k, qa),
  ];
  const examples: EncodedExample[] = [];
  for (const spec of specs) {
    throwIfCancelled(signal);
    examples.push(await encodeExample(model, spec));
  }
  const validation: EncodedExample[] = [];
  for (const [image, label] of [
    ...valPhotos.map((p) => [p, "yes"] as const),
    ...negatives.validation.map((p) => [p, "no"] as const),
  ]) {
    validation.push(await encodeExample(model, recognitionExample(name, k, image, label, rng, answers)));
  }
  const graphs = options.graphs ?? new ConceptGraphs(model);
  const ids = await yesNoIds(model);
  checkDecisionTokens(examples, ids);
  const dataMs = performance.now() - started;

  // 4. Training. The warm-up epochs leave the hard negatives out: with look-alikes from the start the rows
  // can settle where every image gets the same answer (the decision at ln 2) and never leave, since what
  // tells a positive from a look-alike is a second-order signal there; against random scenes the rows
  // first learn to find the subject, then the hard negatives sharpen it (README.md, "Results").
  const warmup = examples.filter((e) => e.negative !== "hard");
  const warmupEpochs = Math.min(o.warmupEpochs, o.epochs);
  const epochExamples = (epoch: number) => (epoch <= warmupEpochs ? warmup : examples);
  const rows = initialRows(model, name, k, rng);
  const optimizer = new AdamW([rows.input, rows.output], { lr: o.lr, weightDecay: o.weightDecay });
  const stepsIn = (set: readonly EncodedExample[]) =>
    lengthGroupedBatches(set, o.batchSize, o.lengthBucket, new SeededRandom(0)).length;
  const totalSteps = stepsIn(warmup) * warmupEpochs + stepsIn(examples) * (o.epochs - warmupEpochs);
  const losses: number[] = [];
  const history: ConceptTrainingReport["validation"] = [];
  const selector = new CheckpointSelector<{ input: Float32Array; output: Float32Array }>(o.patience);
  let step = 0;
  let stepMsTotal = 0;
  let stoppedEarly = false;
  let epochsRun = 0;
  const trainStart = performance.now();
  for (let epoch = 1; epoch <= o.epochs; epoch++) {
    const batches = lengthGroupedBatches(epochExamples(epoch), o.batchSize, o.lengthBucket, rng);
    let epochLoss = 0;
    for (const batch of batches) {
      throwIfCancelled(signal);
      const t0 = performance.now();
      const result = await conceptStep(model, graphs, batch, [rows], o.lengthBucket);
      optimizer.step([result.gradInput[0]!, result.gradOutput[0]!]);
      stepMsTotal += performance.now() - t0;
      step++;
      epochLoss += result.loss;
      const perStep = (performance.now() - trainStart) / step;
      progress({
        phase: "train",
        epoch,
        step,
        totalSteps,
        loss: result.loss,
        etaMs: perStep * (totalSteps - step),
      });
    }
    losses.push(epochLoss / batches.length);
    epochsRun = epoch;
    if (validation.length === 0) continue;
    const pYes = await recognitionProbabilities(model, graphs, validation, [rows], ids, {
      bucket: o.lengthBucket,
      batchSize: o.batchSize,
    });
    const acc = recognitionAccuracy(
      pYes,
      validation.map((e) => e.label!),
    );
    history.push({
      weighted: acc.weighted,
      positive: acc.positive,
      negative: acc.negative,
      loss: acc.loss,
      balanced_loss: acc.balancedLoss,
    });
    progress({
      phase: "validate",
      epoch,
      step,
      totalSteps,
      validation: { weighted: acc.weighted, loss: acc.loss },
    });
    const verdict = selector.update(epoch, acc, () => ({
      input: rows.input.slice(),
      output: rows.output.slice(),
    }));
    if (verdict === "stop") {
      stoppedEarly = epoch < o.epochs;
      break;
    }
  }
  const best = selector.bestState;
  if (best) {
    rows.input.set(best.input);
    rows.output.set(best.output);
  }
  const trainMs = performance.now() - trainStart;
  const report: ConceptTrainingReport = {
    data: {
      photos: photos.length,
      train_photos: trainPhotos.length,
      validation_photos: valPhotos.length,
      positives: examples.filter((e) => e.label === "yes").length,
      hard_negatives: negatives.hard.length,
      easy_negatives: negatives.easy.length,
      conversations: qa.length,
      validation_negatives: negatives.validation.length,
      teacher: teacher?.name ?? (options.facts?.length ? "facts" : "none"),
      answer_style: answers.style,
      ...(answers.probe !== undefined ? { answer_probe: answers.probe } : {}),
    },
    config: {
      k,
      epochs: o.epochs,
      warmup_epochs: warmupEpochs,
      batch_size: o.batchSize,
      lr: o.lr,
      weight_decay: o.weightDecay,
      seed: o.seed,
    },
    losses,
    epochs_run: epochsRun,
    best_epoch: selector.bestEpoch ?? epochsRun,
    stopped_early: stoppedEarly,
    validation: history,
    steps: step,
    step_ms: step > 0 ? stepMsTotal / step : 0,
    data_ms: dataMs,
    train_ms: trainMs,
  };
  progress({ phase: "done", epoch: epochsRun, step, totalSteps });
  const artifact = encodeConcept(
    conceptArtifact(rows, {
      fingerprint: model.fingerprint,
      kind: options.kind,
      report,
      version: options.version,
    }),
  );
  return { rows, report, artifact };
}

/**
 * Shuffled batches of examples of the same padded length (text-only conversations are much shorter than
 * recognition turns with an image; mixing them would pad the short ones to the long ones' length).
 */
export function lengthGroupedBatches<T extends { length: number }>(
  examples: readonly T[],
  batchSize: number,
  bucket: number,
  rng: SeededRandom,
): T[][] {
  const groups = new Map<number, T[]>();
  for (const i of rng.shuffle([...examples.keys()])) {
    const e = examples[i]!;
    const key = Math.ceil((e.length + 1) / bucket);
    groups.set(key, [...(groups.get(key) ?? []), e]);
  }
  const batches: T[][] = [];
  for (const key of [...groups.keys()].sort((a, b) => a - b)) {
    const group = groups.get(key)!;
    for (let i = 0; i < group.length; i += batchSize) batches.push(group.slice(i, i + batchSize));
  }
  return rng.shuffle(batches);
}

/** The configured wording, or (auto) the frozen model's own, asked about one training photo. */
async function recognitionAnswers(
  style: AnswerStyle | "auto",
  model: ConceptModel,
  photo: RgbImage,
  kind: ConceptKind,
  signal?: AbortSignal,
): Promise<RecognitionAnswers & { probe?: string }> {
  if (style === "sentence") return SENTENCE_ANSWERS;
  if (style === "word") return wordAnswers();
  return selfAnswerStyle(model, photo, conversationKindOf(kind), signal);
}

/** Recognition is scored on the first answer token: the training answers must start with those tokens. */
function checkDecisionTokens(examples: readonly EncodedExample[], ids: YesNoIds): void {
  for (const e of examples) {
    if (e.kind !== "recognition") continue;
    const first = e.targets[0]?.target;
    const want = e.label === "yes" ? ids.yes : ids.no;
    if (!first || !("token" in first) || first.token !== want) {
      throw new ConceptTrainingError(
        "bad_options",
        `recognition answers must start with the scored ${e.label} token (${want}) in this model's tokenizer`,
      );
    }
  }
}

function stripUndefined<T extends object>(o: T): Partial<T> {
  return Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as Partial<T>;
}
