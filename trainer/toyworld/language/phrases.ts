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

/** "the red striped star" for an object already introduced. */
export function definitePhrase(o: ObjectIdentity): string {
  return `the ${[o.colour, patternAdjective(o.pattern), o.shape].filter(Boolean).join(" ")}`;
}

/** Joins phrases as English lists: "a, b and c". */
export function listPhrase(items: readonly string[]): string {
  if (items.length <= 1) return items[0] ?? "";
  return `${items.slice(0, -1).join(", ")} and ${items[items.length - 1]}`;
}

export type ReferenceBasis = "shape" | "colour" | "colour+shape" | "full" | "cell";

/**
 * A definite description that picks out exactly one object, never using the attribute a question asks
 * about ("What shape is the red object?" must not say "star"). Position always works because each grid
 * cell holds at most one object.
 */
export function referTo(
  scene: Scene,
  o: SceneObject,
  rng: Random,
  avoid: "shape" | "colour" | "cell" | "none" = "none",
): string {
  const unique = (match: (x: SceneObject) => boolean) => scene.objects.filter(match).length === 1;
  const options: string[] = [];
  if (avoid !== "shape" && unique((x) => x.shape === o.shape)) options.push(`the ${o.shape}`);
  if (avoid !== "colour" && unique((x) => x.colour === o.colour)) options.push(`the ${o.colour} object`);
  if (
    avoid !== "shape" &&
    avoid !== "colour" &&
    unique((x) => x.shape === o.shape && x.colour === o.colour)
  ) {
    options.push(`the ${o.colour} ${o.shape}`);
  }
  if (avoid !== "cell") options.push(`the object ${CELL_PHRASE[o.cell]}`);
  if (options.length === 0) {
    // Only reachable when avoiding the cell and neither shape nor colour is unique: fall back to the
    // full identity, which is unique unless two identical objects share a scene.
    const full = definitePhrase(o);
    if (unique((x) => definitePhrase(x) === full)) return full;
    throw new Error("referTo: object cannot be referred to without its position");
  }
  return rng.pick(options);
}

/** Whether `referTo` can describe `o` without the avoided attribute. */
export function canReferTo(scene: Scene, o: SceneObject, avoid: "shape" | "colour" | "cell"): boolean {
  if (avoid !== "cell") return true;
  const unique = (match: (x: SceneObject) => boolean) => scene.objects.filter(match).length === 1;
  return (
    unique((x) => x.shape === o.shape) ||
    unique((x) => x.colour === o.colour) ||
    unique((x) => definitePhrase(x) === definitePhrase(o))
  );
}
