// Command line for the toy world:
//   npx tsx trainer/toyworld/cli.ts pool   --out DIR --count N [--seed S] [--size 64]
//   npx tsx trainer/toyworld/cli.ts sample --out DIR [--count 8] [--seed 0] [--size 64]
//   npx tsx trainer/toyworld/cli.ts sheet  --out FILE.png [--concept "<bo>"] [--split train] [--size 64] [--scale 3]
//   npx tsx trainer/toyworld/cli.ts concepts
// Prints one JSON line per result.

import { mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { composeScene } from "./compose";
import { conceptSheet } from "./concept-sheet";
import { CONCEPTS, conceptDescription, conceptFacts, findConcept } from "./concepts";
import { encodePng } from "./png";
import { writeNegativesPool } from "./pool";
import { captionRecord, instructionRecord, sceneRecipe, VQA_CYCLE, vqaItem } from "./records";
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
      throw new Error("usage: cli.ts pool|sample|sheet|concepts (see the header of trainer/toyworld/cli.ts)");
  }
}

try {
  await main();
} catch (error) {
  console.error(error instanceof Error ? error.message : error);
  process.exitCode = 1;
}
