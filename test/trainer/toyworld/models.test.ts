// Regression guard for the committed toy base models (trainer/toyworld/models): they load with our
// loader and tokenizer, follow the chat template's short-answer format, answer colour and shape questions
// from the picture, and the CLIP retrieves held-out images by caption. The floors sit well below what `npm run
// toy:eval` measures (trainer/toyworld/README.md "Results") and well above chance, so a model that stops
// reading the image fails here.

import { beforeAll, describe, expect, it } from "vitest";
import { Runtime } from "../../../trainer/engine/index";
import { renderRecipe } from "../../../trainer/toyworld/batches";
import { answerTerms, normalizeAnswer, scoreAnswer } from "../../../trainer/toyworld/language/answers";
import { captionRecord, vqaItems } from "../../../trainer/toyworld/records";
import { splitSeeds } from "../../../trainer/toyworld/splits";
import { recognitionItem } from "../../../trainer/toyworld/train/recognition-data";
import { TOY_CLIP_DIR, TOY_LLAVA_DIR, ToyClip, ToyLlava } from "../../../trainer/toyworld/train/toy-models";

const runtime = new Runtime({ executionProvider: "cpu", intraOpNumThreads: 2 });

describe("toy LLaVA", () => {
  let llava: ToyLlava;
  beforeAll(async () => {
    llava = await ToyLlava.load(TOY_LLAVA_DIR, runtime);
  });

  it("answers held-out attribute questions with one word of the asked kind", async () => {
    const items = vqaItems("test", 5000, 24);
    const answers = await llava.answer(
      items.map((it) => ({ image: renderRecipe(it.recipe, { size: 64 }), question: it.prompt })),
      5,
    );
    const wellFormed = items.filter(
      (it, k) => answerTerms(normalizeAnswer(answers[k]!), it.kind).length === 1,
    ).length;
    expect(wellFormed).toBeGreaterThanOrEqual(20);
  });

  // Chance levels (majority answer share) from `toyworld/cli.ts stats`; shape needs a tower that carries
  // it (the vision-only `clip_attributes` stage), colour only the first CLIP stage.
  it.each([
    ["colour", 0.13],
    ["shape", 0.13],
  ] as const)("answers held-out %s questions from the picture (chance %s)", async (kind, _chance) => {
    const items = vqaItems("test", 8000, 240).filter((it) => it.kind === kind);
    const answers = await llava.answer(
      items.map((it) => ({ image: renderRecipe(it.recipe, { size: 64 }), question: it.prompt })),
      5,
    );
    const right = items.filter((it, k) => scoreAnswer(answers[k]!, it.answer, it.kind)).length;
    console.log(`[toy LLaVA] held-out ${kind} accuracy ${right}/${items.length}`);
    expect(items.length).toBeGreaterThanOrEqual(30);
    expect(right / items.length).toBeGreaterThanOrEqual(0.35);
  });

  it("answers yes/no recognition questions with Yes or No", async () => {
    const items = splitSeeds("test", 6000, 16).map(recognitionItem);
    const answers = await llava.answer(
      items.map((it) => ({ image: renderRecipe(it.recipe, { size: 64 }), question: it.question })),
      2,
    );
    for (const a of answers) expect(["Yes", "No"]).toContain(a.trim());
  });
});

describe("toy CLIP", () => {
  it("retrieves each of 20 held-out images by its caption, mostly at rank 1", async () => {
    const clip = await ToyClip.load(TOY_CLIP_DIR, runtime);
    const seeds = splitSeeds("test", 7000, 20);
    const images = await clip.embedImages(seeds.map((seed) => renderRecipe({ seed }, { size: 64 })));
    const texts = await clip.embedTexts(seeds.map((seed) => captionRecord(seed).caption));
    for (const v of [...images, ...texts]) expect(Math.hypot(...v)).toBeCloseTo(1, 4);
    const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);
    const top1 = texts.filter((t, i) => images.every((im, j) => j === i || dot(t, im) < dot(t, images[i]!)));
    console.log(`[toy CLIP] caption -> image top-1 ${top1.length}/20`);
    expect(top1.length).toBeGreaterThanOrEqual(14);
  });
});
