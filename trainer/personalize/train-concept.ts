// trainConcept(): the Yo'LLaVA recipe on a frozen vision-language model. Trainable: the identifier's input
// row, k latent input rows and the identifier's output row (an extra lm_head class). Data: recognition
// over the user's photos (+ flips), retrieved hard negatives and random easy negatives, and text-only
// conversations from a teacher and/or the user's facts; recognition answers take the frozen model's own
// form (answer-style.ts). AdamW on the rows; each step is one onnxruntime run (loss + gradients); image
// features are computed once per image. Training is one or two runs from fresh rows (ConceptRun: the
// first without the hard negatives for a few epochs). The checkpoint kept is the best on held-out photos
// and pool negatives (never training images) over the runs; a run stops early when that stops
// improving, and training can be cancelled between steps.

import type { TrainingReport } from "../../shared/concept-artifact";
import { CONCEPT_KINDS, CONCEPT_NAME_PATTERN, type ConceptKind } from "../../shared/concept-name";
import { MAX_LATENT_TOKENS } from "../../shared/limits";
import { AdamW } from "../engine/adamw";
import type { AttentionTarget } from "../models/attention-target";
import type { RgbImage } from "../vision/image";
import {
  type AnswerStyle,
  type RecognitionAnswers,
  SENTENCE_ANSWERS,
  selfAnswerStyle,
  wordAnswers,
} from "./answer-style";
import { conceptArtifact, encodeConcept } from "./artifact";
import { CheckpointSelector, isBetterHeldOut } from "./checkpoint-selection";
import type { ClipImageEncoder } from "./clip-encoder";
import { type ConceptRowsInput, conceptStep } from "./concept-batch";
import { ConceptGraphs } from "./concept-graph";
import { type ConceptModel, imageDigest } from "./concept-model";
import { type ConceptQA, conversationExamples, repeatedConversations } from "./conversation-data";
import { CONCEPT_DEFAULTS, type ConceptRunConfig } from "./defaults";
import { ConceptTrainingError, throwIfCancelled } from "./errors";
import { type EncodedExample, type ExampleSpec, encodeExample } from "./examples";
import type { NegativesPool } from "./negatives-pool";
import { checkPhotos, type PhotoInput } from "./photos";
import { SeededRandom } from "./random";
import { recognitionExample, recognitionExamples } from "./recognition-data";
import { recognitionAccuracy, recognitionProbabilities, type YesNoIds, yesNoIds } from "./recognition-score";
import { subjectRows } from "./subject-location";
import { type ConversationTeacher, SelfTeacher, teacherConversations } from "./teacher";
import { conversationKindOf } from "./templates";

/** Negatives from a pool (retrieval) or given directly (evaluations, tests). */
export type NegativesSource =
  | { pool: NegativesPool; clip: ClipImageEncoder }
  | { hard: readonly RgbImage[]; easy: readonly RgbImage[]; validation?: readonly RgbImage[] };

export interface TrainingProgress {
  phase: "data" | "train" | "validate" | "done";
  /** The epoch within the current run (runs restart at 1). */
  epoch: number;
  step: number;
  /**
   * Steps done plus the steps still possible (every run left at full length, a conditional run
   * included). Never grows: it shrinks when a run stops early or a conditional run is skipped, and
   * equals `step` once training is over.
   */
  totalSteps: number;
  /** Loss of the last step (mean over its answer tokens). */
  loss?: number;
  elapsedMs: number;
  /** Remaining time at the current pace, for the steps still possible (`totalSteps - step`). */
  etaMs?: number;
  validation?: { weighted: number; loss: number };
}

export type { ConceptRunConfig };

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
  /** Conversation turns are repeated up to this share of the recognition turns' count (default 1/3; 0
   * trains each once). */
  conversationShare?: number;
  /** How recognition answers are worded; "auto" (default) asks the frozen model (answer-style.ts). */
  answerStyle?: AnswerStyle | "auto";
  epochs?: number;
  /** Training runs from fresh rows, each with its warm-up (epochs without the hard negatives); the
   * checkpoint kept is the best on held-out data over all runs. Default (defaults.ts): warm-up 4; then
   * warm-up 0 only when the first run's best held-out weighted accuracy is under 0.75. */
  runs?: readonly ConceptRunConfig[];
  batchSize?: number;
  lr?: number;
  weightDecay?: number;
  /**
   * An attention head the base model was trained to point at the object a question describes (the toy
   * LLaVA's layer 2 head 0): recognition examples add a loss on where it looks from the answer position,
   * at the subject's rows for a "yes" (located without labels, subject-location.ts), at the first token
   * for a "no" (concept-batch.ts). Default: the base's
   * (model.attentionTarget, from its concept_recipe.json); null for none.
   */
  attentionTarget?: AttentionTarget | null;
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
    /** Distinct conversation turns (facts and teacher answers). */
    conversations: number;
    /** Conversation turns trained per epoch, repeats included (conversationShare). */
    conversation_examples: number;
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
    /** The attention-target loss it trained with, when one was on. */
    attention_target?: AttentionTarget;
  };
  /** Every run (the fields below describe the chosen one). */
  runs: {
    warmup_epochs: number;
    epochs_run: number;
    best_epoch: number;
    best_balanced_loss?: number;
    best_weighted?: number;
  }[];
  chosen_run: number;
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

/** The attention target a job trains with: its own, else its base model's; null turns it off. */
function attentionTargetOf(o: TrainConceptOptions): AttentionTarget | undefined {
  return (o.attentionTarget === undefined ? o.model.attentionTarget : o.attentionTarget) ?? undefined;
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
  for (const [key, v] of Object.entries({ hardNegatives: o.hardNegatives, easyNegatives: o.easyNegatives })) {
    if (v !== undefined && (!Number.isInteger(v) || v < 0)) bad(`${key} must be a non-negative integer`);
  }
  if (o.lr !== undefined && !(o.lr > 0)) bad("lr must be positive");
  for (const [key, v] of Object.entries({
    positiveShare: o.positiveShare,
    conversationShare: o.conversationShare,
  })) {
    if (v !== undefined && !(v >= 0 && v <= MAX_SHARE)) bad(`${key} must be in [0, ${MAX_SHARE}]`);
  }
  if (o.runs !== undefined) {
    if (o.runs.length === 0 || o.runs.length > MAX_RUNS) bad(`runs must hold 1..${MAX_RUNS} entries`);
    for (const r of o.runs) {
      if (!Number.isInteger(r.warmupEpochs) || r.warmupEpochs < 0)
        bad("a run's warmupEpochs must be a non-negative integer");
      if (r.whenBestBelow !== undefined && !(r.whenBestBelow >= 0 && r.whenBestBelow <= 1))
        bad("a run's whenBestBelow must be in [0, 1]");
    }
  }
  const a = attentionTargetOf(o);
  if (a) {
    const c = o.model.textConfig;
    if (!(Number.isInteger(a.layer) && a.layer >= 0 && a.layer < c.numLayers))
      bad(`attentionTarget.layer must be 0..${c.numLayers - 1}`);
    if (!(Number.isInteger(a.head) && a.head >= 0 && a.head < c.numHeads))
      bad(`attentionTarget.head must be 0..${c.numHeads - 1}`);
    if (!(a.weight > 0 && Number.isFinite(a.weight))) bad("attentionTarget.weight must be positive");
  }
  if (o.answerStyle !== undefined && !["auto", "sentence", "word"].includes(o.answerStyle))
    bad("answerStyle must be auto, sentence or word");
}

/** Most training runs one concept may ask for (each costs a whole schedule). */
const MAX_RUNS = 4;
/** Largest positive or conversation share: each repeat is a training turn per epoch. */
const MAX_SHARE = 4;
/** Runs after the first draw rows and batch orders from seeds this far apart. */
const RUN_SEED_STRIDE = 1_000_003;

/**
 * One run of training from fresh rows. Whether the rows find the subject is close to a coin toss per run
 * on the toy LLaVA: they can settle where every image gets the same answer (the decision at ln 2) and not
 * leave, since what tells a positive from a look-alike is a second-order signal there. A warm-up without
 * the hard negatives gets most concepts off that plateau (against random scenes the rows first learn to
 * find the subject, then the look-alikes sharpen it), but with some photo sets it is the warm-up that
 * sticks; a second run without it, trained only when the first stays under a held-out accuracy and
 * judged on the same held-out data, covers those (README.md, "Two runs").
 */
interface ConceptRun {
  warmupEpochs: number;
  rows: ConceptRowsInput;
  /** Mean training loss per epoch run (its length is the epochs run). */
  losses: number[];
  history: ConceptTrainingReport["validation"];
  selector: CheckpointSelector<{ input: Float32Array; output: Float32Array }>;
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

/** Random negatives the subject's rows are contrasted with (subject-location.ts); more cost more. */
const LOCATION_NEGATIVES = 16;

/**
 * Sets `subjectPositions` on the positive recognition examples: the rows of their photo (or its flip)
 * that match the other positives and not the random negatives.
 */
async function locateSubject(
  model: ConceptModel,
  specs: readonly ExampleSpec[],
  examples: EncodedExample[],
  easyNegatives: readonly RgbImage[],
): Promise<void> {
  const h = model.textConfig.hiddenSize;
  const byDigest = new Map<string, { features: Float32Array; examples: EncodedExample[] }>();
  for (const [i, spec] of specs.entries()) {
    const e = examples[i]!;
    if (e.kind !== "recognition" || e.label !== "yes" || spec.images.length !== 1) continue;
    const key = imageDigest(spec.images[0]!);
    let entry = byDigest.get(key);
    if (!entry) {
      entry = { features: (await model.prepareImage(spec.images[0]!)).features, examples: [] };
      byDigest.set(key, entry);
    }
    entry.examples.push(e);
  }
  const entries = [...byDigest.values()];
  const negatives = await Promise.all(
    easyNegatives
      .slice(0, LOCATION_NEGATIVES)
      .map(async (image) => (await model.prepareImage(image)).features),
  );
  const located = subjectRows(
    entries.map((e) => e.features),
    negatives,
    h,
  );
  entries.forEach((entry, i) => {
    for (const e of entry.examples) e.subjectPositions = located[i]!.map((r) => e.imagePositions[r]!);
  });
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
  const attentionTarget = attentionTargetOf(options);
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
  const recognition = recognitionExamples(
    name,
    k,
    { positives: trainPhotos, hardNegatives: negatives.hard, easyNegatives: negatives.easy },
    rng,
    { flip: o.flip, positiveShare: o.positiveShare, answers },
  );
  const encode = async (list: readonly ExampleSpec[]) => {
    const encoded: EncodedExample[] = [];
    for (const spec of list) {
      throwIfCancelled(signal);
      encoded.push(await encodeExample(model, spec));
    }
    return encoded;
  };
  // Each distinct conversation turn is encoded once; its repeats share the encoding (nothing mutates a
  // text-only example).
  const conversationSpecs = conversationExamples(name, k, qa);
  const conversationEncoded = await encode(conversationSpecs);
  const specs: ExampleSpec[] = [
    ...recognition,
    ...repeatedConversations(conversationSpecs, recognition.length, o.conversationShare),
  ];
  const examples: EncodedExample[] = [
    ...(await encode(recognition)),
    ...repeatedConversations(conversationEncoded, recognition.length, o.conversationShare),
  ];
  if (attentionTarget) await locateSubject(model, specs, examples, negatives.easy);
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

  // 4. Training: one run per configuration (ConceptRun), the best held-out checkpoint of all kept.
  const warmup = examples.filter((e) => e.negative !== "hard");
  const stepsIn = (set: readonly EncodedExample[]) =>
    lengthGroupedBatches(set, o.batchSize, o.lengthBucket, new SeededRandom(0)).length;
  const [warmupSteps, fullSteps] = [stepsIn(warmup), stepsIn(examples)];
  // Without held-out data nothing can choose between runs: the first one trains alone.
  const configs = validation.length > 0 ? o.runs : o.runs.slice(0, 1);
  const warmupOf = (c: ConceptRunConfig) => Math.min(c.warmupEpochs, o.epochs);
  // Steps of a run's epochs from `from` (1-based) to the last.
  const stepsFrom = (c: ConceptRunConfig, from: number) =>
    warmupSteps * Math.max(0, warmupOf(c) - from + 1) +
    fullSteps * (o.epochs - Math.max(from - 1, warmupOf(c)));
  let totalSteps = configs.reduce((n, c) => n + stepsFrom(c, 1), 0);
  let step = 0;
  let stepMsTotal = 0;
  const trainStart = performance.now();
  const train = async (config: ConceptRunConfig, runRng: SeededRandom): Promise<ConceptRun> => {
    const warmupEpochs = warmupOf(config);
    const rows = initialRows(model, name, k, runRng);
    const optimizer = new AdamW([rows.input, rows.output], { lr: o.lr, weightDecay: o.weightDecay });
    const run: ConceptRun = {
      warmupEpochs,
      rows,
      losses: [],
      history: [],
      selector: new CheckpointSelector(o.patience),
    };
    for (let epoch = 1; epoch <= o.epochs; epoch++) {
      const set = epoch <= warmupEpochs ? warmup : examples;
      const batches = lengthGroupedBatches(set, o.batchSize, o.lengthBucket, runRng);
      let epochLoss = 0;
      for (const batch of batches) {
        throwIfCancelled(signal);
        const t0 = performance.now();
        const result = await conceptStep(model, graphs, batch, [rows], o.lengthBucket, attentionTarget);
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
      run.losses.push(epochLoss / batches.length);
      if (validation.length === 0) continue;
      const pYes = await recognitionProbabilities(model, graphs, validation, [rows], ids, {
        bucket: o.lengthBucket,
        batchSize: o.batchSize,
      });
      const acc = recognitionAccuracy(
        pYes,
        validation.map((e) => e.label!),
      );
      run.history.push({
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
      const verdict = run.selector.update(epoch, acc, () => ({
        input: rows.input.slice(),
        output: rows.output.slice(),
      }));
      if (verdict === "stop") break;
    }
    totalSteps -= stepsFrom(config, run.losses.length + 1); // the epochs an early stop left out
    const best = run.selector.bestState;
    if (best) {
      rows.input.set(best.input);
      rows.output.set(best.output);
    }
    return run;
  };
  const runs: ConceptRun[] = [];
  for (const [i, config] of configs.entries()) {
    const bestSoFar = Math.max(...runs.map((r) => r.selector.bestScore?.weighted ?? 0));
    if (config.whenBestBelow !== undefined && runs.length > 0 && bestSoFar >= config.whenBestBelow) {
      totalSteps -= stepsFrom(config, 1);
      continue;
    }
    // The first run draws from the job's generator: `runs: [{ warmupEpochs: 0 }]` is exactly the
    // single-run recipe of before.
    runs.push(await train(config, i === 0 ? rng : new SeededRandom(o.seed + RUN_SEED_STRIDE * i)));
  }
  let chosen = 0;
  runs.forEach((r, i) => {
    const score = r.selector.bestScore;
    if (score && isBetterHeldOut(score, runs[chosen]!.selector.bestScore)) chosen = i;
  });
  const run = runs[chosen]!;
  const rows = run.rows;
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
      conversation_examples: examples.length - recognition.length,
      validation_negatives: negatives.validation.length,
      teacher: teacher?.name ?? (options.facts?.length ? "facts" : "none"),
      answer_style: answers.style,
      ...(answers.probe !== undefined ? { answer_probe: answers.probe } : {}),
    },
    config: {
      k,
      epochs: o.epochs,
      warmup_epochs: run.warmupEpochs,
      batch_size: o.batchSize,
      lr: o.lr,
      weight_decay: o.weightDecay,
      seed: o.seed,
      ...(attentionTarget ? { attention_target: attentionTarget } : {}),
    },
    runs: runs.map((r) => ({
      warmup_epochs: r.warmupEpochs,
      epochs_run: r.losses.length,
      best_epoch: r.selector.bestEpoch ?? r.losses.length,
      ...(r.selector.bestScore
        ? {
            best_balanced_loss: r.selector.bestScore.balancedLoss,
            best_weighted: r.selector.bestScore.weighted,
          }
        : {}),
    })),
    chosen_run: chosen,
    losses: run.losses,
    epochs_run: run.losses.length,
    best_epoch: run.selector.bestEpoch ?? run.losses.length,
    // A run ends before its last epoch only when early stopping ends it.
    stopped_early: run.losses.length < o.epochs,
    validation: run.history,
    steps: step,
    step_ms: step > 0 ? stepMsTotal / step : 0,
    data_ms: dataMs,
    train_ms: trainMs,
  };
  progress({ phase: "done", epoch: run.losses.length, step, totalSteps });
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
