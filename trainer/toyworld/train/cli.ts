// `npm run toy:train`: reproduces the toy base models from scratch on this machine's CPU cores and writes
// them to trainer/toyworld/models/{toy-clip,toy-llava}/ with their loss curves (JSON lines on stdout,
// loss-curves.json and loss-curves.png next to the models).
//
//   npx tsx trainer/toyworld/train/cli.ts [--stage all|clip|llava|outputs|<a stage name of plan.ts>] [--out DIR] [--threads 2]
//
// `--stage outputs` trains nothing: it redraws the loss plot and rewrites reference-outputs.json for the
// models in --out (after stages were run one by one).

import { existsSync } from "node:fs";
import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Runtime } from "../../engine/index";
import type { HfJson } from "../../models/hf-config";
import { loadTokenizer } from "../../text/tokenizer";
import { isAuxiliaryWeight } from "./attribute-supervision";
import { readSnapshotTensors, type SnapshotTensor, tensorData, writeSnapshot } from "./checkpoint";
import { trainClip } from "./clip-recipe";
import { trainClipText } from "./clip-text-recipe";
import { trainLlava } from "./llava-recipe";
import { type CurveSet, drawLossCurves } from "./loss-plot";
import { TRAINING_PLAN } from "./plan";
import { writeReferenceOutputs } from "./reference-outputs";
import { TrainingScenes } from "./scenes";
import { buildToyTokenizer } from "./tokenizer";

export const MODELS_DIR = "trainer/toyworld/models";

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      stage: { type: "string", default: "all" },
      out: { type: "string", default: MODELS_DIR },
      threads: { type: "string", default: "2" },
    },
  });
  const stage = values.stage!;
  const out = values.out!;
  const plan = TRAINING_PLAN;
  // The first CLIP stage is also called "clip", like the group.
  const stages = new Set([
    "all",
    "clip",
    "llava",
    "outputs",
    ...[...plan.clip, ...plan.clipText, ...plan.llava].map((s) => s.name),
  ]);
  if (!stages.has(stage)) throw new Error(`--stage ${stage}: expected one of ${[...stages].join(", ")}`);
  const started = Date.now();
  const runtime = new Runtime({ executionProvider: "cpu", intraOpNumThreads: Number(values.threads) });
  const tokenizer = buildToyTokenizer();
  const tokDir = join(out, "tokenizer");
  await mkdir(tokDir, { recursive: true });
  await writeFile(join(tokDir, "tokenizer.json"), JSON.stringify(tokenizer.tokenizerJson));
  await writeFile(join(tokDir, "tokenizer_config.json"), JSON.stringify(tokenizer.tokenizerConfig));
  const tok = loadTokenizer(tokDir);
  let t = Date.now();
  const scenes = new TrainingScenes(plan.scenes, 64);
  console.log(JSON.stringify({ train: "render", scenes: plan.scenes, seconds: (Date.now() - t) / 1000 }));
  const curvesFile = join(out, "loss-curves.json");
  let curves: CurveSet = {};
  try {
    curves = JSON.parse(await readFile(curvesFile, "utf8")) as CurveSet;
  } catch {}
  const clipDir = join(out, "toy-clip");
  // "clip" runs the joint CLIP stages and LiT; a single stage name resumes from the saved CLIP.
  const clipStages = plan.clip.filter((s) => stage === "all" || stage === "clip" || stage === s.name);
  for (const clipStage of clipStages) {
    t = Date.now();
    // The first stage starts fresh; a later one continues the saved CLIP (its attribute heads anew).
    const previous =
      clipStage === plan.clip[0] ? new Map<string, SnapshotTensor>() : await readSnapshotTensors(clipDir);
    const initial = tensorData(previous);
    const clip = await trainClip({ runtime, tok, scenes, ...clipStage, initial, stage: clipStage.name });
    // The attribute heads only shaped the tower's features; CLIPModel has no place for them. Weights
    // the stage did not train (the text side of a vision-only stage) are written back as they were.
    const weights = new Map(previous);
    for (const [n, data] of clip.values) {
      if (!isAuxiliaryWeight(n)) weights.set(n, { shape: clip.shapes.get(n)!, data });
    }
    await writeSnapshot({ dir: clipDir, config: clip.config, weights, tokenizer });
    curves[clipStage.name] = { ...clip.result, wallSeconds: (Date.now() - t) / 1000 };
  }
  // LiT cycles, each continuing the saved CLIP; "clip" runs them after the joint stages.
  const textStages = plan.clipText.filter((s) => stage === "all" || stage === "clip" || stage === s.name);
  for (const textStage of textStages) {
    t = Date.now();
    const config = JSON.parse(await readFile(join(clipDir, "config.json"), "utf8")) as HfJson;
    // LiT updates the snapshot's arrays in place, so the same tensors (and shapes) are written back.
    const weights = await readSnapshotTensors(clipDir);
    const values = tensorData(weights);
    const { name, ...rest } = textStage;
    const result = await trainClipText({ runtime, tok, scenes, config, values, ...rest, stage: name });
    await writeSnapshot({ dir: clipDir, config, weights, tokenizer });
    curves[name] = { ...result, wallSeconds: (Date.now() - t) / 1000 };
  }
  // "llava" runs every LLaVA stage; a single stage name resumes from the saved model.
  const llavaStages =
    stage === "all" || stage === "llava"
      ? plan.llava.map((s) => s.name)
      : plan.llava.map((s) => s.name).filter((s) => s === stage);
  if (llavaStages.length > 0) {
    const stages = await trainLlava({
      stages: llavaStages,
      runtime,
      tok,
      tokenizer,
      scenes,
      plan,
      out,
      clipDir: join(out, "toy-clip"),
    });
    Object.assign(curves, stages);
  }
  await writeFile(curvesFile, `${JSON.stringify(curves)}\n`);
  await drawLossCurves(curves, join(out, "loss-curves.png"));
  // Needs both models: a CLIP-only run into a fresh --out has no LLaVA yet.
  if (existsSync(join(out, "toy-llava", "config.json"))) await writeReferenceOutputs(out, runtime);
  console.log(JSON.stringify({ train: "done", stage, seconds: (Date.now() - started) / 1000 }));
}

await main();
