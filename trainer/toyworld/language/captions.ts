// Short captions, the stage-1 (feature alignment) data of LLaVA: one sentence per image, several
// templates so a model learns the content rather than one sentence frame.

import type { Random } from "../random";
import type { Scene } from "../scene";
import { BACKGROUNDS, CELL_PHRASE } from "../vocabulary";
import { capitalize, listPhrase, numberWord, objectPhrase } from "./phrases";

type CaptionTemplate = (scene: Scene) => string;

const TEMPLATES: readonly CaptionTemplate[] = [
  (s) =>
    `${capitalize(listPhrase(s.objects.map((o) => objectPhrase(o))))} ${BACKGROUNDS[s.background].phrase}.`,
  (s) =>
    s.objects.length === 1
      ? `A single ${objectPhrase(s.objects[0]!).replace(/^an? /, "")} ${BACKGROUNDS[s.background].phrase}.`
      : `${capitalize(numberWord(s.objects.length))} objects ${BACKGROUNDS[s.background].phrase}: ${listPhrase(
          s.objects.map((o) => objectPhrase(o)),
        )}.`,
  (s) =>
    `${capitalize(listPhrase(s.objects.map((o) => `${objectPhrase(o, { size: o.size })} ${CELL_PHRASE[o.cell]}`)))}.`,
  (s) => `A picture of ${listPhrase(s.objects.map((o) => objectPhrase(o)))}.`,
];

export const CAPTION_TEMPLATE_COUNT = TEMPLATES.length;

export function caption(scene: Scene, rng: Random, template?: number): string {
  const t = template ?? rng.int(TEMPLATES.length);
  return TEMPLATES[t]!(scene);
}
