// Multi-turn conversations about one image, LLaVA's "conversation" type: a person asks about colours,
// shapes, patterns, marks, counts and positions; the assistant answers in full sentences read off the
// scene graph.

import type { Random } from "../random";
import type { Scene, SceneObject } from "../scene";
import { CELL_PHRASE, COLOURS, SHAPES } from "../vocabulary";
import {
  article,
  canReferTo,
  capitalize,
  listPhrase,
  markPhrase,
  numberWord,
  objectPhrase,
  referTo,
} from "./phrases";
import type { QA } from "./qa";

type Asker = (scene: Scene, rng: Random) => QA | undefined;

const askColour: Asker = (scene, rng) => {
  const o = rng.pick(scene.objects);
  const ref = referTo(scene, o, rng, "colour");
  const question = rng.pick([`What colour is ${ref}?`, `What is the colour of ${ref}?`]);
  return { question, answer: `${capitalize(ref)} is ${o.colour}.` };
};

const askShape: Asker = (scene, rng) => {
  const o = rng.pick(scene.objects);
  const ref = referTo(scene, o, rng, "shape");
  return { question: `What shape is ${ref}?`, answer: `It is ${article(o.shape)} ${o.shape}.` };
};

const askPattern: Asker = (scene, rng) => {
  const o = rng.pick(scene.objects);
  const ref = referTo(scene, o, rng);
  const answer =
    o.pattern === "solid"
      ? `${capitalize(ref)} is solid ${o.colour}, with no pattern.`
      : o.pattern === "gradient"
        ? `${capitalize(ref)} has a gradient, light at the top and dark at the bottom.`
        : `${capitalize(ref)} is ${o.pattern}.`;
  return {
    question: rng.pick([`What pattern does ${ref} have?`, `Describe the pattern of ${ref}.`]),
    answer,
  };
};

const askMark: Asker = (scene, rng) => {
  const o = rng.pick(scene.objects);
  const ref = referTo(scene, o, rng);
  const mark = markPhrase(o);
  return {
    question: rng.pick([`Does ${ref} have any markings?`, `Is there a mark on ${ref}?`]),
    answer: mark ? `Yes, it has ${mark}.` : "No, it has no markings.",
  };
};

const askPosition: Asker = (scene, rng) => {
  const candidates = scene.objects.filter((o) => canReferTo(scene, o, "cell"));
  if (candidates.length === 0) return undefined;
  const o = rng.pick(candidates);
  const ref = referTo(scene, o, rng, "cell");
  return {
    question: `Where is ${ref} in the image?`,
    answer: `${capitalize(ref)} is ${CELL_PHRASE[o.cell]}.`,
  };
};

const askCount: Asker = (scene) => {
  const n = scene.objects.length;
  return {
    question: "How many objects are in the image?",
    answer: n === 1 ? "There is one object." : `There are ${numberWord(n)} objects.`,
  };
};

const askExists: Asker = (scene, rng) => {
  const present = rng.chance(0.5);
  const o = rng.pick(scene.objects);
  const colour = present ? o.colour : rng.pick(COLOURS);
  const shape = present ? o.shape : rng.pick(SHAPES);
  const matches = scene.objects.filter((x) => x.colour === colour && x.shape === shape);
  const question = `Is there ${article(colour)} ${colour} ${shape} in the image?`;
  if (matches.length === 0) return { question, answer: `No, there is no ${colour} ${shape}.` };
  const where = matches.map((m) => CELL_PHRASE[m.cell]);
  return { question, answer: `Yes, there is ${article(colour)} ${colour} ${shape} ${listPhrase(where)}.` };
};

const askRelation: Asker = (scene, rng) => {
  if (scene.relations.length === 0) return undefined;
  const r = rng.pick(scene.relations);
  const anchor = scene.objects[r.object]!;
  const related = scene.relations
    .filter((x) => x.object === r.object && x.relation === r.relation)
    .map((x) => scene.objects[x.subject]!);
  const ref = referTo(scene, anchor, rng);
  const where = r.relation === "above" || r.relation === "below" ? r.relation : `to the ${r.relation}`;
  return {
    question: `What is ${where} ${ref}?`,
    answer: `${capitalize(listPhrase(related.map((o: SceneObject) => objectPhrase(o))))} ${
      related.length === 1 ? "is" : "are"
    } ${where} ${ref}.`,
  };
};

const askSummary: Asker = (scene) => ({
  question: "What objects can you see?",
  answer: `I can see ${listPhrase(scene.objects.map((o) => objectPhrase(o)))}.`,
});

export const ASKERS: Record<string, Asker> = {
  colour: askColour,
  shape: askShape,
  pattern: askPattern,
  mark: askMark,
  position: askPosition,
  count: askCount,
  exists: askExists,
  relation: askRelation,
  summary: askSummary,
};

/** Two to five turns on distinct topics. */
export function conversation(scene: Scene, rng: Random): QA[] {
  const turns: QA[] = [];
  const topics = rng.shuffle(Object.keys(ASKERS));
  const wanted = rng.intBetween(2, 5);
  for (const topic of topics) {
    if (turns.length >= wanted) break;
    const qa = ASKERS[topic]!(scene, rng);
    if (qa) turns.push(qa);
  }
  return turns;
}
