// Crossed recognition quads: two scenes, two descriptions one attribute apart, yes on the diagonal, and
// attention targets that are exactly the patches of a matching object.

import { describe, expect, it } from "vitest";
import { loadTokenizer } from "../../../trainer/text/tokenizer";
import { composeScene } from "../../../trainer/toyworld/compose";
import { sceneRecipe } from "../../../trainer/toyworld/records";
import { IDENTITY_ATTRIBUTES, type ObjectIdentity, type Scene } from "../../../trainer/toyworld/scene";
import { RowEncoder, rowStream, type TrainingRow } from "../../../trainer/toyworld/train/instruction-data";
import { describedPhrase } from "../../../trainer/toyworld/train/recognition-data";
import {
  matchingPatches,
  patchGrid,
  recognitionQuad,
} from "../../../trainer/toyworld/train/recognition-quads";
import { TOKEN_IDS } from "../../../trainer/toyworld/train/tokenizer";
import { TOY_LLAVA_DIR } from "../../../trainer/toyworld/train/toy-models";

const GRID = 8;
const seeds = Array.from({ length: 60 }, (_, i) => 1000 + i * 7);

function patchCentre(token: number): [number, number] {
  const p = token - 1;
  return [((p % GRID) + 0.5) / GRID, (Math.floor(p / GRID) + 0.5) / GRID];
}

function inBox(scene: Scene, token: number): boolean {
  const [x, y] = patchCentre(token);
  return scene.objects.some((o) => x >= o.box.x0 && x <= o.box.x1 && y >= o.box.y0 && y <= o.box.y1);
}

describe("recognitionQuad", () => {
  it("is a pure function of its seed", () => {
    expect(recognitionQuad(42)).toEqual(recognitionQuad(42));
    expect(recognitionQuad(42).items).not.toEqual(recognitionQuad(43).items);
  });

  it("asks two descriptions about two scenes, yes on the diagonal, mostly no across it", () => {
    let across = 0;
    let acrossNo = 0;
    for (const seed of seeds) {
      const quad = recognitionQuad(seed);
      const [a1, b2, a2, b1] = quad.items;
      expect([a1.scene, b2.scene, a2.scene, b1.scene]).toEqual([0, 1, 1, 0]);
      expect(a1.question).toBe(a2.question);
      expect(b2.question).toBe(b1.question);
      expect(a1.question).not.toBe(b2.question);
      expect([a1.answer, b2.answer]).toEqual(["Yes", "Yes"]);
      for (const item of [a2, b1]) {
        across++;
        if (item.answer === "No") acrossNo++;
      }
      expect(quad.scenes[0].objects.length).toBeLessThanOrEqual(3);
    }
    // A distractor can fit a partial description by chance; that is rare.
    expect(acrossNo / across).toBeGreaterThan(0.9);
  });

  it("targets the patches of a matching object for a yes and nothing for a no", () => {
    for (const seed of seeds) {
      const quad = recognitionQuad(seed);
      for (const item of quad.items) {
        if (item.answer === "No") {
          expect(item.attentionTargets).toEqual([]);
          continue;
        }
        expect(item.attentionTargets.length).toBeGreaterThan(0);
        for (const t of item.attentionTargets) {
          expect(t).toBeGreaterThanOrEqual(1);
          expect(t).toBeLessThanOrEqual(GRID * GRID);
          expect(inBox(quad.scenes[item.scene], t)).toBe(true);
        }
      }
    }
  });

  it("identity quads name every attribute, and B is a concept-style hard negative of A", () => {
    const changed = new Map<string, number>();
    for (const seed of seeds) {
      const quad = recognitionQuad(seed, { naming: "identity" });
      const [a, b] = quad.recipes.map((r) => r.subjects![0]!) as [ObjectIdentity, ObjectIdentity];
      const differs = IDENTITY_ATTRIBUTES.filter((k) => a[k] !== b[k]);
      expect(differs.length).toBeGreaterThanOrEqual(1);
      expect(differs.length).toBeLessThanOrEqual(2);
      for (const k of differs) changed.set(k, (changed.get(k) ?? 0) + 1);
      const [a1, b2, a2, b1] = quad.items;
      expect(a1.question).toContain(describedPhrase(a));
      expect(b2.question).toContain(describedPhrase(b));
      // Both scenes exclude the other identity, and the questions name all of it: across is always no.
      expect([a1.answer, b2.answer, a2.answer, b1.answer]).toEqual(["Yes", "Yes", "No", "No"]);
      expect(a2.attentionTargets).toEqual([]);
    }
    // Marks and patterns change most often, shapes least (CHANGE_WEIGHTS in concept-data.ts).
    expect(changed.get("mark")! + changed.get("pattern")!).toBeGreaterThan(2 * (changed.get("shape") ?? 0));
    // Its own streams: not the partial quad's scenes with other questions.
    expect(recognitionQuad(42, { naming: "identity" }).scenes).not.toEqual(recognitionQuad(42).scenes);
  });

  it("patchGrid reads the grid side off CLS + grid^2 image tokens, and refuses anything else", () => {
    expect(patchGrid(65)).toBe(8);
    expect(patchGrid(2)).toBe(1);
    expect(() => patchGrid(64)).toThrow(/square grid/);
    expect(() => patchGrid(1)).toThrow(/square grid/);
  });

  it("matchingPatches covers exactly the patch centres inside the described objects' boxes", () => {
    const scene = recognitionQuad(7).scenes[0];
    const o = scene.objects[0]!;
    const patches = matchingPatches(scene, { shape: o.shape, colour: o.colour }, GRID);
    const expected = Array.from({ length: GRID * GRID }, (_, p) => p + 1).filter((t) => {
      const [x, y] = patchCentre(t);
      return scene.objects.some(
        (s) =>
          s.shape === o.shape &&
          s.colour === o.colour &&
          x >= s.box.x0 &&
          x <= s.box.x1 &&
          y >= s.box.y0 &&
          y <= s.box.y1,
      );
    });
    expect(patches).toEqual(expected);
    expect(patches.length).toBeGreaterThan(0);
  });
});

/** A stream of quad rows only, with 32 px pictures. */
function quadStream(kind: "recognition_quad" | "identity_quad", seed: number) {
  const encoder = new RowEncoder(loadTokenizer(TOY_LLAVA_DIR), GRID * GRID + 1);
  return rowStream({ encoder, seeds: [0], mix: { [kind]: 1 }, maxLength: 160, seed, imageSize: 32 });
}

describe("rowStream with recognition_quad", () => {
  it("yields a quad's four rows together, each with its own picture and attention targets", () => {
    const stream = quadStream("recognition_quad", 1);
    const rows: TrainingRow[] = Array.from({ length: 8 }, () => stream.next().value as TrainingRow);
    for (const row of rows) {
      expect(row.scene).toBeUndefined();
      expect(row.image?.width).toBe(32);
      expect(row.attentionTargets).toBeDefined();
      expect(row.ids.filter((id) => id === TOKEN_IDS.image).length).toBe(GRID * GRID + 1);
    }
    // Rows 0 and 3 share scene 1's picture, rows 1 and 2 scene 2's.
    expect(rows[0]!.image).toBe(rows[3]!.image);
    expect(rows[1]!.image).toBe(rows[2]!.image);
    expect(rows[0]!.image).not.toBe(rows[1]!.image);
  });
});

describe("rowStream with identity_quad", () => {
  it("yields quads whose questions name the pattern and the mark", () => {
    const tok = loadTokenizer(TOY_LLAVA_DIR);
    const stream = quadStream("identity_quad", 2);
    for (let n = 0; n < 16; n++) {
      const row = stream.next().value as TrainingRow;
      const text = tok.decode(row.ids, { skipSpecialTokens: true });
      expect(row.image?.width).toBe(32);
      expect(row.attentionTargets).toBeDefined();
      expect(text).toMatch(/solid|striped|dotted|checkered|gradient/);
      expect(text).toMatch(/ with | without a mark/);
    }
  });
});

describe("rowStream with vqa_located", () => {
  it("points a short answer's attention at the objects it is read from", () => {
    const tok = loadTokenizer(TOY_LLAVA_DIR);
    const encoder = new RowEncoder(tok, GRID * GRID + 1);
    const seeds = Array.from({ length: 40 }, (_, i) => i);
    const stream = rowStream({ encoder, seeds, mix: { vqa_located: 1 }, maxLength: 160, seed: 3 });
    let colours = 0;
    for (let n = 0; n < 60; n++) {
      const row = stream.next().value as TrainingRow;
      const scene = composeScene(sceneRecipe(seeds[row.scene!]!));
      const text = tok.decode(row.ids, { skipSpecialTokens: true });
      const answer = text.split("ASSISTANT :")[1]!.trim();
      expect(row.attentionTargets, text).toBeDefined();
      const targets = row.attentionTargets!;
      for (const t of targets) {
        expect(t).toBeGreaterThanOrEqual(1);
        expect(t).toBeLessThanOrEqual(GRID * GRID);
      }
      if (/How many/.test(text)) {
        // Zero counted objects: the head is pointed at <s> (no image token).
        if (answer === "0") expect(targets).toEqual([]);
        else expect(targets.length, text).toBeGreaterThan(0);
        continue;
      }
      expect(targets.length, text).toBeGreaterThan(0);
      if (/What colour/.test(text)) {
        // Every target patch lies inside an object of the answered colour.
        colours++;
        const ofColour = scene.objects.filter((o) => o.colour === answer);
        for (const t of targets) {
          const [x, y] = patchCentre(t);
          const inside = ofColour.some(
            (o) => x >= o.box.x0 && x <= o.box.x1 && y >= o.box.y0 && y <= o.box.y1,
          );
          expect(inside, `${text}: patch ${t}`).toBe(true);
        }
      }
    }
    expect(colours).toBeGreaterThan(3);
  });
});

describe("rowStream with VQA kind weights", () => {
  it("asks only the weighted kinds, in proportion", () => {
    const tok = loadTokenizer(TOY_LLAVA_DIR);
    const encoder = new RowEncoder(tok, GRID * GRID + 1);
    const seeds = Array.from({ length: 40 }, (_, i) => i);
    const stream = rowStream({
      encoder,
      seeds,
      mix: { vqa: 1 },
      maxLength: 160,
      seed: 4,
      vqaKindWeights: { position: 3, colour: 1 },
    });
    let where = 0;
    let colour = 0;
    for (let n = 0; n < 200; n++) {
      const text = tok.decode((stream.next().value as TrainingRow).ids, { skipSpecialTokens: true });
      if (/Where in the 3x3 grid/.test(text)) where++;
      else if (/What colour/.test(text)) colour++;
    }
    // A position question that cannot be asked falls through to mark; on these scenes none does.
    expect(where + colour).toBe(200);
    expect(where).toBeGreaterThan(2 * colour);
  });
});
