// npm run eval:yollava: the Yo'LLaVA recipe on toy-world concepts, with baselines and ablations, in one
// run. One JSON line per row ({"bench":"yollava","row":...}):
//   row "concept": per concept and method (yollava, vanilla, text_prompt, image_prompt, and the reference
//     inline_description: the written description instead of the name): recognition
//     positive/negative/weighted accuracy on held-out renders (test positives of the concept vs test
//     positives of the other evaluated concepts plus held-out hard negatives), text-only and visual
//     multiple-choice accuracy; for yollava also the time to learn the concept.
//   row "summary": means over concepts per method.
//   row "ablation": latent tokens in {0,1,2,4,8,16}, positives in {1,3,5}, hard negatives on/off, the
//     locating head's attention-target loss on/off (when the base has one), training
//     runs (each a warm-up of epochs without hard negatives): each of the main runs alone against all of
//     them, the conversation turns repeated to their share of the recognition turns against each trained
//     once (on the first --ablation-concepts concepts; recognition and text multiple choice).
// Flags: --model DIR --clip DIR --concepts 10 --ablation-concepts 3 --no-ablations --photos 10
//   --test-positives 20 --test-hard 20 --others 2 --pool-size 3000 --pool-dir DIR --teacher facts|self|both
//   --epochs N --attention-target L,H[,W]|none (the loss on where head H of layer L looks, weight W;
//   default the base model's concept_recipe.json)
//   --runs 4,0@0.75 (per training run: warm-up epochs [@ train only below this held-out
//   accuracy]) --batch N --hard N --easy N --positive-share X --conversation-share X --patience N --lr X
//   --threads 2
//   --image-prompt-k 2 (the toy LLaVA has 256 positions: 65 rows per image)
//   --oracle-hard N (a diagnostic, not the recipe: instead of the pool, N of the concept's own look-alikes
//   from the train split as hard negatives, 100 train-split scenes without it as easy negatives, and 8 + 8
//   of each from the val split held out; what no user's pool gives, to measure what ideal negatives can do;
//   meant with --no-ablations, whose negative counts are the pool's)
//   (--tokenizer DIR --fold-vocab: run on a fixture whose tokenizer is not in its directory; numbers are
//   then meaningless, it only shows the harness runs.)

import { existsSync } from "node:fs";
import { join } from "node:path";
import { parseArgs } from "node:util";
import type { ConceptKind } from "../../shared/concept-name";
import { Runtime } from "../engine/index";
import { ClipImageEncoder } from "../personalize/clip-encoder";
import {
  type ConceptMethod,
  type EvalContext,
  evaluateMultipleChoice,
  evaluateRecognition,
  type MultipleChoiceItem,
} from "../personalize/concept-eval";
import { ConceptGraphs } from "../personalize/concept-graph";
import { loadConceptModel } from "../personalize/concept-model";
import type { ConceptQA } from "../personalize/conversation-data";
import { CONCEPT_DEFAULTS, type ConceptRunConfig } from "../personalize/defaults";
import { buildNegativesPool, NegativesPool, POOL_INDEX_JSON } from "../personalize/negatives-pool";
import { SeededRandom } from "../personalize/random";
import { type RecognitionAccuracy, yesNoIds } from "../personalize/recognition-score";
import { type ConversationTeacher, SelfTeacher } from "../personalize/teacher";
import { type NegativesSource, type TrainConceptOptions, trainConcept } from "../personalize/train-concept";
import {
  CONCEPTS,
  conceptDescription,
  conceptFacts,
  conceptSamples,
  conceptVqaItems,
  renderRecipe,
  renderSample,
  type ToyConcept,
  writeNegativesPool,
} from "../toyworld/index";
import { objectPhrase } from "../toyworld/language/phrases";
import { CELLS, COLOURS, MARKS, PATTERNS, SHAPES } from "../toyworld/vocabulary";

const { values } = parseArgs({
  options: {
    model: { type: "string", default: "trainer/toyworld/models/toy-llava" },
    clip: { type: "string", default: "trainer/toyworld/models/toy-clip" },
    tokenizer: { type: "string" },
    "fold-vocab": { type: "boolean", default: false },
    concepts: { type: "string", default: "10" },
    "ablation-concepts": { type: "string", default: "3" },
    "no-ablations": { type: "boolean", default: false },
    photos: { type: "string", default: "10" },
    "test-positives": { type: "string", default: "20" },
    "test-hard": { type: "string", default: "20" },
    others: { type: "string", default: "2" },
    "pool-size": { type: "string", default: "3000" },
    "pool-dir": { type: "string" },
    teacher: { type: "string", default: "facts" },
    epochs: { type: "string" },
    runs: { type: "string" },
    batch: { type: "string" },
    threads: { type: "string", default: "2" },
    "image-prompt-k": { type: "string", default: "2" },
    hard: { type: "string" },
    easy: { type: "string" },
    "positive-share": { type: "string" },
    "conversation-share": { type: "string" },
    patience: { type: "string" },
    lr: { type: "string" },
    "attention-target": { type: "string" },
    "oracle-hard": { type: "string" },
  },
});
const int = (key: keyof typeof values) => Number(values[key]);
const optNum = (key: keyof typeof values) => (values[key] === undefined ? undefined : Number(values[key]));
/** --runs 4,0@0.75: one training run per entry, its warm-up epochs [@ the held-out accuracy under which
 * it trains at all] (ConceptRunConfig). */
const runLabel = (r: ConceptRunConfig) =>
  r.whenBestBelow === undefined ? String(r.warmupEpochs) : `${r.warmupEpochs}@${r.whenBestBelow}`;
const runConfigs = values.runs?.split(",").map((entry): ConceptRunConfig => {
  const [w, below] = entry.split("@");
  return { warmupEpochs: Number(w), ...(below !== undefined ? { whenBestBelow: Number(below) } : {}) };
});
/** --attention-target 2,0,1 (layer, head, weight of the concept's attention-target loss) or none; default
 * the base model's (its concept_recipe.json). */
function parseAttentionTarget(flag: string | undefined): Pick<TrainConceptOptions, "attentionTarget"> {
  if (flag === undefined) return {};
  if (flag === "none") return { attentionTarget: null };
  const [layer, head, weight] = flag.split(",").map(Number);
  return { attentionTarget: { layer: layer!, head: head!, weight: weight ?? 1 } };
}
const attentionTargetOption = parseAttentionTarget(values["attention-target"]);
const print = (row: Record<string, unknown>) => console.log(JSON.stringify({ bench: "yollava", ...row }));
const round = (x: number) => Math.round(x * 1000) / 1000;

const runtime = new Runtime({ intraOpNumThreads: int("threads") });
const vocabFold = values["fold-vocab"];
const model = await loadConceptModel(values.model!, {
  runtime,
  tokenizerDir: values.tokenizer,
  repo: values.model,
  ...(vocabFold ? { mapIds: (id: number) => id % 128 } : {}),
});
const mainAttentionTarget =
  "attentionTarget" in attentionTargetOption ? attentionTargetOption.attentionTarget : model.attentionTarget;
const clip = await ClipImageEncoder.load(values.clip!, runtime);
const graphs = new ConceptGraphs(model);
const ids = await yesNoIds(model);
const ctx: EvalContext = { model, graphs, ids, bucket: CONCEPT_DEFAULTS.lengthBucket, batchSize: 16 };

// The toy-world negatives pool (pool split seeds: never a catalogue concept, never held out), indexed
// with the toy CLIP; cached under .cache/ between runs.
const poolSize = int("pool-size");
const poolDir = values["pool-dir"] ?? join(".cache/personalize", `toy-pool-${poolSize}-${clip.weights}`);
if (!existsSync(join(poolDir, POOL_INDEX_JSON))) {
  const t0 = performance.now();
  await writeNegativesPool({ out: poolDir, count: poolSize });
  const report = await buildNegativesPool(poolDir, clip);
  print({
    row: "pool",
    images: report.images,
    build_s: round((performance.now() - t0) / 1000),
    dir: poolDir,
  });
}
const pool = await NegativesPool.open(poolDir, clip);

const evaluated = CONCEPTS.slice(0, int("concepts"));
const teacherKind = values.teacher!;
const selfTeacher = new SelfTeacher(model);

function trainKind(c: ToyConcept): ConceptKind {
  return c.kind === "pet" ? "pet" : "object";
}

/** The user's facts: the catalogue's five facts, questions as templates. */
function factsOf(c: ToyConcept): ConceptQA[] {
  return conceptFacts(c).map((f) => ({
    question: f.question.replaceAll(c.name, "{name}"),
    answer: f.answer,
  }));
}

/** Text multiple choice: the facts asked in other words; distractors change the attribute's value. */
const TEST_PHRASING: Record<string, string> = {
  kind: "Tell me what sort of thing {name} is.",
  colour: "Which colour does {name} have?",
  shape: "Which shape does {name} have?",
  pattern: "How is {name} patterned?",
  mark: "Is there a mark on {name}?",
};
function textItems(c: ToyConcept, rng: SeededRandom): MultipleChoiceItem[] {
  const options: Record<string, readonly string[]> = {
    kind: ["pet", "toy", "mug", "plant", "object"],
    colour: COLOURS,
    shape: SHAPES,
    pattern: PATTERNS,
    mark: MARKS,
  };
  return conceptFacts(c).map((fact) => {
    const others = rng
      .shuffle(options[fact.attribute]!.filter((v) => v !== fact.short))
      .slice(0, 3)
      .map((v) => {
        const variant: ToyConcept =
          fact.attribute === "kind"
            ? { ...c, kind: v as ToyConcept["kind"] }
            : { ...c, identity: { ...c.identity, [fact.attribute]: v } };
        return conceptFacts(variant).find((f) => f.attribute === fact.attribute)!.answer;
      });
    return { question: TEST_PHRASING[fact.attribute]!, candidates: [fact.answer, ...others] };
  });
}

/** Visual multiple choice on held-out renders: where the concept is, how many other objects there are. */
function visualItems(c: ToyConcept, count: number): MultipleChoiceItem[] {
  return conceptVqaItems(c, "test", 0, count).map((item) => {
    const pool = item.kind === "position" ? [...CELLS] : ["0", "1", "2", "3"];
    return {
      question: item.prompt.replaceAll(c.name, "{name}"),
      candidates: [item.answer, ...pool.filter((a) => a !== item.answer)],
      image: renderRecipe(item.recipe!),
    };
  });
}

interface TestSet {
  recognition: { image: import("../vision/image").RgbImage; label: "yes" | "no" }[];
}

/** Test positives of the concept vs test positives of the other concepts plus held-out hard negatives. */
function testSet(c: ToyConcept): TestSet {
  const own = conceptSamples(c, "test", {
    positives: int("test-positives"),
    hardNegatives: int("test-hard"),
    easyNegatives: 0,
  });
  const recognition: TestSet["recognition"] = own.positives.map((s) => ({
    image: renderSample(s),
    label: "yes" as const,
  }));
  for (const other of evaluated) {
    if (other === c) continue;
    const theirs = conceptSamples(other, "test", {
      positives: int("others"),
      hardNegatives: 0,
      easyNegatives: 0,
      offset: 500,
    });
    for (const s of theirs.positives) recognition.push({ image: renderSample(s), label: "no" });
  }
  for (const s of own.hardNegatives) recognition.push({ image: renderSample(s), label: "no" });
  return { recognition };
}

/** --oracle-hard: the concept's own look-alikes (train split; seeds past the photos') as hard negatives. */
function oracleNegatives(c: ToyConcept, hard: number): NegativesSource {
  const train = conceptSamples(c, "train", {
    positives: 0,
    hardNegatives: hard,
    easyNegatives: 100,
    offset: 1000,
  });
  const val = conceptSamples(c, "val", { positives: 0, hardNegatives: 8, easyNegatives: 8 });
  return {
    hard: train.hardNegatives.map((s) => renderSample(s)),
    easy: train.easyNegatives.map((s) => renderSample(s)),
    validation: [...val.hardNegatives, ...val.easyNegatives].map((s) => renderSample(s)),
  };
}

async function learn(
  c: ToyConcept,
  overrides: Partial<TrainConceptOptions> = {},
  photoCount = int("photos"),
) {
  const photos = conceptSamples(c, "train", {
    positives: photoCount,
    hardNegatives: 0,
    easyNegatives: 0,
  }).positives.map((s) => renderSample(s));
  let teacher: ConversationTeacher | null = null;
  let facts: ConceptQA[] = [];
  if (teacherKind === "self" || teacherKind === "both") teacher = selfTeacher;
  if (teacherKind === "facts" || teacherKind === "both") facts = factsOf(c);
  const t0 = performance.now();
  const trained = await trainConcept({
    model,
    graphs,
    name: c.name,
    kind: trainKind(c),
    photos,
    negatives: values["oracle-hard"] ? oracleNegatives(c, int("oracle-hard")) : { pool, clip },
    teacher,
    facts,
    epochs: optNum("epochs"),
    ...(runConfigs ? { runs: runConfigs } : {}),
    batchSize: optNum("batch"),
    // trainConcept takes the first hardNegatives of given images: all N of --oracle-hard unless --hard.
    hardNegatives: optNum("hard") ?? optNum("oracle-hard"),
    easyNegatives: optNum("easy"),
    positiveShare: optNum("positive-share"),
    conversationShare: optNum("conversation-share"),
    patience: optNum("patience"),
    lr: optNum("lr"),
    ...attentionTargetOption,
    ...overrides,
  });
  return { trained, photos, seconds: (performance.now() - t0) / 1000 };
}

type Scores = {
  positive: number;
  negative: number;
  weighted: number;
  /** Threshold-free recognition (recognition-score.ts) and the mean P(yes) of each side. */
  auc: number;
  p_yes_positive: number;
  p_yes_negative: number;
  text_mc: number;
  visual_mc?: number;
};
/** The recognition figures of a Scores row, each passed through `f` (rounding, in the per-concept rows). */
const recognitionScores = (
  rec: RecognitionAccuracy,
  f: (x: number) => number = (x) => x,
): Omit<Scores, "text_mc" | "visual_mc"> => ({
  positive: f(rec.positive),
  negative: f(rec.negative),
  weighted: f(rec.weighted),
  auc: f(rec.auc),
  p_yes_positive: f(rec.meanPYesPositive),
  p_yes_negative: f(rec.meanPYesNegative),
});
const totals = new Map<string, Scores[]>();
const record = (method: string, s: Scores) => {
  totals.set(method, [...(totals.get(method) ?? []), s]);
};
const mean = (xs: number[]) => round(xs.reduce((a, b) => a + b, 0) / xs.length);

print({
  row: "config",
  model: model.fingerprint,
  concepts: evaluated.map((c) => c.name),
  teacher: teacherKind,
  attention_target: mainAttentionTarget ?? null,
  pool: pool.size,
  ...(values["oracle-hard"] ? { oracle_hard: int("oracle-hard") } : {}),
  threads: int("threads"),
});
const trainSeconds: number[] = [];
const mainResults = new Map<string, { scores: Scores; seconds: number }>();
for (const c of evaluated) {
  const rng = new SeededRandom(11);
  const test = testSet(c);
  const text = textItems(c, rng);
  const visual = visualItems(c, 10);
  const { trained, photos, seconds } = await learn(c);
  trainSeconds.push(seconds);
  const methods: [string, ConceptMethod][] = [
    ["yollava", { kind: "yollava", rows: trained.rows }],
    ["vanilla", { kind: "vanilla" }],
    ["text_prompt", { kind: "text_prompt", description: conceptDescription(c) }],
    ["image_prompt", { kind: "image_prompt", references: photos.slice(0, int("image-prompt-k")) }],
    // Reference: the description in place of the name (recognition only: text questions would give the
    // answer away).
    ["inline_description", { kind: "inline_description", phrase: objectPhrase(c.identity) }],
  ];
  for (const [name, method] of methods) {
    const rec = await evaluateRecognition(ctx, method, c.name, test.recognition);
    const scores: Scores = {
      ...recognitionScores(rec, round),
      text_mc:
        name === "inline_description"
          ? Number.NaN
          : round(await evaluateMultipleChoice(ctx, method, c.name, text)),
      visual_mc: round(await evaluateMultipleChoice(ctx, method, c.name, visual)),
    };
    record(name, scores);
    if (name === "yollava") mainResults.set(c.name, { scores, seconds });
    print({
      row: "concept",
      concept: c.name,
      method: name,
      ...scores,
      ...(name === "yollava"
        ? {
            train_s: round(seconds),
            steps: trained.report.steps,
            step_ms: round(trained.report.step_ms),
            epochs_run: trained.report.epochs_run,
            best_epoch: trained.report.best_epoch,
            runs: trained.report.runs.map((r) => ({
              warmup_epochs: r.warmup_epochs,
              best_epoch: r.best_epoch,
              ...(r.best_weighted !== undefined ? { held_out_weighted: r.best_weighted } : {}),
            })),
            chosen_run: trained.report.chosen_run,
            data: trained.report.data,
          }
        : {}),
    });
  }
}
for (const [method, rows] of totals) {
  print({
    row: "summary",
    method,
    concepts: rows.length,
    positive: mean(rows.map((r) => r.positive)),
    negative: mean(rows.map((r) => r.negative)),
    weighted: mean(rows.map((r) => r.weighted)),
    auc: mean(rows.map((r) => r.auc)),
    p_yes_positive: mean(rows.map((r) => r.p_yes_positive)),
    p_yes_negative: mean(rows.map((r) => r.p_yes_negative)),
    text_mc: mean(rows.map((r) => r.text_mc)),
    visual_mc: mean(rows.map((r) => r.visual_mc ?? Number.NaN)),
    ...(method === "yollava"
      ? { train_s_mean: mean(trainSeconds), train_s_max: round(Math.max(...trainSeconds)) }
      : {}),
  });
}

interface Ablation {
  ablation: string;
  value: number | string;
  overrides?: Partial<TrainConceptOptions>;
  photos?: number;
  /** The main run's configuration: its results are reused, nothing is retrained. */
  main?: boolean;
}

if (!values["no-ablations"]) {
  const subset = evaluated.slice(0, int("ablation-concepts"));
  const hard = optNum("hard") ?? CONCEPT_DEFAULTS.hardNegatives;
  const easy = optNum("easy") ?? CONCEPT_DEFAULTS.easyNegatives;
  const mainRuns = runConfigs ?? CONCEPT_DEFAULTS.runs;
  const ablations: Ablation[] = [
    ...[0, 1, 2, 4, 8, 16].map((k) => ({
      ablation: "latent_tokens",
      value: k,
      overrides: { latentTokens: k },
      main: k === CONCEPT_DEFAULTS.latentTokens,
    })),
    ...[1, 3, 5].map((n) => ({ ablation: "positives", value: n, photos: n, main: n === int("photos") })),
    { ablation: "hard_negatives", value: "on", main: true },
    // Off: the same number of negatives, all drawn at random.
    { ablation: "hard_negatives", value: "off", overrides: { hardNegatives: 0, easyNegatives: hard + easy } },
    // Each run alone (warm-up 0 is the Yo'LLaVA recipe: hard negatives from the first epoch), then all.
    ...(mainRuns.length > 1
      ? [
          ...mainRuns.map((r) => ({
            ablation: "runs",
            value: String(r.warmupEpochs),
            overrides: { runs: [{ warmupEpochs: r.warmupEpochs }] },
          })),
          { ablation: "runs", value: mainRuns.map(runLabel).join(","), main: true },
        ]
      : []),
  ];
  // The conversation turns repeated to their share of the recognition turns, against each trained once.
  const conversationShare = optNum("conversation-share") ?? CONCEPT_DEFAULTS.conversationShare;
  if (conversationShare !== 0)
    ablations.push(
      { ablation: "conversation_share", value: round(conversationShare), main: true },
      { ablation: "conversation_share", value: 0, overrides: { conversationShare: 0 } },
    );
  // The locating head's loss (base-recipe.ts) against the same recipe without it.
  if (mainAttentionTarget)
    ablations.push(
      { ablation: "attention_target", value: "on", main: true },
      { ablation: "attention_target", value: "off", overrides: { attentionTarget: null } },
    );
  for (const a of ablations) {
    const rows: Scores[] = [];
    const secs: number[] = [];
    for (const c of subset) {
      const reused = a.main ? mainResults.get(c.name) : undefined;
      if (reused) {
        rows.push(reused.scores);
        secs.push(reused.seconds);
        continue;
      }
      const rng = new SeededRandom(11);
      const test = testSet(c);
      const learned = await learn(c, a.overrides, a.photos ?? int("photos"));
      secs.push(learned.seconds);
      const method: ConceptMethod = { kind: "yollava", rows: learned.trained.rows };
      const rec = await evaluateRecognition(ctx, method, c.name, test.recognition);
      rows.push({
        ...recognitionScores(rec),
        text_mc: await evaluateMultipleChoice(ctx, method, c.name, textItems(c, rng)),
      });
    }
    print({
      row: "ablation",
      ablation: a.ablation,
      value: a.value,
      concepts: subset.map((c) => c.name),
      positive: mean(rows.map((r) => r.positive)),
      negative: mean(rows.map((r) => r.negative)),
      weighted: mean(rows.map((r) => r.weighted)),
      auc: mean(rows.map((r) => r.auc)),
      text_mc: mean(rows.map((r) => r.text_mc)),
      train_s_mean: mean(secs),
      ...(a.main ? { reused_main_run: true } : {}),
    });
  }
}
await runtime.release();
