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
   * LLaVA stage 1: projector alignment on captions. There is no pretrained LLM here, so the LLM trains
   * in this stage too (language pretraining merged into alignment).
   */
  align: StagePlan;
  /** LLaVA stage 2: projector + LLM (+ vision tower, smaller lr) on instruction data. */
  instruct: StagePlan;
  /**
   * CLIP refinement: contrastive again, the vision tower starting from LLaVA's instruction-tuned one
   * (answering attribute, count and position questions teaches it what contrastive training from
   * scratch learns slowly), the text tower and projections from the first CLIP stage.
   */
  clipRefine: StagePlan;
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
  align: { schedule: schedule(120, 2e-3), batchSize: 16 },
  instruct: { schedule: schedule(900, 1e-3), batchSize: 16 },
  clipRefine: { schedule: schedule(400, 5e-4), batchSize: 64 },
};
