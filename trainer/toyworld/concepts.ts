// The catalogue of predefined personal concepts. A concept is one specific object instance: a fixed
// shape, colour, pattern and mark. Its size and place change from photo to photo, as a pet's do.

import { markPhrase, objectPhrase } from "./language/phrases";
import type { QA } from "./language/qa";
import type { ObjectIdentity } from "./scene";

export const CONCEPT_KINDS = ["pet", "toy", "mug", "plant", "object"] as const;
export type ConceptKind = (typeof CONCEPT_KINDS)[number];

export interface ToyConcept {
  /** The placeholder users write, e.g. "<bo>". */
  name: string;
  kind: ConceptKind;
  identity: ObjectIdentity;
}

const c = (
  name: string,
  kind: ConceptKind,
  shape: ObjectIdentity["shape"],
  colour: ObjectIdentity["colour"],
  pattern: ObjectIdentity["pattern"],
  mark: ObjectIdentity["mark"],
): ToyConcept => ({ name, kind, identity: { shape, colour, pattern, mark } });

export const CONCEPTS: readonly ToyConcept[] = [
  c("<bo>", "pet", "star", "red", "striped", "dot"),
  c("<mochi>", "pet", "circle", "white", "dotted", "cap"),
  c("<kiki>", "pet", "heart", "pink", "solid", "outline"),
  c("<toto>", "toy", "square", "blue", "checkered", "band"),
  c("<nemo>", "pet", "crescent", "orange", "gradient", "dot"),
  c("<luna>", "pet", "diamond", "purple", "striped", "outline"),
  c("<pip>", "toy", "triangle", "yellow", "dotted", "band"),
  c("<rex>", "pet", "hexagon", "green", "checkered", "cap"),
  c("<zuzu>", "object", "ring", "teal", "solid", "none"),
  c("<coco>", "pet", "cross", "brown", "dotted", "dot"),
  c("<suki>", "mug", "square", "pink", "striped", "cap"),
  c("<taro>", "plant", "star", "green", "gradient", "band"),
  c("<fifi>", "pet", "heart", "red", "checkered", "none"),
  c("<juno>", "object", "circle", "gray", "striped", "outline"),
  c("<momo>", "toy", "diamond", "yellow", "solid", "dot"),
  c("<obi>", "pet", "hexagon", "black", "dotted", "outline"),
  c("<pixel>", "toy", "cross", "blue", "gradient", "cap"),
  c("<lulu>", "pet", "triangle", "purple", "checkered", "dot"),
  c("<bean>", "mug", "circle", "orange", "striped", "band"),
  c("<yuki>", "pet", "star", "white", "checkered", "outline"),
  c("<ziggy>", "toy", "ring", "red", "dotted", "cap"),
  c("<mika>", "pet", "crescent", "teal", "checkered", "band"),
  c("<kobe>", "object", "square", "brown", "gradient", "outline"),
  c("<nori>", "pet", "heart", "black", "striped", "dot"),
];

export function findConcept(name: string): ToyConcept {
  const concept = CONCEPTS.find((x) => x.name === name);
  if (!concept)
    throw new Error(`unknown toy concept ${name}; known: ${CONCEPTS.map((x) => x.name).join(" ")}`);
  return concept;
}

/** The text a user might type instead of photos: the "text prompt" baseline of Yo'LLaVA. */
export function conceptDescription(concept: ToyConcept): string {
  const kind = concept.kind === "object" ? "an object" : `a ${concept.kind}`;
  return `${concept.name} is ${kind}: ${objectPhrase(concept.identity)}.`;
}

/** Facts for text-only QA, each with a canonical short answer for scoring. */
export interface ConceptFact extends QA {
  attribute: "kind" | "shape" | "colour" | "pattern" | "mark";
  short: string;
}

export function conceptFacts(concept: ToyConcept): ConceptFact[] {
  const { name, identity: o } = concept;
  const mark = markPhrase(o);
  return [
    {
      attribute: "kind",
      question: `What kind of thing is ${name}?`,
      answer: `${name} is a ${concept.kind}.`,
      short: concept.kind,
    },
    {
      attribute: "colour",
      question: `What colour is ${name}?`,
      answer: `${name} is ${o.colour}.`,
      short: o.colour,
    },
    {
      attribute: "shape",
      question: `What shape is ${name}?`,
      answer: `${name} is shaped like a ${o.shape}.`,
      short: o.shape,
    },
    {
      attribute: "pattern",
      question: `What pattern does ${name} have?`,
      answer:
        o.pattern === "solid" ? `${name} is solid ${o.colour}, with no pattern.` : `${name} is ${o.pattern}.`,
      short: o.pattern,
    },
    {
      attribute: "mark",
      question: `Does ${name} have a distinctive mark?`,
      answer: mark ? `Yes, ${name} has ${mark}.` : `No, ${name} has no mark.`,
      short: o.mark,
    },
  ];
}
