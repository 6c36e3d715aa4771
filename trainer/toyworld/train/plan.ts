// The whole training schedule in one place: how many scenes are rendered, and each stage's steps, batch
// and learning rate. Sized so `npm run toy:train` finishes in well under an hour on 2 CPU cores.

import type { Schedule } from "./optimize";

export interface StagePlan {
  schedule: Schedule;
  batchSize: number;
}

export interface TrainingPlan {
  /** Training scenes rendered once (seeds 0..scenes-1 of the train split). */
  scenes: number;
  clip: StagePlan;
  /**
   * LLM language pretraining (no pretrained LLM exists here): every record with the scene's detailed
   * description standing where the image goes, LLM weights only.
   */
  language: StagePlan;
  /**
   * LLaVA stage 1: alignment with the LLM frozen: projector and vision tower learn to make image tokens
   * the LLM reads like the descriptions it was pretrained with.
   */
  align: StagePlan;
  /** LLaVA stage 2: projector + LLM (+ vision tower, smaller lr) on instruction data. */
  instruct: StagePlan;
  /**
   * Stage 2 continued: a second cosine cycle over a mix weighted toward the image-dependent short answers
   * (their loss counted 4x), the vision tower at the full learning rate. Meant to make answers depend on
   * the picture, which appears late when training from scratch; within this budget it did not (README).
   */
  instructMore: StagePlan;
}

const schedule = (steps: number, lr: number, warmup = Math.ceil(steps / 20)): Schedule => ({
  steps,
  lr,
  warmup,
  weightDecay: 0.05,
  maxGradNorm: 1,
  logEvery: 20,
});

export const TRAINING_PLAN: TrainingPlan = {
  scenes: 10000,
  clip: { schedule: schedule(700, 1e-3), batchSize: 64 },
  language: { schedule: schedule(300, 2e-3), batchSize: 16 },
  align: { schedule: schedule(200, 1e-3), batchSize: 16 },
  instruct: { schedule: schedule(700, 1e-3), batchSize: 16 },
  instructMore: { schedule: schedule(1500, 1e-3), batchSize: 16 },
};
