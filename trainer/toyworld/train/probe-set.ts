// Writes the data of a linear probe of a vision tower: held-out single-object scenes (test split, so no
// training stage has seen them) as CLIP pixel values, with each object's attributes and box. The probe
// itself (tools/reference/probe_toy_tower.py) fits one linear map per attribute on the patch tokens inside
// the object's box and votes over them: it says what a tower's features carry, independent of any LLaVA.
//
//   npx tsx trainer/toyworld/train/probe-set.ts --out /tmp/probe-set [--count 3000]

import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { composeScene } from "../compose";
import { renderScene } from "../render";
import { splitSeeds } from "../splits";
import { pixelValues } from "./batching";

const { values } = parseArgs({
  options: { out: { type: "string" }, count: { type: "string", default: "3000" } },
});
if (!values.out) throw new Error("probe-set: --out DIR is required");
const count = Number(values.count);
const scenes = splitSeeds("test", 0, count).map((seed) =>
  composeScene({ seed, minObjects: 1, maxObjects: 1 }),
);
await mkdir(values.out, { recursive: true });
await writeFile(
  join(values.out, "pixels.f32"),
  pixelValues(scenes.map((scene) => renderScene(scene, { size: 64 }))),
);
const labels = scenes.map(({ objects: [o] }) => ({
  shape: o!.shape,
  colour: o!.colour,
  pattern: o!.pattern,
  mark: o!.mark,
  box: o!.box,
}));
await writeFile(join(values.out, "labels.json"), JSON.stringify({ count, size: 64, labels }));
console.log(JSON.stringify({ probe_set: values.out, count }));
