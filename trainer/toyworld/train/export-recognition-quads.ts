// Writes crossed yes/no quads (recognition-quads.ts) for the PyTorch peer: training rows over train-split
// seeds (images.u8 + rows.jsonl, each line [ids, isTarget as 0/1, scene index, attention targets], the
// four rows of a quad on consecutive lines), or with --probe a held-out set over test-split seeds in the
// format match-probe-set.ts writes (one item per quad, cycling through the four cells).
//
//   npx tsx trainer/toyworld/train/export-recognition-quads.ts --out /tmp/quads [--quads 20000] [--max-objects 3]
//   npx tsx trainer/toyworld/train/export-recognition-quads.ts --out /tmp/quad-probe --probe [--quads 800]

import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { loadTokenizer } from "../../text/tokenizer";
import { IMAGE_TOKEN } from "../records";
import { renderScene } from "../render";
import { assertTrainingSeeds, splitSeeds } from "../splits";
import { RowEncoder } from "./instruction-data";
import { llavaImageTokens, writeYesNoProbe } from "./probe-files";
import { patchGrid, recognitionQuad } from "./recognition-quads";

const { values } = parseArgs({
  options: {
    out: { type: "string" },
    quads: { type: "string", default: "20000" },
    "max-objects": { type: "string", default: "3" },
    probe: { type: "boolean", default: false },
    model: { type: "string", default: "trainer/toyworld/models/toy-llava" },
  },
});
if (!values.out) throw new Error("export-recognition-quads: --out DIR is required");
const count = Number(values.quads);
const maxObjects = Number(values["max-objects"]);
if (!Number.isInteger(count) || count < 1) throw new Error("export-recognition-quads: --quads must be >= 1");
if (!Number.isInteger(maxObjects) || maxObjects < 1 || maxObjects > 4)
  throw new Error("export-recognition-quads: --max-objects must be 1..4");

const imageTokens = await llavaImageTokens(values.model);
const grid = patchGrid(imageTokens);
const encoder = new RowEncoder(loadTokenizer(values.model), imageTokens);
const row = (question: string, answer: string, scene: number) =>
  encoder.row([{ user: `${IMAGE_TOKEN}\n${question}`, assistant: answer }], scene);
await mkdir(values.out, { recursive: true });

if (values.probe) {
  const items = splitSeeds("test", 0, count).map((seed) => {
    const quad = recognitionQuad(seed, { maxObjects, grid });
    const item = quad.items[seed % 4]!;
    const r = row(item.question, item.answer, 0);
    return {
      image: renderScene(quad.scenes[item.scene], { size: 64 }),
      ids: r.ids,
      answerPosition: r.isTarget.indexOf(true) - 1,
      // match-probe-set's labels: the answer is yes when asked == seen.
      asked: item.answer === "Yes" ? 1 : 0,
      seen: 1,
    };
  });
  await writeYesNoProbe(values.out, items, { objects: `quad<=${maxObjects}` });
  console.log(
    JSON.stringify({ quad_probe: values.out, count, yes: items.filter((i) => i.asked).length / count }),
  );
} else {
  const seeds = splitSeeds("train", 0, count);
  assertTrainingSeeds(seeds);
  const side = 64 * 64 * 3;
  const pixels = Buffer.alloc(count * 2 * side);
  const lines: string[] = [];
  let yes = 0;
  seeds.forEach((seed, n) => {
    const quad = recognitionQuad(seed, { maxObjects, grid });
    quad.scenes.forEach((scene, j) => {
      pixels.set(renderScene(scene, { size: 64 }).data, (2 * n + j) * side);
    });
    for (const item of quad.items) {
      yes += Number(item.answer === "Yes");
      const r = row(item.question, item.answer, 2 * n + item.scene);
      lines.push(JSON.stringify([r.ids, r.isTarget.map(Number), 2 * n + item.scene, item.attentionTargets]));
    }
  });
  await writeFile(join(values.out, "images.u8"), pixels);
  await writeFile(join(values.out, "rows.jsonl"), `${lines.join("\n")}\n`);
  console.log(JSON.stringify({ quads: values.out, count, rows: lines.length, yes: yes / lines.length }));
}
