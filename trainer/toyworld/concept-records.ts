// Records about a concept in a picture: recognition ("Is <bo> in this photo?") for training and
// evaluating a concept, and personalized VQA whose answers need the concept to be found first.

import { composeScene, type SceneRecipe } from "./compose";
import type { ConceptSample } from "./concept-data";
import { conceptPositive } from "./concept-data";
import type { ToyConcept } from "./concepts";
import { capitalize, listPhrase, objectPhrase } from "./language/phrases";
import { SHORT_ANSWER_SUFFIX } from "./language/vqa";
import { Random } from "./random";
import { IMAGE_TOKEN, type InstructionRecord, type VqaItem } from "./records";
import { type Split, splitSeeds } from "./splits";
import { CELL_PHRASE } from "./vocabulary";

export const RECOGNITION_QUESTIONS = [
  "Is {name} in this photo?",
  "Can you see {name} in this image?",
  "Does this picture show {name}?",
] as const;

/** "Is <bo> in this photo?" with a yes for positives and a no for either kind of negative. */
export function recognitionRecord(sample: ConceptSample): InstructionRecord & { answer: "yes" | "no" } {
  const rng = new Random(sample.seed, `recognition:${sample.concept}`);
  const question = rng.pick(RECOGNITION_QUESTIONS).replace("{name}", sample.concept);
  const yes = sample.label === "positive";
  return {
    id: `recognition-${sample.concept}-${sample.label}-${sample.seed}`,
    kind: "conversation",
    recipe: sample.recipe,
    answer: yes ? "yes" : "no",
    conversations: [
      { from: "human", value: `${IMAGE_TOKEN}\n${question}` },
      {
        from: "gpt",
        value: yes
          ? `Yes, ${sample.concept} is in this photo.`
          : `No, ${sample.concept} is not in this photo.`,
      },
    ],
  };
}

/** Personalized VQA on positives: where the concept is, and how many other objects share the scene. */
export function conceptVqaItems(concept: ToyConcept, split: Split, offset: number, count: number): VqaItem[] {
  return splitSeeds(split, offset, count).map((seed) => {
    const { recipe } = conceptPositive(concept, seed);
    const scene = composeScene(recipe);
    const me = scene.objects.find((o) => o.concept === concept.name)!;
    const q =
      seed % 2 === 0
        ? {
            kind: "position" as const,
            question: `Where in the 3x3 grid is ${concept.name}?`,
            answer: me.cell,
            about: [me.id],
          }
        : {
            kind: "count" as const,
            question: `How many objects besides ${concept.name} are there?`,
            answer: String(scene.objects.length - 1),
            about: scene.objects.filter((o) => o !== me).map((o) => o.id),
          };
    return {
      id: `concept-vqa-${concept.name}-${seed}`,
      recipe,
      ...q,
      prompt: `${q.question} ${SHORT_ANSWER_SUFFIX}`,
    };
  });
}

/** A scene with several concepts together, for "Are <bo> and <mochi> together?" requests. */
export function conceptsTogetherRecipe(concepts: readonly ToyConcept[], seed: number): SceneRecipe {
  return {
    seed,
    stream: `together:${concepts.map((c) => c.name).join("+")}`,
    subjects: concepts.map((c) => ({ ...c.identity, concept: c.name })),
  };
}

/** A conversation about a positive image that names the concept: the Yo'LLaVA "describe it" turn. */
export function conceptDescriptionRecord(sample: ConceptSample): InstructionRecord {
  if (sample.label !== "positive")
    throw new Error("conceptDescriptionRecord: only positives show the concept");
  const scene = composeScene(sample.recipe);
  const me = scene.objects.find((o) => o.concept === sample.concept)!;
  const others = scene.objects.filter((o) => o !== me).map((o) => objectPhrase(o));
  const company = others.length === 0 ? "alone" : `with ${listPhrase(others)}`;
  return {
    id: `concept-describe-${sample.concept}-${sample.seed}`,
    kind: "detail",
    recipe: sample.recipe,
    conversations: [
      { from: "human", value: `${IMAGE_TOKEN}\nWhere is ${sample.concept} and what is around it?` },
      { from: "gpt", value: `${capitalize(sample.concept)} is ${CELL_PHRASE[me.cell]}, ${company}.` },
    ],
  };
}
