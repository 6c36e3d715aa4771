// Crossed yes/no quads with attention targets: the data of the stage that took the toy LLaVA's yes/no
// recognition off chance (`llava_recognize`; toyworld README, "What to try next", item 1).
//
// A quad is two scenes and two descriptions that differ in one named attribute, the way a concept and
// its hard negative differ: scene 1 holds identity A, scene 2 the near miss B; "Is there {A} ...?" and
// "Is there {B} ...?" are asked about both. The answers are yes on the diagonal and no across it, so
// anything the question or the picture decides alone cancels within the quad and only their match is
// left to learn. Each item also names its attention target: the image tokens (1 = the first patch after
// CLS) whose patch centres lie inside an object the description matches, none for a "no". An auxiliary
// loss on one attention head at the answer position (tools/reference/train_toy_llava_torch.py,
// --attention-target) pulls that head onto those patches, or onto the first token when nothing matches;
// that first-order signal is what the plain yes/no loss lacks.

import { composeScene, type SceneRecipe } from "../compose";
import { hardNegativeVariant } from "../concept-data";
import { Random } from "../random";
import type { ObjectIdentity, Scene, SceneObject } from "../scene";
import { COLOURS, MARKS, NEAR_COLOURS, NEAR_SHAPES, PATTERNS, SHAPES } from "../vocabulary";
import { type Described, describedPhrase, describes, RECOGNITION_QUESTIONS } from "./recognition-data";

export interface QuadItem {
  /** 0 or 1: which of the quad's two scenes the question is asked about. */
  scene: 0 | 1;
  question: string;
  answer: "Yes" | "No";
  /** Image-token indices (CLS = 0, patches 1..grid^2 row-major) inside a matching object; [] for "No". */
  attentionTargets: number[];
}

export interface RecognitionQuad {
  recipes: [SceneRecipe, SceneRecipe];
  scenes: [Scene, Scene];
  /** (A, scene 1), (B, scene 2), (A, scene 2), (B, scene 1): yes, yes, then mostly no. */
  items: [QuadItem, QuadItem, QuadItem, QuadItem];
}

/** The patch grid side of a tower whose pictures are `imageTokens` tokens: CLS + grid^2 patches. */
export function patchGrid(imageTokens: number): number {
  const grid = Math.round(Math.sqrt(imageTokens - 1));
  if (grid < 1 || grid * grid + 1 !== imageTokens)
    throw new Error(`recognition quads: ${imageTokens} image tokens are not CLS + a square grid of patches`);
  return grid;
}

/** Patch tokens (1-based after CLS) whose centres lie in the box of one of `objects`. */
export function objectPatches(objects: readonly SceneObject[], grid: number): number[] {
  const out: number[] = [];
  for (let p = 0; p < grid * grid; p++) {
    const x = ((p % grid) + 0.5) / grid;
    const y = (Math.floor(p / grid) + 0.5) / grid;
    const inside = objects.some((o) => x >= o.box.x0 && x <= o.box.x1 && y >= o.box.y0 && y <= o.box.y1);
    if (inside) out.push(1 + p);
  }
  return out;
}

/** Patch tokens (1-based after CLS) whose centres lie in the box of an object that `d` describes. */
export function matchingPatches(scene: Scene, d: Described, grid: number): number[] {
  return objectPatches(
    scene.objects.filter((o) => describes(d, o)),
    grid,
  );
}

/**
 * How a quad's questions name their objects. "partial": shape always, the rest as people mention them
 * (recognition-data.ts), one named attribute differing. "identity": every attribute (shape, colour,
 * pattern, mark), B a concept's hard negative of A (concept-data.ts: one or two attributes changed, mark
 * and pattern most often), which is what "Is <bo> in this photo?" has to tell apart: a partial question
 * names the mark in about a third of quads, so the pattern or mark alone rarely decides one.
 */
export type QuadNaming = "partial" | "identity";

/**
 * The quad at `seed` (any split's seed; streams "quad:1"/"quad:2", "quad:identity:1"/"quad:identity:2"
 * keep its scenes apart from others).
 */
export function recognitionQuad(
  seed: number,
  options: { maxObjects?: number; grid?: number; naming?: QuadNaming } = {},
): RecognitionQuad {
  const grid = options.grid ?? 8;
  const naming = options.naming ?? "partial";
  // Identity quads draw from streams of their own: the same seed gives unrelated quads per naming.
  const stream = naming === "partial" ? "quad" : "quad:identity";
  const rng = new Random(seed, stream);
  const a: ObjectIdentity = {
    shape: rng.pick(SHAPES),
    colour: rng.pick(COLOURS),
    pattern: rng.pick(PATTERNS),
    mark: rng.pick(MARKS),
  };
  if (naming === "identity") {
    const b = hardNegativeVariant(a, rng).identity;
    return crossedQuad(seed, stream, rng, [a, b], [a, b], grid, options.maxObjects ?? 3);
  }
  // Which attributes the question names, as recognition-data.ts names them; one of them differs in B.
  const named: (keyof ObjectIdentity)[] = ["shape"];
  if (rng.chance(0.9)) named.push("colour");
  if (rng.chance(0.6)) named.push("pattern");
  if (named.includes("colour") && rng.chance(0.35)) named.push("mark");
  const changed = rng.pick(named);
  const b: ObjectIdentity = { ...a };
  if (changed === "shape")
    b.shape = rng.chance(0.7)
      ? rng.pick(NEAR_SHAPES[a.shape])
      : rng.pick(SHAPES.filter((s) => s !== a.shape));
  else if (changed === "colour")
    b.colour = rng.chance(0.7)
      ? rng.pick(NEAR_COLOURS[a.colour])
      : rng.pick(COLOURS.filter((c) => c !== a.colour));
  else if (changed === "pattern") b.pattern = rng.pick(PATTERNS.filter((p) => p !== a.pattern));
  else b.mark = rng.pick(MARKS.filter((m) => m !== a.mark));
  const describe = (x: ObjectIdentity): Described => {
    const d: Described = { shape: x.shape };
    if (named.includes("colour")) d.colour = x.colour;
    if (named.includes("pattern")) d.pattern = x.pattern;
    if (named.includes("mark")) d.mark = x.mark;
    return d;
  };
  return crossedQuad(seed, stream, rng, [a, b], [describe(a), describe(b)], grid, options.maxObjects ?? 3);
}

/** Scene 1 holds `a` (never `b`), scene 2 `b` (never `a`); each description is asked about both. */
function crossedQuad(
  seed: number,
  stream: string,
  rng: Random,
  [a, b]: readonly [ObjectIdentity, ObjectIdentity],
  descriptions: readonly [Described, Described],
  grid: number,
  maxObjects: number,
): RecognitionQuad {
  const recipes: [SceneRecipe, SceneRecipe] = [
    { seed, stream: `${stream}:1`, subjects: [a], exclude: [b], minObjects: 1, maxObjects },
    { seed, stream: `${stream}:2`, subjects: [b], exclude: [a], minObjects: 1, maxObjects },
  ];
  const scenes: [Scene, Scene] = [composeScene(recipes[0]), composeScene(recipes[1])];
  const questions = descriptions.map((d) =>
    rng.pick(RECOGNITION_QUESTIONS).replace("{x}", describedPhrase(d)),
  );
  const item = (which: 0 | 1, scene: 0 | 1): QuadItem => {
    // Distractors are random, so an off-diagonal item can still match (a distractor that happens to fit
    // the partial description): the answer is read off the scene, never assumed.
    const targets = matchingPatches(scenes[scene], descriptions[which], grid);
    const yes = scenes[scene].objects.some((o) => describes(descriptions[which], o));
    return {
      scene,
      question: questions[which]!,
      answer: yes ? "Yes" : "No",
      attentionTargets: yes ? targets : [],
    };
  };
  return { recipes, scenes, items: [item(0, 0), item(1, 1), item(0, 1), item(1, 0)] };
}
