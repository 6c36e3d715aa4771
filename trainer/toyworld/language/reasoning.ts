// Complex reasoning, LLaVA's third type: questions whose answers need counting, comparing or combining
// facts across objects. Each asker declines (returns undefined) when the answer would be ambiguous.

import type { Random } from "../random";
import type { Scene, SceneObject } from "../scene";
import { boxCenter } from "../scene";
import { COLOURS, SHAPES } from "../vocabulary";
import { capitalize, definitePhrase, listPhrase, numberWord, plural, referTo } from "./phrases";
import type { QA } from "./qa";

type Reasoner = (scene: Scene, rng: Random) => QA | undefined;

/** Centres must differ by this much (image fraction) before one object counts as "closer". */
export const EXTREME_MARGIN = 0.08;

const EXTREMES = {
  top: (o: SceneObject) => boxCenter(o.box)[1],
  bottom: (o: SceneObject) => -boxCenter(o.box)[1],
  left: (o: SceneObject) => boxCenter(o.box)[0],
  right: (o: SceneObject) => -boxCenter(o.box)[0],
} as const;

/** The object closest to an edge, if it is clearly closer than every other; undefined otherwise. */
export function closestTo(scene: Scene, edge: keyof typeof EXTREMES): SceneObject | undefined {
  if (scene.objects.length < 2) return undefined;
  const key = EXTREMES[edge];
  const sorted = [...scene.objects].sort((a, b) => key(a) - key(b));
  return key(sorted[1]!) - key(sorted[0]!) >= EXTREME_MARGIN ? sorted[0] : undefined;
}

const closest: Reasoner = (scene, rng) => {
  const edge = rng.pick(Object.keys(EXTREMES) as (keyof typeof EXTREMES)[]);
  const o = closestTo(scene, edge);
  if (!o) return undefined;
  return {
    question: `Which object is closest to the ${edge} of the image?`,
    answer: `${capitalize(definitePhrase(o))} is closest to the ${edge}; the other objects are further from that edge.`,
  };
};

function countSentence(matches: readonly SceneObject[], noun: string, nounPlural: string): string {
  if (matches.length === 0) return `There are no ${nounPlural}.`;
  const items = listPhrase(matches.map((o) => definitePhrase(o)));
  return matches.length === 1
    ? `There is one ${noun}: ${items}.`
    : `There are ${numberWord(matches.length)} ${nounPlural}: ${items}.`;
}

const countColour: Reasoner = (scene, rng) => {
  const colour = rng.chance(0.75) ? rng.pick(scene.objects).colour : rng.pick(COLOURS);
  const matches = scene.objects.filter((o) => o.colour === colour);
  return {
    question: `How many ${colour} objects are there?`,
    answer: countSentence(matches, `${colour} object`, `${colour} objects`),
  };
};

const countShape: Reasoner = (scene, rng) => {
  const shape = rng.chance(0.75) ? rng.pick(scene.objects).shape : rng.pick(SHAPES);
  const matches = scene.objects.filter((o) => o.shape === shape);
  return {
    question: `How many ${plural(shape)} are in the image?`,
    answer: countSentence(matches, shape, plural(shape)),
  };
};

const compareCounts: Reasoner = (scene, rng) => {
  const [a, b] = rng.shuffle(SHAPES);
  const na = scene.objects.filter((o) => o.shape === a).length;
  const nb = scene.objects.filter((o) => o.shape === b).length;
  const verdict = na > nb ? "Yes" : "No";
  return {
    question: `Are there more ${plural(a!)} than ${plural(b!)}?`,
    answer: `${verdict}: there ${na === 1 ? "is" : "are"} ${numberWord(na)} ${na === 1 ? a : plural(a!)} and ${numberWord(nb)} ${
      nb === 1 ? b : plural(b!)
    }.`,
  };
};

const leftOrRight: Reasoner = (scene, rng) => {
  if (scene.objects.length < 2) return undefined;
  const [a, b] = rng.shuffle(scene.objects);
  const asked = rng.pick(["left of", "right of"] as const);
  const holds = scene.relations.some(
    (r) => r.subject === a!.id && r.object === b!.id && r.relation === asked,
  );
  const opposite = asked === "left of" ? "right of" : "left of";
  const reverse = scene.relations.some(
    (r) => r.subject === a!.id && r.object === b!.id && r.relation === opposite,
  );
  if (!holds && !reverse) return undefined; // side by side in neither direction: no clear answer
  const refA = referTo(scene, a!, rng);
  const refB = referTo(scene, b!, rng);
  return {
    question: `Is ${refA} to the ${asked} ${refB}?`,
    answer: holds ? `Yes, ${refA} is to the ${asked} ${refB}.` : `No, ${refA} is to the ${opposite} ${refB}.`,
  };
};

const removeColour: Reasoner = (scene, rng) => {
  const colour = rng.pick(scene.objects).colour;
  const left = scene.objects.filter((o) => o.colour !== colour).length;
  return {
    question: `If every ${colour} object were removed, how many objects would be left?`,
    answer: `${capitalize(numberWord(left))}: there ${scene.objects.length === 1 ? "is" : "are"} ${numberWord(
      scene.objects.length,
    )} in total and ${numberWord(scene.objects.length - left)} of them ${
      scene.objects.length - left === 1 ? "is" : "are"
    } ${colour}.`,
  };
};

const countMarked: Reasoner = (scene) => {
  const marked = scene.objects.filter((o) => o.mark !== "none");
  return {
    question: "How many objects carry a distinctive mark?",
    answer: countSentence(marked, "marked object", "marked objects"),
  };
};

export const REASONERS: Record<string, Reasoner> = {
  closest,
  countColour,
  countShape,
  compareCounts,
  leftOrRight,
  removeColour,
  countMarked,
};

/** One reasoning question, trying topics in random order until one has an unambiguous answer. */
export function reasoningQA(scene: Scene, rng: Random): QA {
  for (const name of rng.shuffle(Object.keys(REASONERS))) {
    const qa = REASONERS[name]!(scene, rng);
    if (qa) return qa;
  }
  throw new Error("reasoningQA: no topic applies"); // unreachable: counting always applies
}
