// Attribute VQA for evaluation: one question, one canonical short answer, scored by answers.ts.
// Like LLaVA-1.5's short-answer data, questions end with an instruction to answer in a word.

import type { Random } from "../random";
import type { Scene, SceneObject } from "../scene";
import { COLOURS, SHAPES } from "../vocabulary";
import type { VqaKind } from "./answers";
import { canReferTo, plural, referTo } from "./phrases";

export const SHORT_ANSWER_SUFFIX = "Answer with a single word or number.";

export interface VqaQuestion {
  kind: VqaKind;
  question: string;
  /** Canonical: a vocabulary word ("red", "top-left", "none"), a digit string, or "yes"/"no". */
  answer: string;
  /**
   * Ids of the objects the answer is read from: the one asked about, or every one counted (none for a
   * count of zero). Training points an attention head at them (train/instruction-data.ts, `vqa_located`).
   */
  about: number[];
}

type VqaAsker = (scene: Scene, rng: Random) => VqaQuestion | undefined;

export const VQA_ASKERS: Record<Exclude<VqaKind, "yesno">, VqaAsker> = {
  colour: (scene, rng) => {
    const o = rng.pick(scene.objects);
    return {
      kind: "colour",
      question: `What colour is ${referTo(scene, o, rng, "colour")}?`,
      answer: o.colour,
      about: [o.id],
    };
  },
  shape: (scene, rng) => {
    const o = rng.pick(scene.objects);
    return {
      kind: "shape",
      question: `What shape is ${referTo(scene, o, rng, "shape")}?`,
      answer: o.shape,
      about: [o.id],
    };
  },
  pattern: (scene, rng) => {
    const o = rng.pick(scene.objects);
    return {
      kind: "pattern",
      question: `What pattern does ${referTo(scene, o, rng)} have?`,
      answer: o.pattern,
      about: [o.id],
    };
  },
  mark: (scene, rng) => {
    // Half the objects are unmarked; asking about marked ones more often keeps "none" from being a
    // free majority answer.
    const marked = scene.objects.filter((x) => x.mark !== "none");
    const o = marked.length > 0 && rng.chance(0.6) ? rng.pick(marked) : rng.pick(scene.objects);
    return {
      kind: "mark",
      question: `What mark does ${referTo(scene, o, rng)} carry (dot, band, outline, cap or none)?`,
      answer: o.mark,
      about: [o.id],
    };
  },
  position: (scene, rng) => {
    const candidates = scene.objects.filter((o) => canReferTo(scene, o, "cell"));
    if (candidates.length === 0) return undefined;
    const o = rng.pick(candidates);
    return {
      kind: "position",
      question: `Where in the 3x3 grid is ${referTo(scene, o, rng, "cell")}?`,
      answer: o.cell,
      about: [o.id],
    };
  },
  count: (scene, rng) => {
    // Counting everything spreads answers over 1-4; counting a colour or shape is mostly 1.
    const by = rng.pick(["all", "all", "colour", "shape"] as const);
    const counted = (question: string, objects: readonly SceneObject[]): VqaQuestion => ({
      kind: "count",
      question,
      answer: String(objects.length),
      about: objects.map((o) => o.id),
    });
    if (by === "all") return counted("How many objects are there?", scene.objects);
    if (by === "colour") {
      const colour = rng.chance(0.8) ? rng.pick(scene.objects).colour : rng.pick(COLOURS);
      return counted(
        `How many ${colour} objects are there?`,
        scene.objects.filter((o) => o.colour === colour),
      );
    }
    const shape = rng.chance(0.8) ? rng.pick(scene.objects).shape : rng.pick(SHAPES);
    return counted(
      `How many ${plural(shape)} are there?`,
      scene.objects.filter((o) => o.shape === shape),
    );
  },
};

/** A question of the given kind, or of the first kind after it that applies to the scene. */
export function vqaQuestion(scene: Scene, rng: Random, kind: Exclude<VqaKind, "yesno">): VqaQuestion {
  const kinds = Object.keys(VQA_ASKERS) as Exclude<VqaKind, "yesno">[];
  const start = kinds.indexOf(kind);
  for (let i = 0; i < kinds.length; i++) {
    const q = VQA_ASKERS[kinds[(start + i) % kinds.length]!](scene, rng);
    if (q) return q;
  }
  throw new Error("vqaQuestion: unreachable, counting always applies");
}
