import { describe, expect, it } from "vitest";
import { composeScene } from "../../../trainer/toyworld/compose";
import { CONCEPTS } from "../../../trainer/toyworld/concepts";
import { CAPTION_TEMPLATE_COUNT, caption } from "../../../trainer/toyworld/language/captions";
import { ASKERS } from "../../../trainer/toyworld/language/conversations";
import { plural } from "../../../trainer/toyworld/language/phrases";
import { closestTo, REASONERS } from "../../../trainer/toyworld/language/reasoning";
import { Random } from "../../../trainer/toyworld/random";
import {
  captionRecords,
  conceptFactRecords,
  IMAGE_TOKEN,
  instructionRecords,
  VQA_CYCLE,
  vqaItem,
} from "../../../trainer/toyworld/records";
import type { Scene, SceneObject } from "../../../trainer/toyworld/scene";
import { CELL_PHRASE, COLOURS, SHAPES } from "../../../trainer/toyworld/vocabulary";

/** Independent reading of a referring expression: which objects does "the red object" denote? */
function resolve(scene: Scene, ref: string): SceneObject[] {
  return scene.objects.filter((o) => {
    const cell = Object.entries(CELL_PHRASE).find(([, phrase]) => ref.endsWith(phrase))?.[0];
    if (cell) return o.cell === cell;
    const words = ref
      .replace(/^the /, "")
      .replace(/ object$/, "")
      .split(" ");
    return words.every(
      (w) =>
        (COLOURS.includes(w as never) && o.colour === w) ||
        (SHAPES.includes(w as never) && o.shape === w) ||
        o.pattern === w,
    );
  });
}

const scenes = Array.from({ length: 150 }, (_, seed) => composeScene({ seed }));

describe("VQA items", () => {
  it("refer to exactly one object and answer from the scene graph", () => {
    for (let seed = 0; seed < 150; seed++) {
      const scene = scenes[seed]!;
      for (const kind of VQA_CYCLE) {
        const item = vqaItem(seed, kind);
        expect(item.prompt.startsWith(item.question)).toBe(true);
        if (item.kind === "count") {
          const colour = item.question.match(/How many (\w+) objects/)?.[1];
          const shape = SHAPES.find((x) => item.question === `How many ${plural(x)} are there?`);
          const expected =
            item.question === "How many objects are there?"
              ? scene.objects.length
              : colour
                ? scene.objects.filter((o) => o.colour === colour).length
                : scene.objects.filter((o) => o.shape === shape).length;
          expect(item.answer, item.question).toBe(String(expected));
          // What it counts is what training points the attention at.
          expect(item.about, item.question).toHaveLength(expected);
          continue;
        }
        const ref = item.question.match(/(?:is|does|of) (the .+?)(?: have| carry|\?)/)?.[1];
        const matches = resolve(scene, ref ?? "");
        expect(matches, `${item.question} in seed ${seed}`).toHaveLength(1);
        const o = matches[0]!;
        const truth = {
          colour: o.colour,
          shape: o.shape,
          pattern: o.pattern,
          position: o.cell,
          mark: o.mark,
        }[item.kind as "colour"];
        expect(item.answer, item.question).toBe(truth);
        expect(item.about, item.question).toEqual([o.id]);
      }
    }
  });
});

describe("reasoning", () => {
  it("counts colours and shapes as the scene graph does", () => {
    for (const scene of scenes) {
      for (let k = 0; k < 3; k++) {
        const rng = new Random(k, "t");
        const qa = REASONERS.countColour!(scene, rng)!;
        const colour = qa.question.match(/How many (\w+) objects/)![1]!;
        const n = scene.objects.filter((o) => o.colour === colour).length;
        const said = n === 0 ? "no" : ["", "one", "two", "three", "four"][n]!;
        expect(qa.answer, qa.question).toMatch(new RegExp(`^There (is|are) ${said} ${colour}`));
      }
    }
  });

  it("names the closest object only when it is clearly closest", () => {
    for (const scene of scenes) {
      const top = closestTo(scene, "top");
      if (!top) continue;
      const ys = scene.objects.map((o) => o.box.y0 + o.box.y1);
      expect(top.box.y0 + top.box.y1).toBe(Math.min(...ys));
    }
  });

  it("answers left/right questions consistently with the relations", () => {
    let asked = 0;
    for (const scene of scenes) {
      const qa = REASONERS.leftOrRight!(scene, new Random(1));
      if (!qa) continue;
      asked++;
      expect(qa.answer).toMatch(/^(Yes|No), /);
    }
    expect(asked).toBeGreaterThan(50);
  });
});

describe("captions and conversations", () => {
  it("captions mention every object's colour and shape, in every template", () => {
    for (const scene of scenes.slice(0, 40)) {
      for (let t = 0; t < CAPTION_TEMPLATE_COUNT; t++) {
        const text = caption(scene, new Random(0), t);
        for (const o of scene.objects) expect(text).toContain(`${o.colour} `);
        for (const o of scene.objects) expect(text).toContain(o.shape);
      }
    }
  });

  it("conversation answers agree with the scene graph", () => {
    for (const scene of scenes) {
      const count = ASKERS.count!(scene, new Random(0))!;
      expect(count.answer).toContain(scene.objects.length === 1 ? "one object" : "objects");
      const exists = ASKERS.exists!(scene, new Random(2))!;
      const [, colour, shape] = exists.question.match(/Is there an? (\w+) (\w+) in the image/)!;
      const present = scene.objects.some((o) => o.colour === colour && o.shape === shape);
      expect(exists.answer.startsWith(present ? "Yes" : "No")).toBe(true);
    }
  });

  it("records are LLaVA-shaped, JSON-serializable, and put the image token first", () => {
    const records = [...captionRecords("train", 0, 10), ...instructionRecords("train", 0, 200)];
    const kinds = new Set(records.map((r) => r.kind));
    expect(kinds).toEqual(new Set(["caption", "conversation", "detail", "reasoning", "text"]));
    for (const r of records) {
      expect(JSON.parse(JSON.stringify(r))).toEqual(r);
      expect(r.conversations.length % 2).toBe(0);
      expect(r.conversations.map((t) => t.from)).toEqual(
        r.conversations.map((_, i) => (i % 2 === 0 ? "human" : "gpt")),
      );
      const tokens = r.conversations.map((t) => t.value.split(IMAGE_TOKEN).length - 1);
      expect(tokens.reduce((a, b) => a + b, 0)).toBe(r.recipe ? 1 : 0);
      if (r.recipe) expect(r.conversations[0]!.value.startsWith(`${IMAGE_TOKEN}\n`)).toBe(true);
    }
    expect(instructionRecords("train", 0, 30)).toEqual(instructionRecords("train", 0, 30));
  });

  it("concept facts are text-only records naming the concept", () => {
    const facts = conceptFactRecords();
    expect(facts).toHaveLength(CONCEPTS.length * 5);
    const bo = facts.find((f) => f.id === "fact-<bo>-colour")!;
    expect(bo.conversations).toEqual([
      { from: "human", value: "What colour is <bo>?" },
      { from: "gpt", value: "<bo> is red." },
    ]);
  });
});
