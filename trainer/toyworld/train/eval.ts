// `npm run toy:eval`: the committed toy models on held-out scenes (test split), as JSON lines.
//   {"eval":"toy_vqa","attribute":"colour","accuracy":...,"n":...} per attribute, then "overall"
//   {"eval":"toy_recognition","accuracy":...,"n":...}   yes/no "Is there a red striped star ...?"
//   {"eval":"toy_identity_recognition","accuracy":...,"n":...,"by_differs":{...}}   yes/no naming every
//     attribute, about a scene with the object and one with a near copy (identity quads): what "Is <bo> in
//     this photo?" needs; by_differs is the accuracy of the "no" items per attribute(s) that differ
//   {"eval":"toy_retrieval","top1":...,"n":...,"gallery":...}  caption -> image among `gallery` images
//
//   npx tsx trainer/toyworld/train/eval.ts [--vqa 600] [--recognition 300] [--identity 100]
//     [--retrieval 500] [--gallery 100] [--models DIR]

import { join } from "node:path";
import { parseArgs } from "node:util";
import { Runtime } from "../../engine/index";
import { renderRecipe } from "../batches";
import { scoreAnswer, VQA_KINDS } from "../language/answers";
import { captionRecord, vqaItems } from "../records";
import { IDENTITY_ATTRIBUTES } from "../scene";
import { splitSeeds } from "../splits";
import { recognitionItem } from "./recognition-data";
import { recognitionQuad } from "./recognition-quads";
import { TOY_MODELS_DIR, ToyClip, ToyLlava } from "./toy-models";

const BATCH = 32;

export async function evalVqa(llava: ToyLlava, count: number): Promise<void> {
  const items = vqaItems("test", 0, count);
  const right = new Map<string, number>();
  const seen = new Map<string, number>();
  for (let i = 0; i < items.length; i += BATCH) {
    const batch = items.slice(i, i + BATCH);
    const answers = await llava.answer(
      batch.map((it) => ({ image: renderRecipe(it.recipe, { size: 64 }), question: it.prompt })),
    );
    batch.forEach((it, k) => {
      seen.set(it.kind, (seen.get(it.kind) ?? 0) + 1);
      if (scoreAnswer(answers[k]!, it.answer, it.kind)) right.set(it.kind, (right.get(it.kind) ?? 0) + 1);
    });
  }
  let total = 0;
  let correct = 0;
  for (const kind of VQA_KINDS) {
    const n = seen.get(kind) ?? 0;
    if (n === 0) continue;
    const r = right.get(kind) ?? 0;
    total += n;
    correct += r;
    console.log(JSON.stringify({ eval: "toy_vqa", attribute: kind, accuracy: round(r / n), n }));
  }
  console.log(
    JSON.stringify({ eval: "toy_vqa", attribute: "overall", accuracy: round(correct / total), n: total }),
  );
}

/** A free answer read as yes/no: anything not starting with "yes" counts as no. */
const yesOrNo = (answer: string): "Yes" | "No" =>
  answer.trim().toLowerCase().startsWith("yes") ? "Yes" : "No";

export async function evalRecognition(llava: ToyLlava, count: number): Promise<void> {
  const seeds = splitSeeds("test", 0, count);
  let correct = 0;
  let yes = 0;
  for (let i = 0; i < seeds.length; i += BATCH) {
    const items = seeds.slice(i, i + BATCH).map(recognitionItem);
    const answers = await llava.answer(
      items.map((it) => ({ image: renderRecipe(it.recipe, { size: 64 }), question: it.question })),
      2,
    );
    items.forEach((it, k) => {
      const said = yesOrNo(answers[k]!);
      if (said === it.answer) correct += 1;
      if (it.answer === "Yes") yes += 1;
    });
  }
  console.log(
    JSON.stringify({
      eval: "toy_recognition",
      accuracy: round(correct / count),
      n: count,
      yes_share: round(yes / count),
    }),
  );
}

/** Identity quads on test seeds (`quads` of them, four yes/no items each: about half yes). */
export async function evalIdentityRecognition(llava: ToyLlava, quads: number): Promise<void> {
  const seeds = splitSeeds("test", 0, quads);
  let correct = 0;
  let n = 0;
  const noRight = new Map<string, number>();
  const noSeen = new Map<string, number>();
  for (let i = 0; i < seeds.length; i += BATCH / 4) {
    const batch = seeds.slice(i, i + BATCH / 4).map((seed) => recognitionQuad(seed, { naming: "identity" }));
    const asked = batch.flatMap((quad) => {
      const images = quad.recipes.map((r) => renderRecipe(r, { size: 64 }));
      // Which attributes set the quad's two identities apart (the key of its "no" items).
      const [a, b] = quad.recipes.map((r) => r.subjects![0]!);
      const differs = IDENTITY_ATTRIBUTES.filter((attr) => a![attr] !== b![attr]).join("+");
      return quad.items.map((item) => ({ item, image: images[item.scene]!, differs }));
    });
    const answers = await llava.answer(
      asked.map(({ item, image }) => ({ image, question: item.question })),
      2,
    );
    asked.forEach(({ item, differs }, k) => {
      const said = yesOrNo(answers[k]!);
      n++;
      if (said === item.answer) correct++;
      if (item.answer === "No") {
        noSeen.set(differs, (noSeen.get(differs) ?? 0) + 1);
        if (said === "No") noRight.set(differs, (noRight.get(differs) ?? 0) + 1);
      }
    });
  }
  const byDiffers = Object.fromEntries(
    [...noSeen].sort().map(([k, seen]) => [k, { accuracy: round((noRight.get(k) ?? 0) / seen), n: seen }]),
  );
  console.log(
    JSON.stringify({
      eval: "toy_identity_recognition",
      accuracy: round(correct / n),
      n,
      by_differs: byDiffers,
    }),
  );
}

export async function evalRetrieval(clip: ToyClip, count: number, gallery: number): Promise<void> {
  const seeds = splitSeeds("test", 0, count);
  let hits = 0;
  for (let g = 0; g + gallery <= seeds.length; g += gallery) {
    const group = seeds.slice(g, g + gallery);
    const images = await clip.embedImages(group.map((seed) => renderRecipe({ seed }, { size: 64 })));
    const texts = await clip.embedTexts(group.map((seed) => captionRecord(seed).caption));
    texts.forEach((t, i) => {
      let best = 0;
      let bestScore = -Infinity;
      images.forEach((im, j) => {
        let s = 0;
        for (let k = 0; k < t.length; k++) s += t[k]! * im[k]!;
        if (s > bestScore) {
          bestScore = s;
          best = j;
        }
      });
      if (best === i) hits += 1;
    });
  }
  const n = Math.floor(count / gallery) * gallery;
  console.log(JSON.stringify({ eval: "toy_retrieval", top1: round(hits / n), n, gallery }));
}

const round = (x: number) => Math.round(x * 1000) / 1000;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      vqa: { type: "string", default: "600" },
      recognition: { type: "string", default: "300" },
      identity: { type: "string", default: "100" },
      retrieval: { type: "string", default: "500" },
      gallery: { type: "string", default: "100" },
      models: { type: "string", default: TOY_MODELS_DIR },
    },
  });
  const runtime = new Runtime({ executionProvider: "cpu", intraOpNumThreads: 2 });
  const dir = values.models!;
  const clip = await ToyClip.load(join(dir, "toy-clip"), runtime);
  await evalRetrieval(clip, Number(values.retrieval), Number(values.gallery));
  const llava = await ToyLlava.load(join(dir, "toy-llava"), runtime);
  await evalVqa(llava, Number(values.vqa));
  await evalRecognition(llava, Number(values.recognition));
  await evalIdentityRecognition(llava, Number(values.identity));
}

if (process.argv[1]?.endsWith("eval.ts")) await main();
