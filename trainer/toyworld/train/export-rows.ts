// Writes a LLaVA stage's training stream for a trainer outside this project: the rendered training scenes
// (uint8 HWC, the order `TrainingScenes` renders them) and token rows drawn by `rowStream` exactly as a
// stage draws them, one JSON line each: [ids, isTarget as 0/1, scene index or -1]. The PyTorch peer
// (tools/reference/train_toy_llava_torch.py) trains the committed LLaVA on them, so a training question
// (does recipe X leave the yes/no plateau?) can be checked against transformers.
//
//   npx tsx trainer/toyworld/train/export-rows.ts --out /tmp/rows --mix recognition=1 [--rows 60000]
//       [--max-objects 1] [--scenes 10000] [--seed 77]

import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadTokenizer } from "../../text/tokenizer";
import { RowEncoder, type RowKind, type RowMix, rowStream } from "./instruction-data";
import { LLAVA_BUCKETS } from "./llava-recipe";
import { llavaImageTokens } from "./probe-files";
import { TrainingScenes } from "./scenes";

const KINDS: readonly RowKind[] = ["vqa", "recognition", "instruction", "caption", "text"];

const { values } = parseArgs({
  options: {
    out: { type: "string" },
    mix: { type: "string", default: "recognition=1" },
    rows: { type: "string", default: "60000" },
    scenes: { type: "string", default: "10000" },
    "max-objects": { type: "string" },
    seed: { type: "string", default: "77" },
    model: { type: "string", default: "trainer/toyworld/models/toy-llava" },
  },
});
if (!values.out) throw new Error("export-rows: --out DIR is required");
const mix: RowMix = {};
for (const part of values.mix.split(",")) {
  const [kind, share] = part.split("=");
  if (!KINDS.includes(kind as RowKind) || !(Number(share) > 0))
    throw new Error(`export-rows: --mix wants kind=share pairs of ${KINDS.join("|")}, got "${part}"`);
  mix[kind as RowKind] = Number(share);
}
const positive = (flag: string, value: string | undefined): number | undefined => {
  if (value === undefined) return undefined;
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new Error(`export-rows: --${flag} must be a positive integer`);
  return n;
};
const rows = positive("rows", values.rows)!;
const maxObjects = positive("max-objects", values["max-objects"]);
const imageTokens = await llavaImageTokens(values.model);

const scenes = new TrainingScenes(positive("scenes", values.scenes)!, 64);
const pixels = Buffer.alloc(scenes.count * 64 * 64 * 3);
scenes.images.forEach((image, k) => {
  pixels.set(image.data, k * 64 * 64 * 3);
});
const stream = rowStream({
  encoder: new RowEncoder(loadTokenizer(values.model), imageTokens),
  seeds: scenes.seeds,
  sceneIndices: maxObjects ? scenes.withAtMostObjects(maxObjects) : undefined,
  mix,
  maxLength: LLAVA_BUCKETS[LLAVA_BUCKETS.length - 1]!,
  seed: Number(values.seed),
});
const lines: string[] = [];
for (let i = 0; i < rows; i++) {
  const row = stream.next().value!;
  lines.push(JSON.stringify([row.ids, row.isTarget.map(Number), row.scene ?? -1]));
}
await mkdir(values.out, { recursive: true });
await writeFile(join(values.out, "images.u8"), pixels);
await writeFile(join(values.out, "rows.jsonl"), `${lines.join("\n")}\n`);
console.log(JSON.stringify({ export_rows: values.out, rows, scenes: scenes.count, mix }));
