// The trainer side's concept-learning defaults in one place (documented in README.md). Counts follow the
// Yo'LLaVA recipe: 16 latent tokens, 100 retrieved hard negatives + 100 random easy negatives. The learning
// rate is 3x the reference code's 1e-3: on the toy LLaVA, 1e-3 needed 20 epochs (65 s a concept on this
// CPU) to reach what 3e-3 reaches in 10 (about 30 s); see README.md, "Results".

import { DEFAULT_LATENT_TOKENS, MAX_PHOTOS_PER_JOB, MIN_PHOTOS_PER_JOB } from "../../shared/limits";

/** One training run of a concept, from fresh rows. */
export interface ConceptRunConfig {
  /** First epochs on positives and easy negatives only, before the hard negatives join. */
  warmupEpochs: number;
  /** Train this run only when the earlier runs' best held-out weighted accuracy is below this. */
  whenBestBelow?: number;
}

export const CONCEPT_DEFAULTS = {
  latentTokens: DEFAULT_LATENT_TOKENS,
  hardNegatives: 100,
  easyNegatives: 100,
  /** Horizontal flips of every positive join the positives. */
  flip: true,
  /** Positives (with flips) are repeated up to this share of the negatives' count. */
  positiveShare: 0.5,
  /** Conversation turns (facts, teacher answers) are repeated up to this share of the recognition turns'
   * count (100 for 5 facts beside 100 + 100 negatives and the positives). Seen once per epoch, five facts
   * were barely learned (text multiple choice 0.32, 0.61 repeated; README.md, "Conversation turns"). */
  conversationShare: 1 / 3,
  /** Recognition answers in the frozen model's own form: one word or Yo'LLaVA's sentences. */
  answerStyle: "auto",
  epochs: 10,
  /** Training runs (train-concept.ts, ConceptRun): a warm-up of 4 epochs without the hard negatives; then,
   * only if that run's best held-out weighted accuracy stays under 0.75, the plain recipe. The best
   * held-out checkpoint of the runs is kept. */
  runs: [{ warmupEpochs: 4 }, { warmupEpochs: 0, whenBestBelow: 0.75 }] as readonly ConceptRunConfig[],
  batchSize: 8,
  lr: 3e-3,
  /** Yo'LLaVA trains the new rows without weight decay. */
  weightDecay: 0,
  seed: 0,
  /** Epochs without a better held-out score before training stops. */
  patience: 5,
  /** Share of the user's photos held out for checkpoint selection (at least one when there are >= 3). */
  validationFraction: 0.2,
  /** Negatives (from the pool, never trained on) scored with the held-out photos. */
  validationNegatives: 16,
  minPhotos: MIN_PHOTOS_PER_JOB,
  maxPhotos: MAX_PHOTOS_PER_JOB,
  /** Photos smaller than this on either side are refused (they carry too little of the subject). */
  minPhotoSide: 32,
  /** Sequence lengths are padded up to a multiple of this, so a few shapes cover every batch. */
  lengthBucket: 16,
  /** Tokens the self-teacher may generate per answer. */
  teacherMaxTokens: 48,
} as const;
