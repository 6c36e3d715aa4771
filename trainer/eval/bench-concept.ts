// npx tsx trainer/eval/bench-concept.ts — concept training cost on a SmolVLM-256M-sized model with random
// weights on this CPU: one training step (forward + backward for the concept rows, batch 8 of ~112
// positions: the "<bo> is <bo:1>...<bo:16>." system line, 64 image rows, question and answer), one
// held-out scoring batch, one image encode (SigLIP tower + pixel-shuffle connector, 512 px), and the
// time of a whole concept with the reference data counts (10 photos + flips, 100 hard + 100 easy
// negatives, the self-teacher's 10 conversations repeated to CONCEPT_DEFAULTS.conversationShare,
// CONCEPT_DEFAULTS.epochs) composed from those measured parts. Prints one JSON line.
// Flags: --threads 2 --steps 4 --batch 8 --layers 30 --k 16 --weights float32|int8|int4 (the decoder as
// loadCausalLm({ weights }) binds it: MatMulNBits over weights converted once into a file in the temp dir)

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { compile, Graph, ortTensor, Runtime, WeightFile } from "../engine/index";
import { ArrayEmbeddingTable } from "../generate/embeddings";
import { Idefics3Model } from "../models/idefics3";
import type { LlamaConfig } from "../models/llama";
import {
  QuantizedWeightStore,
  quantizationFor,
  WEIGHT_FORMATS,
  type WeightFormat,
} from "../models/quantized-weights";
import { frozenWeights } from "../models/weights";
import { conceptStep, scoreExamples } from "../personalize/concept-batch";
import { ConceptGraphs } from "../personalize/concept-graph";
import type { ConceptModel } from "../personalize/concept-model";
import { conversationTurns } from "../personalize/conversation-data";
import { CONCEPT_DEFAULTS } from "../personalize/defaults";
import type { EncodedExample } from "../personalize/examples";
import { SeededRandom } from "../personalize/random";
import { initialRows } from "../personalize/train-concept";
import { randomWeights, SMOLVLM_256M_TEXT, smolvlm256m } from "./smolvlm-256m";

const { values: flags } = parseArgs({
  options: {
    threads: { type: "string", default: "2" },
    steps: { type: "string", default: "4" },
    batch: { type: "string", default: "8" },
    layers: { type: "string", default: "30" },
    k: { type: "string", default: "16" },
    weights: { type: "string", default: "float32" },
    // Other decoder sizes (e.g. the toy LLaVA: --hidden 192 --heads 4 --kv-heads 2 --intermediate 512
    // --vocab 1200 --layers 4 --image-rows 65); the image encode is always SmolVLM's.
    hidden: { type: "string", default: "576" },
    heads: { type: "string", default: "9" },
    "kv-heads": { type: "string", default: "3" },
    intermediate: { type: "string", default: "1536" },
    vocab: { type: "string", default: "49280" },
    "image-rows": { type: "string", default: "64" },
    /** Write onnxruntime's per-node profile under this prefix. */
    profile: { type: "string" },
  },
});
const threads = Number(flags.threads);
const batchSize = Number(flags.batch);
const k = Number(flags.k);
const format = flags.weights as WeightFormat;
if (!WEIGHT_FORMATS.includes(format)) throw new Error(`--weights: one of ${WEIGHT_FORMATS.join(", ")}`);

/** SmolVLM-256M's decoder by default (smolvlm-256m.ts), resizable from the flags. */
const TEXT: LlamaConfig = {
  ...SMOLVLM_256M_TEXT,
  hiddenSize: Number(flags.hidden),
  numLayers: Number(flags.layers),
  numHeads: Number(flags.heads),
  numKvHeads: Number(flags["kv-heads"]),
  headDim: Number(flags.hidden) / Number(flags.heads),
  intermediateSize: Number(flags.intermediate),
  vocabSize: Number(flags.vocab),
};
const VISION = smolvlm256m(TEXT);
const IMAGE_ROWS = Number(flags["image-rows"]);

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

const dir = mkdtempSync(join(tmpdir(), "yo-bench-concept-"));
const runtime = new Runtime({
  intraOpNumThreads: threads,
  interOpNumThreads: 1,
  ...(flags.profile ? { profileFilePrefix: flags.profile } : {}),
});
try {
  const values = randomWeights();
  const h = TEXT.hiddenSize;
  const embeddings = new ArrayEmbeddingTable(values("model.embed_tokens.weight", [TEXT.vocabSize, h]), h);
  const quantization = quantizationFor(format);
  const store = quantization
    ? new QuantizedWeightStore(values, quantization, new WeightFile(join(dir, `weights-${format}.bin`)))
    : undefined;
  const model = {
    fingerprint: { repo: "bench/smolvlm-256m-sized", revision: "random", config_hash: "0000000000000000" },
    textConfig: TEXT,
    textWeights: values,
    ...(store ? { weights: { format, binding: (g: Graph) => store.bind(g), directory: dir } } : {}),
    embeddings,
    runtime,
  } as unknown as ConceptModel;
  const rng = new SeededRandom(0);
  // A recognition example as trainConcept encodes it: system slots, image rows, question, answer.
  const example = (): EncodedExample => {
    const system = 1 + k + 4;
    const length = 1 + system + 2 + IMAGE_ROWS + 12 + 10;
    const ids = Array.from({ length }, () => rng.int(TEXT.vocabSize));
    const embeds = embeddings.lookup(ids);
    const slots = [
      { position: 1, name: "<bo>", row: 0 },
      ...Array.from({ length: k }, (_, i) => ({ position: 4 + i, name: "<bo>", row: 1 + i })),
      { position: length - 18, name: "<bo>", row: 0 },
      { position: length - 8, name: "<bo>", row: 0 },
    ];
    const targets = Array.from({ length: 10 }, (_, i) => ({
      position: length - 11 + i,
      target: i === 2 ? { concept: "<bo>" } : { token: ids[length - 10 + i]! },
    }));
    const imagePositions = Array.from({ length: IMAGE_ROWS }, (_, i) => system + 3 + i);
    return { kind: "recognition", label: "yes", length, embeds, slots, targets, imagePositions };
  };
  const batch = Array.from({ length: batchSize }, example);
  const rows = initialRows(model, "<bo>", k, rng);
  const graphs = new ConceptGraphs(model, dir);
  const buildStart = performance.now();
  graphs.get("train");
  const buildMs = performance.now() - buildStart;
  const firstStart = performance.now();
  await conceptStep(model, graphs, batch, [rows], CONCEPT_DEFAULTS.lengthBucket);
  const firstStepMs = performance.now() - firstStart;
  const stepTimes: number[] = [];
  for (let s = 0; s < Number(flags.steps); s++) {
    const t0 = performance.now();
    await conceptStep(model, graphs, batch, [rows], CONCEPT_DEFAULTS.lengthBucket);
    stepTimes.push(performance.now() - t0);
  }
  const scoreBatch = Array.from({ length: 16 }, example);
  await scoreExamples(model, graphs, scoreBatch, [rows], {
    bucket: 16,
    batchSize: 16,
    firstTargetOnly: true,
  });
  const s0 = performance.now();
  await scoreExamples(model, graphs, scoreBatch, [rows], {
    bucket: 16,
    batchSize: 16,
    firstTargetOnly: true,
  });
  const scoreMs = performance.now() - s0;

  // Image features: one 512 px frame -> 64 rows.
  const vg = new Graph("smolvlm_vision");
  const vlm = new Idefics3Model(vg, VISION, frozenWeights(vg, "float32", values));
  const px = vg.input("pixel_values", "float32", ["images", 3, 512, 512]);
  vg.output(vlm.imageFeatures(px), "image_features");
  const vision = compile(vg);
  const pixels = ortTensor("float32", new Float32Array(3 * 512 * 512).fill(0.1), [1, 3, 512, 512]);
  await runtime.run(vision, { pixel_values: pixels });
  const encodeTimes: number[] = [];
  for (let i = 0; i < 2; i++) {
    const t0 = performance.now();
    await runtime.run(vision, { pixel_values: pixels });
    encodeTimes.push(performance.now() - t0);
  }

  // Reference counts: 10 photos, 2 held out -> 8 train + 8 flips repeated to 100 positives, 100 + 100
  // negatives, the self-teacher's 10 conversations repeated to their share of those 300
  // (CONCEPT_DEFAULTS.conversationShare); 16 held-out negatives; the default epochs. Every example is
  // costed as a recognition turn, so the text-only conversations make this an upper estimate.
  const recognition = 100 + 200;
  const conversations = conversationTurns(10, recognition, CONCEPT_DEFAULTS.conversationShare);
  const examples = recognition + conversations;
  const epochs = CONCEPT_DEFAULTS.epochs;
  const steps = Math.ceil(examples / batchSize) * epochs;
  const images = 8 * 2 + 200 + 2 + 16;
  const stepMs = median(stepTimes);
  const encodeMs = median(encodeTimes);
  const validationMs = scoreMs * Math.ceil((2 + 16) / 16);
  const conceptS = (images * encodeMs + steps * stepMs + epochs * validationMs) / 1000;
  console.log(
    JSON.stringify({
      bench: "concept-train",
      model:
        flags.hidden === "576"
          ? "SmolVLM-256M-sized (random weights)"
          : `decoder h${TEXT.hiddenSize} x ${TEXT.numLayers} layers (random weights)`,
      weights: format,
      threads,
      layers: TEXT.numLayers,
      k,
      batch: batchSize,
      seq: Math.ceil((batch[0]!.length + 1) / 16) * 16,
      graph_build_ms: Math.round(buildMs), // with a quantized format: includes the conversion
      ...(store ? { quantized_mb: Math.round(store.quantizedBytes / 2 ** 20) } : {}),
      first_step_ms: Math.round(firstStepMs),
      step_ms: Math.round(stepMs),
      step_ms_all: stepTimes.map(Math.round),
      score_batch16_ms: Math.round(scoreMs),
      image_encode_ms: Math.round(encodeMs),
      reference: { examples_per_epoch: examples, conversations, epochs, steps, images_encoded: images },
      concept_s_estimate: Math.round(conceptS),
      concept_s_parts: {
        images: Math.round((images * encodeMs) / 1000),
        steps: Math.round((steps * stepMs) / 1000),
        validation: Math.round((epochs * validationMs) / 1000),
      },
      note: "whole concept = measured parts x reference counts (excludes the self-teacher's 10 generations)",
    }),
  );
} finally {
  if (flags.profile) await runtime.endProfiling();
  await runtime.release();
  rmSync(dir, { recursive: true, force: true });
}
