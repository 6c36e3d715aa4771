// Command line for the toy world:
//   npx tsx trainer/toyworld/cli.ts pool   --out DIR --count N [--seed S] [--size 64]
//   npx tsx trainer/toyworld/cli.ts sample --out DIR [--count 8] [--seed 0] [--size 64]
//   npx tsx trainer/toyworld/cli.ts sheet  --out FILE.png [--concept "<bo>"] [--split train] [--size 64] [--scale 3]
//   npx tsx trainer/toyworld/cli.ts concepts
//   npx tsx trainer/toyworld/cli.ts stats [--count 1200]   (VQA answer priors = chance levels, render speed)
// Prints one JSON line per result.

import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { composeScene } from "./compose";
import { conceptSheet } from "./concept-sheet";
import { CONCEPTS, conceptDescription, conceptFacts, findConcept } from "./concepts";
import { encodePng } from "./png";
import { writeNegativesPool } from "./pool";
import { captionRecord, instructionRecord, sceneRecipe, VQA_CYCLE, vqaItem, vqaItems } from "./records";
import { renderScene } from "./render";
import { SPLIT_NAMES, type Split } from "./splits";

const { positionals, values } = parseArgs({
  allowPositionals: true,
  options: {
    out: { type: "string" },
    count: { type: "string" },
    seed: { type: "string" },
    size: { type: "string" },
    concept: { type: "string" },
    split: { type: "string" },
    scale: { type: "string" },
  },
});

const int = (text: string | undefined, fallback: number) =>
  text === undefined ? fallback : Number.parseInt(text, 10);
const requireOut = () => {
  if (!values.out) throw new Error("--out is required");
  return values.out;
};

async function sample(): Promise<void> {
  const out = requireOut();
  const first = int(values.seed, 0);
  const size = int(values.size, 64);
  await mkdir(out, { recursive: true });
  for (let seed = first; seed < first + int(values.count, 8); seed++) {
    const recipe = sceneRecipe(seed);
    const scene = composeScene(recipe);
    await writeFile(join(out, `scene-${seed}.png`), await encodePng(renderScene(scene, { size })));
    const record = {
      seed,
      recipe,
      scene,
      caption: captionRecord(seed).caption,
      conversation: instructionRecord(seed, "conversation").conversations,
      detail: instructionRecord(seed, "detail").conversations,
      reasoning: instructionRecord(seed, "reasoning").conversations,
      vqa: VQA_CYCLE.map((kind) => vqaItem(seed, kind)),
    };
    await writeFile(join(out, `scene-${seed}.json`), JSON.stringify(record, null, 1));
    console.log(JSON.stringify({ wrote: `scene-${seed}`, caption: record.caption }));
  }
}

/** Chance levels an evaluation must beat, and how fast pixels come, as JSON lines. */
function stats(count: number): void {
  const byKind = new Map<string, Map<string, number>>();
  for (const item of vqaItems("test", 0, count)) {
    const answers = byKind.get(item.kind) ?? new Map<string, number>();
    answers.set(item.answer, (answers.get(item.answer) ?? 0) + 1);
    byKind.set(item.kind, answers);
  }
  for (const [kind, answers] of byKind) {
    const n = [...answers.values()].reduce((a, b) => a + b, 0);
    const majority = Math.max(...answers.values()) / n;
    console.log(
      JSON.stringify({
        bench: "toyworld-vqa-prior",
        kind,
        n,
        majority,
        answers: Object.fromEntries(answers),
      }),
    );
  }
  const start = performance.now();
  const images = 200;
  for (let seed = 0; seed < images; seed++) renderScene(composeScene(sceneRecipe(seed)));
  const msPerImage = (performance.now() - start) / images;
  console.log(JSON.stringify({ bench: "toyworld-render", size: 64, msPerImage }));
}

async function main(): Promise<void> {
  const command = positionals[0];
  switch (command) {
    case "pool": {
      const out = requireOut();
      const manifest = await writeNegativesPool({
        out,
        count: int(values.count, 100),
        seed: values.seed === undefined ? undefined : int(values.seed, 0),
        size: int(values.size, 64),
      });
      console.log(JSON.stringify({ pool: out, images: manifest.items.length, size: manifest.size }));
      break;
    }
    case "sample":
      await sample();
      break;
    case "sheet": {
      const out = requireOut();
      const split = (values.split ?? "train") as Split;
      if (!SPLIT_NAMES.includes(split)) throw new Error(`--split must be one of ${SPLIT_NAMES.join(" ")}`);
      const concept = findConcept(values.concept ?? "<bo>");
      const sheet = conceptSheet(concept, { split, size: int(values.size, 64), scale: int(values.scale, 3) });
      await writeFile(out, await encodePng(sheet.image));
      console.log(JSON.stringify({ sheet: out, concept: concept.name, rows: sheet.legend }));
      break;
    }
    case "stats":
      stats(int(values.count, 1200));
      break;
    case "concepts":
      for (const concept of CONCEPTS) {
        console.log(
          JSON.stringify({
            ...concept,
            description: conceptDescription(concept),
            facts: conceptFacts(concept),
          }),
        );
      }
      break;
    default:
      throw new Error(
        "usage: cli.ts pool|sample|sheet|concepts|stats (see the header of trainer/toyworld/cli.ts)",
      );
  }
}

try {
  await main();
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
