// Scoring short answers. A model may say "Grey.", "it's in the upper left corner" or "3 stars"; the
// normalizer maps such answers onto the world's canonical words so that evaluation measures what the
// model knows, not how it phrases it.

import { CELLS, COLOURS, MARKS, PATTERNS, SHAPES } from "../vocabulary";

export const VQA_KINDS = ["colour", "shape", "pattern", "count", "position", "mark", "yesno"] as const;
export type VqaKind = (typeof VQA_KINDS)[number];

const NUMBERS = ["zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"];

const SYNONYMS: Record<string, string> = {
  grey: "gray",
  centre: "center",
  middle: "center",
  central: "center",
  upper: "top",
  lower: "bottom",
  stripes: "striped",
  stripe: "striped",
  stripy: "striped",
  stripey: "striped",
  dots: "dotted",
  spots: "dotted",
  spotted: "dotted",
  checked: "checkered",
  chequered: "checkered",
  checkerboard: "checkered",
  checkers: "checkered",
  plain: "solid",
  shaded: "gradient",
  faded: "gradient",
  moon: "crescent",
  plus: "cross",
  rhombus: "diamond",
  crosses: "cross",
  nope: "no",
  yeah: "yes",
  yep: "yes",
  ...Object.fromEntries(NUMBERS.map((w, i) => [w, String(i)])),
  ...Object.fromEntries(SHAPES.filter((s) => s !== "cross").map((s) => [`${s}s`, s])),
};

/** Words that carry no answer: articles, copulas, and the nouns a question already said. */
const FILLER = new Set(
  (
    "a an the it its it's is are was there this that s of in on at to with has have answer " +
    "object objects shape shaped color colour colored coloured pattern patterned image picture " +
    "corner side part position located placed"
  ).split(" "),
);

const VERTICAL = new Set(["top", "bottom"]);
const HORIZONTAL = new Set(["left", "right"]);

/** Lowercase canonical form: synonyms mapped, filler dropped, positions joined ("top-left"). */
export function normalizeAnswer(text: string): string {
  const words = text
    .toLowerCase()
    .replace(/[^a-z0-9<>]+/g, " ")
    .split(" ")
    .filter((w) => w.length > 0)
    .map((w) => SYNONYMS[w] ?? w)
    .filter((w) => !FILLER.has(w));
  const out: string[] = [];
  for (let i = 0; i < words.length; i++) {
    const w = words[i]!;
    const next = words[i + 1];
    if (next && VERTICAL.has(w) && HORIZONTAL.has(next)) {
      out.push(`${w}-${next}`);
      i++;
    } else if (next && HORIZONTAL.has(w) && VERTICAL.has(next)) {
      out.push(`${next}-${w}`); // "left top" means the same corner
      i++;
    } else if (next && w === "center" && (VERTICAL.has(next) || HORIZONTAL.has(next) || next === "center")) {
      out.push(next); // "center left" is the left cell
      i++;
    } else if (next === "center" && (VERTICAL.has(w) || HORIZONTAL.has(w))) {
      out.push(w); // "top center" is the top cell
      i++;
    } else {
      out.push(w);
    }
  }
  return out.join(" ");
}

const VOCABULARY: Record<Exclude<VqaKind, "count">, readonly string[]> = {
  colour: COLOURS,
  shape: SHAPES,
  pattern: PATTERNS,
  position: CELLS,
  mark: MARKS,
  yesno: ["yes", "no"],
};

/** The canonical answer words of `kind` that occur in a normalized answer, in order. */
export function answerTerms(normalized: string, kind: VqaKind): string[] {
  const words = normalized.split(" ").filter((w) => w.length > 0);
  if (kind === "count") return words.filter((w) => /^\d+$/.test(w)).map((w) => String(Number(w)));
  if (kind === "mark") {
    // "no mark", "nothing", "without markings" all mean none.
    const terms = words.filter((w) => (MARKS as readonly string[]).includes(w));
    if (terms.length === 0 && words.some((w) => w === "no" || w === "nothing" || w === "without")) {
      return ["none"];
    }
    return terms;
  }
  return words.filter((w) => VOCABULARY[kind].includes(w));
}

/**
 * Whether a free-form prediction answers a VQA item: exact after normalization, or naming exactly one
 * canonical term of the item's kind, which must be the right one. "red or blue" names two: wrong.
 */
export function scoreAnswer(prediction: string, answer: string, kind: VqaKind): boolean {
  const normalized = normalizeAnswer(prediction);
  if (normalized === answer) return true;
  const terms = [...new Set(answerTerms(normalized, kind))];
  return terms.length === 1 && terms[0] === answer;
}
