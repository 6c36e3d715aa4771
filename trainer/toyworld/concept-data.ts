// A concept's training and evaluation images, Yo'LLaVA style: positives show the concept among
// distractors in varied scenes; hard negatives show a near-identical instance (one or two attributes
// changed to a confusable value); easy negatives are scenes without it. Every sample is a recipe keyed
// by a seed, so the split a sample belongs to is the range of its seed (splits.ts).

import { composeScene, type SceneRecipe } from "./compose";
import type { ToyConcept } from "./concepts";
import { Random } from "./random";
import { IDENTITY_ATTRIBUTES, type IdentityAttribute, type ObjectIdentity, type Scene } from "./scene";
import { type Split, splitSeeds } from "./splits";
import { MARKS, NEAR_COLOURS, NEAR_SHAPES, PATTERNS } from "./vocabulary";

export type ConceptSampleLabel = "positive" | "hard-negative" | "easy-negative";

export interface ConceptSample {
  concept: string;
  label: ConceptSampleLabel;
  seed: number;
  recipe: SceneRecipe;
  /** For hard negatives: the near-identical instance shown and which attributes differ from the concept. */
  variant?: ObjectIdentity;
  differs?: IdentityAttribute[];
}

export interface HardNegativeVariant {
  identity: ObjectIdentity;
  differs: IdentityAttribute[];
}

/** Marks and patterns are the subtlest differences and the ones personalization must learn, so they are
 * changed most often; a near colour is next, a near shape (the easiest to see) least. */
const CHANGE_WEIGHTS: Record<IdentityAttribute, number> = {
  mark: 0.32,
  pattern: 0.3,
  colour: 0.24,
  shape: 0.14,
};
/** Share of hard negatives that change two attributes rather than one. */
const TWO_CHANGES = 0.3;

/** One of `choices` (distinct) by CHANGE_WEIGHTS, in the order given (the draw follows it). */
function pickWeighted(rng: Random, choices: readonly IdentityAttribute[]): IdentityAttribute {
  return rng.weighted<IdentityAttribute>(Object.fromEntries(choices.map((a) => [a, CHANGE_WEIGHTS[a]])));
}

/** An identity that differs from `identity` in exactly the returned attributes, each set to a near value. */
export function hardNegativeVariant(
  identity: ObjectIdentity,
  rng: Random,
  changes?: 1 | 2,
): HardNegativeVariant {
  const n = changes ?? (rng.chance(TWO_CHANGES) ? 2 : 1);
  const differs: IdentityAttribute[] = [];
  while (differs.length < n) {
    differs.push(
      pickWeighted(
        rng,
        IDENTITY_ATTRIBUTES.filter((a) => !differs.includes(a)),
      ),
    );
  }
  const variant = { ...identity };
  for (const attribute of differs) {
    switch (attribute) {
      case "shape":
        variant.shape = rng.pick(NEAR_SHAPES[identity.shape]);
        break;
      case "colour":
        variant.colour = rng.pick(NEAR_COLOURS[identity.colour]);
        break;
      case "pattern":
        variant.pattern = rng.pick(PATTERNS.filter((p) => p !== identity.pattern));
        break;
      case "mark":
        variant.mark = rng.pick(MARKS.filter((m) => m !== identity.mark));
        break;
    }
  }
  differs.sort((a, b) => IDENTITY_ATTRIBUTES.indexOf(a) - IDENTITY_ATTRIBUTES.indexOf(b));
  return { identity: variant, differs };
}

export function conceptPositive(concept: ToyConcept, seed: number): ConceptSample {
  const recipe: SceneRecipe = {
    seed,
    stream: `positive:${concept.name}`,
    subjects: [{ ...concept.identity, concept: concept.name }],
  };
  return { concept: concept.name, label: "positive", seed, recipe };
}

export function conceptHardNegative(concept: ToyConcept, seed: number, changes?: 1 | 2): ConceptSample {
  const { identity, differs } = hardNegativeVariant(
    concept.identity,
    new Random(seed, `variant:${concept.name}`),
    changes,
  );
  const recipe: SceneRecipe = {
    seed,
    stream: `hard:${concept.name}`,
    subjects: [identity],
    exclude: [concept.identity],
  };
  return { concept: concept.name, label: "hard-negative", seed, recipe, variant: identity, differs };
}

export function conceptEasyNegative(concept: ToyConcept, seed: number): ConceptSample {
  const recipe: SceneRecipe = { seed, stream: `easy:${concept.name}`, exclude: [concept.identity] };
  return { concept: concept.name, label: "easy-negative", seed, recipe };
}

export interface ConceptSampleCounts {
  positives: number;
  hardNegatives: number;
  easyNegatives: number;
  /** First seed offset within the split; use different offsets for disjoint draws from one split. */
  offset?: number;
}

export interface ConceptSamples {
  positives: ConceptSample[];
  hardNegatives: ConceptSample[];
  easyNegatives: ConceptSample[];
}

/**
 * A concept's samples from one split. Positives, hard and easy negatives use the same seeds under
 * different streams, so asking for more never changes the ones already drawn.
 */
export function conceptSamples(
  concept: ToyConcept,
  split: Split,
  counts: ConceptSampleCounts,
): ConceptSamples {
  const offset = counts.offset ?? 0;
  return {
    positives: splitSeeds(split, offset, counts.positives).map((s) => conceptPositive(concept, s)),
    hardNegatives: splitSeeds(split, offset, counts.hardNegatives).map((s) =>
      conceptHardNegative(concept, s),
    ),
    easyNegatives: splitSeeds(split, offset, counts.easyNegatives).map((s) =>
      conceptEasyNegative(concept, s),
    ),
  };
}

export function sampleScene(sample: ConceptSample): Scene {
  return composeScene(sample.recipe);
}
