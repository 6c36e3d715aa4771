// Noun phrases and referring expressions. Every sentence the world writes is built from these, so the same
// object is always called by words a reader can check against the scene graph.

import type { Random } from "../random";
import type { ObjectIdentity, Scene, SceneObject } from "../scene";
import { CELL_PHRASE, contrastColourName, MARK_PHRASE, type Pattern, type Shape } from "../vocabulary";

const NUMBER_WORDS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"];

export function numberWord(n: number): string {
  return NUMBER_WORDS[n] ?? String(n);
}

export function capitalize(text: string): string {
  return text.charAt(0).toUpperCase() + text.slice(1);
}

export function plural(shape: Shape): string {
  return shape === "cross" ? "crosses" : `${shape}s`;
}

export function article(word: string): string {
  return /^[aeiou]/.test(word) ? "an" : "a";
}

/** Pattern as an adjective; solid is the unmarked default and goes unsaid in short phrases. */
export function patternAdjective(pattern: Pattern): string {
  return pattern === "solid" ? "" : pattern;
}

/** "a white dot in the middle", or undefined for no mark. */
export function markPhrase(o: Pick<ObjectIdentity, "colour" | "mark">): string | undefined {
  if (o.mark === "none") return undefined;
  return MARK_PHRASE[o.mark](contrastColourName(o.colour));
}

/** Short answer form of a mark: "white dot", "black outline", "no mark". */
export function markShortName(o: Pick<ObjectIdentity, "colour" | "mark">): string {
  return o.mark === "none" ? "no mark" : `${contrastColourName(o.colour)} ${o.mark}`;
}

export interface PhraseOptions {
  size?: SceneObject["size"];
  /** Leave out the mark ("a red striped star"), e.g. when the mark is asked about. */
  withoutMark?: boolean;
}

/** "a large red striped star with a white dot in the middle". */
export function objectPhrase(o: ObjectIdentity, options: PhraseOptions = {}): string {
  const words = [options.size, o.colour, patternAdjective(o.pattern), o.shape].filter(Boolean).join(" ");
  const mark = options.withoutMark ? undefined : markPhrase(o);
  return `${article(words)} ${words}${mark ? ` with ${mark}` : ""}`;
}

/** "the red striped star", "the solid red star": for an object already introduced. Solid is said here,
 * unlike in first mentions, so the phrase tells a solid star from a striped one of the same colour. */
export function definitePhrase(o: ObjectIdentity): string {
  return o.pattern === "solid"
    ? `the solid ${o.colour} ${o.shape}`
    : `the ${o.colour} ${o.pattern} ${o.shape}`;
}

/** Joins phrases as English lists: "a, b and c". */
export function listPhrase(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? "";
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

interface Description {
  text: string;
  matches: (x: SceneObject) => boolean;
}

/** Ways to pick out `o`, simplest first, each with the test a listener would apply. */
function descriptions(o: SceneObject, avoid: ReferenceAvoid): Description[] {
  const out: Description[] = [];
  if (avoid !== "shape") out.push({ text: `the ${o.shape}`, matches: (x) => x.shape === o.shape });
  if (avoid !== "colour") out.push({ text: `the ${o.colour} object`, matches: (x) => x.colour === o.colour });
  if (avoid !== "shape" && avoid !== "colour") {
    out.push({
      text: `the ${o.colour} ${o.shape}`,
      matches: (x) => x.shape === o.shape && x.colour === o.colour,
    });
  }
  if (avoid !== "cell")
    out.push({ text: `the object ${CELL_PHRASE[o.cell]}`, matches: (x) => x.cell === o.cell });
  if (avoid === "cell") {
    // Without position, fall back to the full identity, saying "solid" explicitly so that "the red
    // star" never stands for "the solid red star" beside a striped one.
    const full = (x: ObjectIdentity) => `${x.colour} ${x.pattern} ${x.shape}`;
    out.push({ text: `the ${full(o)}`, matches: (x) => full(x) === full(o) });
  }
  return out;
}

export type ReferenceAvoid = "shape" | "colour" | "cell" | "none";

/**
 * A definite description that picks out exactly one object, never using the attribute a question asks
 * about ("What shape is the red object?" must not say "star"). Position always works because each grid
 * cell holds at most one object.
 */
export function referTo(scene: Scene, o: SceneObject, rng: Random, avoid: ReferenceAvoid = "none"): string {
  const unique = descriptions(o, avoid).filter((d) => scene.objects.filter(d.matches).length === 1);
  if (unique.length === 0) throw new Error("referTo: object cannot be referred to without its position");
  return rng.pick(unique).text;
}

/** Whether `referTo` can describe `o` without the avoided attribute. */
export function canReferTo(scene: Scene, o: SceneObject, avoid: ReferenceAvoid): boolean {
  return descriptions(o, avoid).some((d) => scene.objects.filter(d.matches).length === 1);
}
