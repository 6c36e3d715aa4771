// Recognition-style yes/no questions read off the scene graph: "Is there a red striped star in this
// photo?" -> "Yes"/"No". Negatives mostly change one attribute of an object that is present (the way a
// concept's hard negatives do), so the model learns to check every attribute it is asked about; this is
// what later lets a few soft-prompt rows for `<bo>` turn into a reliable "Is <bo> in this photo?".

import { composeScene, type SceneRecipe } from "../compose";
import { markPhrase } from "../language/phrases";
import { Random } from "../random";
import type { ObjectIdentity, Scene } from "../scene";
import { COLOURS, MARKS, NEAR_COLOURS, NEAR_SHAPES, PATTERNS, SHAPES } from "../vocabulary";

/** The yes/no question forms ({x} is a described object); recognition quads ask the same. */
export const RECOGNITION_QUESTIONS = [
  "Is there {x} in this photo?",
  "Is there {x} in the image?",
  "Can you see {x} in this picture?",
  "Does this photo show {x}?",
] as const;

/** An object as a question names it: always its shape, some of its other attributes. */
export type Described = Partial<ObjectIdentity> & Pick<ObjectIdentity, "shape">;

export interface RecognitionItem {
  recipe: SceneRecipe;
  question: string;
  answer: "Yes" | "No";
}

/** "a red striped star with a white dot in the middle"; unnamed attributes are left out. */
export function describedPhrase(d: Described): string {
  const words = [d.colour, d.pattern, d.shape].filter(Boolean).join(" ");
  const mark = d.mark && d.colour ? markPhrase({ colour: d.colour, mark: d.mark }) : undefined;
  const article = /^[aeiou]/.test(words) ? "an" : "a";
  return `${article} ${words}${mark ? ` with ${mark}` : d.mark === "none" ? " without a mark" : ""}`;
}

/** Whether object `o` is what `d` describes (every named attribute equal). */
export function describes(d: Described, o: ObjectIdentity): boolean {
  return (
    o.shape === d.shape &&
    (d.colour === undefined || o.colour === d.colour) &&
    (d.pattern === undefined || o.pattern === d.pattern) &&
    (d.mark === undefined || o.mark === d.mark)
  );
}

function matches(scene: Scene, d: Described): boolean {
  return scene.objects.some((o) => describes(d, o));
}

/** One yes/no item about the plain scene at `seed`; about half are yes. */
export function recognitionItem(seed: number): RecognitionItem {
  const recipe: SceneRecipe = { seed };
  const scene = composeScene(recipe);
  const rng = new Random(seed, "train:recognition");
  const o = rng.pick(scene.objects);
  // Which attributes the question names besides the shape (colour almost always, as people say it).
  const d: Described = { shape: o.shape };
  if (rng.chance(0.9)) d.colour = o.colour;
  if (rng.chance(0.6)) d.pattern = o.pattern;
  if (d.colour && rng.chance(0.35)) d.mark = o.mark;
  if (rng.chance(0.5)) {
    // A near miss: change one named attribute to a confusable value, or name an unrelated object.
    const named = (["shape", "colour", "pattern", "mark"] as const).filter((k) => d[k] !== undefined);
    const k = rng.chance(0.85) ? rng.pick(named) : "all";
    if (k === "shape") d.shape = rng.chance(0.7) ? rng.pick(NEAR_SHAPES[o.shape]) : rng.pick(SHAPES);
    else if (k === "colour")
      d.colour = rng.chance(0.7) ? rng.pick(NEAR_COLOURS[o.colour]) : rng.pick(COLOURS);
    else if (k === "pattern") d.pattern = rng.pick(PATTERNS.filter((p) => p !== o.pattern));
    else if (k === "mark") d.mark = rng.pick(MARKS.filter((m) => m !== o.mark));
    else {
      d.shape = rng.pick(SHAPES);
      if (d.colour) d.colour = rng.pick(COLOURS);
    }
  }
  const question = rng.pick(RECOGNITION_QUESTIONS).replace("{x}", describedPhrase(d));
  return { recipe, question, answer: matches(scene, d) ? "Yes" : "No" };
}

/** Every question form (for the tokenizer's vocabulary). */
export function recognitionQuestions(): string[] {
  return [...RECOGNITION_QUESTIONS, "without a mark", "Answer yes or no."];
}
