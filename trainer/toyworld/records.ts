// Training and evaluation records in LLaVA's JSON shape ({id, image, conversations: [{from, value}]}),
// except that the image is a scene recipe: images are re-rendered on demand, never stored.

import { composeScene, type SceneRecipe } from "./compose";
import { CONCEPTS, conceptFacts, type ToyConcept } from "./concepts";
import type { VqaKind } from "./language/answers";
import { caption } from "./language/captions";
import { conversation } from "./language/conversations";
import { DESCRIPTION_PROMPTS, detailedDescription } from "./language/descriptions";
import type { QA } from "./language/qa";
import { reasoningQA } from "./language/reasoning";
import { WORLD_FACTS } from "./language/text-only";
import { SHORT_ANSWER_SUFFIX, vqaQuestion } from "./language/vqa";
import { Random } from "./random";
import type { Scene } from "./scene";
import { type Split, splitSeeds } from "./splits";

/** Where the image goes in the first human turn, as in LLaVA's data. */
export const IMAGE_TOKEN = "<image>";

export interface Turn {
  from: "human" | "gpt";
  value: string;
}

export const INSTRUCTION_KINDS = ["caption", "conversation", "detail", "reasoning", "text"] as const;
export type InstructionKind = (typeof INSTRUCTION_KINDS)[number];

export interface InstructionRecord {
  id: string;
  kind: InstructionKind;
  /** Absent for text-only records. */
  recipe?: SceneRecipe;
  conversations: Turn[];
}

export const CAPTION_PROMPTS = [
  "Describe the image briefly.",
  "Write a short caption for this picture.",
  "What is in the image? Answer in one sentence.",
  "Summarize the picture in a few words.",
] as const;

/** Instruction-tuning mix, roughly LLaVA-Instruct-158K's proportions plus a little text-only data. */
export const INSTRUCTION_MIX: Record<Exclude<InstructionKind, "caption">, number> = {
  conversation: 0.36,
  detail: 0.15,
  reasoning: 0.44,
  text: 0.05,
};

function turns(pairs: readonly QA[], withImage: boolean): Turn[] {
  return pairs.flatMap((qa, i) => [
    { from: "human" as const, value: i === 0 && withImage ? `${IMAGE_TOKEN}\n${qa.question}` : qa.question },
    { from: "gpt" as const, value: qa.answer },
  ]);
}

/** The plain scene for a seed: the image every non-concept record at that seed talks about. */
export function sceneRecipe(seed: number): SceneRecipe {
  return { seed };
}

export function captionRecord(seed: number): InstructionRecord & { caption: string } {
  const recipe = sceneRecipe(seed);
  const rng = new Random(seed, "caption");
  const text = caption(composeScene(recipe), rng);
  return {
    id: `caption-${seed}`,
    kind: "caption",
    recipe,
    caption: text,
    conversations: turns([{ question: rng.pick(CAPTION_PROMPTS), answer: text }], true),
  };
}

export function instructionRecord(seed: number, kind: InstructionKind): InstructionRecord {
  if (kind === "caption") return captionRecord(seed);
  const rng = new Random(seed, `instruct:${kind}`);
  if (kind === "text") {
    const pairs = rng.shuffle(WORLD_FACTS).slice(0, rng.intBetween(1, 3));
    return { id: `text-${seed}`, kind, conversations: turns(pairs, false) };
  }
  const recipe = sceneRecipe(seed);
  const scene: Scene = composeScene(recipe);
  const pairs: QA[] =
    kind === "conversation"
      ? conversation(scene, rng)
      : kind === "detail"
        ? [{ question: rng.pick(DESCRIPTION_PROMPTS), answer: detailedDescription(scene, rng) }]
        : [reasoningQA(scene, rng)];
  return { id: `${kind}-${seed}`, kind, recipe, conversations: turns(pairs, true) };
}

/** The instruction kind of a seed under INSTRUCTION_MIX; a pure function of the seed. */
export function instructionKindFor(seed: number): InstructionKind {
  let r = new Random(seed, "mix").next();
  for (const [kind, share] of Object.entries(INSTRUCTION_MIX)) {
    r -= share;
    if (r < 0) return kind as InstructionKind;
  }
  return "reasoning";
}

export function captionRecords(split: Split, offset: number, count: number) {
  return splitSeeds(split, offset, count).map(captionRecord);
}

export function instructionRecords(split: Split, offset: number, count: number): InstructionRecord[] {
  return splitSeeds(split, offset, count).map((seed) => instructionRecord(seed, instructionKindFor(seed)));
}

export interface VqaItem {
  id: string;
  kind: VqaKind;
  recipe: SceneRecipe;
  /** The question with the short-answer instruction appended, ready to prompt. */
  prompt: string;
  question: string;
  answer: string;
  /** Ids of the scene objects the answer is read from (VqaQuestion.about). */
  about: number[];
}

export const VQA_CYCLE = ["colour", "shape", "pattern", "count", "position", "mark"] as const;

/** One evaluation item about the plain scene at `seed`. */
export function vqaItem(seed: number, kind: (typeof VQA_CYCLE)[number]): VqaItem {
  const recipe = sceneRecipe(seed);
  const q = vqaQuestion(composeScene(recipe), new Random(seed, `vqa:${kind}`), kind);
  return { id: `vqa-${q.kind}-${seed}`, recipe, ...q, prompt: `${q.question} ${SHORT_ANSWER_SUFFIX}` };
}

/** Evaluation items: the kinds cycle with the seed so every kind is equally represented. */
export function vqaItems(split: Split, offset: number, count: number): VqaItem[] {
  return splitSeeds(split, offset, count).map((seed) => vqaItem(seed, VQA_CYCLE[seed % VQA_CYCLE.length]!));
}

/** Text-only QA about concepts (no image): the knowledge a concept's soft prompt should carry. */
export function conceptFactRecords(concepts: readonly ToyConcept[] = CONCEPTS): InstructionRecord[] {
  return concepts.flatMap((concept) =>
    conceptFacts(concept).map((fact) => ({
      id: `fact-${concept.name}-${fact.attribute}`,
      kind: "text" as const,
      conversations: turns([fact], false),
    })),
  );
}
