// Writes the data of a probe of the toy LLaVA's yes/no recognition: held-out scenes (test split) with the
// question "Is there a {colour} {shape} in this photo?", as pixel values and the token row the LLaVA
// stages train on (RowEncoder, question before the image). The shape named is one the scene holds once;
// half the questions name its colour, half another colour. tools/reference/probe_toy_llava_match.py
// reads the model's states at the answer position: do they carry the colour asked, the colour seen and
// whether the two match?
//
//   npx tsx trainer/toyworld/train/match-probe-set.ts --out /tmp/match-probe [--count 1500] [--objects 1]

import { parseArgs } from "node:util";
import { loadTokenizer } from "../../text/tokenizer";
import { composeScene } from "../compose";
import { Random } from "../random";
import { IMAGE_TOKEN } from "../records";
import { renderScene } from "../render";
import { splitSeeds } from "../splits";
import { COLOURS } from "../vocabulary";
import { RowEncoder } from "./instruction-data";
import { llavaImageTokens, writeYesNoProbe } from "./probe-files";

const { values } = parseArgs({
  options: {
    out: { type: "string" },
    count: { type: "string", default: "1500" },
    /** Objects per scene: 1 (nothing to bind) or more (the colour must be the named shape's). */
    objects: { type: "string", default: "1" },
    model: { type: "string", default: "trainer/toyworld/models/toy-llava" },
  },
});
if (!values.out) throw new Error("match-probe-set: --out DIR is required");
const count = Number(values.count);
const objects = Number(values.objects);
if (!Number.isInteger(count) || count < 100) throw new Error("match-probe-set: --count must be >= 100");
if (!Number.isInteger(objects) || objects < 1 || objects > 4)
  throw new Error("match-probe-set: --objects must be 1..4");

const encoder = new RowEncoder(loadTokenizer(values.model), await llavaImageTokens(values.model));
const items = splitSeeds("test", 0, count).map((seed) => {
  const scene = composeScene({ seed, minObjects: objects, maxObjects: objects });
  const rng = new Random(seed, "match-probe");
  const unique = scene.objects.filter((o) => scene.objects.filter((x) => x.shape === o.shape).length === 1);
  const o = rng.pick(unique.length > 0 ? unique : scene.objects);
  // A "no" names a colour no object of that shape has (the shape may repeat when no shape is unique).
  const absent = COLOURS.filter((c) => !scene.objects.some((x) => x.shape === o.shape && x.colour === c));
  const asked = rng.chance(0.5) ? o.colour : rng.pick(absent);
  const row = encoder.row(
    [
      {
        user: `${IMAGE_TOKEN}\nIs there a ${asked} ${o.shape} in this photo?`,
        assistant: asked === o.colour ? "Yes" : "No",
      },
    ],
    0, // the row only needs to know it has an image; pixels.f32 holds it at the item's index
  );
  return {
    image: renderScene(scene, { size: 64 }),
    ids: row.ids,
    answerPosition: row.isTarget.indexOf(true) - 1,
    asked: COLOURS.indexOf(asked),
    seen: COLOURS.indexOf(o.colour),
  };
});
await writeYesNoProbe(values.out, items, { objects, colours: COLOURS });
console.log(JSON.stringify({ match_probe_set: values.out, count, objects }));
