// Detailed descriptions, LLaVA's "detail" type: every object with all its attributes and where it is,
// then the spatial relations, so a model learns to say everything it sees.

import type { Random } from "../random";
import type { Scene } from "../scene";
import { BACKGROUNDS, CELL_PHRASE } from "../vocabulary";
import { capitalize, definitePhrase, listPhrase, numberWord, objectPhrase } from "./phrases";

export const DESCRIPTION_PROMPTS = [
  "Describe the image in detail.",
  "What is in this picture? Describe it thoroughly.",
  "Give a detailed description of the image.",
  "Explain everything you can see in this image.",
] as const;

export function detailedDescription(scene: Scene, rng: Random): string {
  const n = scene.objects.length;
  const sentences = [
    `The image shows ${n === 1 ? "a single object" : `${numberWord(n)} objects`} ${BACKGROUNDS[scene.background].phrase}.`,
  ];
  for (const o of scene.objects) {
    sentences.push(`${capitalize(CELL_PHRASE[o.cell])} there is ${objectPhrase(o, { size: o.size })}.`);
  }
  // Relations are named by definite phrases, so only objects whose phrase is unique can take part.
  const unique = (id: number) =>
    scene.objects.filter((x) => definitePhrase(x) === definitePhrase(scene.objects[id]!)).length === 1;
  const relations = rng
    .shuffle(scene.relations.filter((r) => r.subject < r.object && unique(r.subject) && unique(r.object)))
    .slice(0, 2);
  for (const r of relations) {
    const where = r.relation === "above" || r.relation === "below" ? r.relation : `to the ${r.relation}`;
    const subject = definitePhrase(scene.objects[r.subject]!);
    sentences.push(`${capitalize(subject)} is ${where} ${definitePhrase(scene.objects[r.object]!)}.`);
  }
  const marked = scene.objects.filter((o) => o.mark !== "none");
  if (n > 1 && marked.length === 0) sentences.push("None of the objects has a distinctive mark.");
  if (n > 1 && marked.length === n) sentences.push("Every object carries a distinctive mark.");
  if (n > 1 && marked.length > 0 && marked.length < n) {
    sentences.push(
      `Only ${listPhrase(marked.map((o) => definitePhrase(o)))} ${marked.length === 1 ? "has a mark" : "have marks"}.`,
    );
  }
  return sentences.join(" ");
}
