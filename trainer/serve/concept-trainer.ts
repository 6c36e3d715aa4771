/**
 * The seam between the job runner and the concept trainer (trainer/personalize, the Yo'LLaVA recipe): one
 * job's photos in, the YOCN concept artifact (shared/concept-artifact.ts) out. The runner owns queueing,
 * retries, callbacks and photo lifetime; the trainer owns learning.
 */
import type { ImageMime } from "../../shared/prompt-plan";
import type { TrainDispatch } from "../../shared/trainer-api";
import type { BaseModel } from "./base-model";
import type { ServeConfig } from "./config";

export interface TrainingPhoto {
  mime: ImageMime;
  bytes: Uint8Array;
}

export interface ConceptTrainingJob {
  jobId: string;
  concept: TrainDispatch["concept"];
  options: TrainDispatch["options"];
  photos: TrainingPhoto[];
}

export interface TrainingProgress {
  /** Short stage name the edge shows (`loading`, `training`, `evaluating`...), at most 64 chars. */
  stage: string;
  /** 0..1 */
  progress: number;
}

export interface TrainContext {
  onProgress: (progress: TrainingProgress) => void;
  /** Aborted when the job is cancelled or the node shuts down; the trainer stops soon after. */
  signal: AbortSignal;
}

export interface ConceptTrainer {
  /** Returns the encoded concept artifact, header.version = job.concept.next_version. */
  train(job: ConceptTrainingJob, context: TrainContext): Promise<Uint8Array>;
}

/** A module that provides a trainer for the loaded base model (YO_CONCEPT_TRAINER_MODULE). */
export interface ConceptTrainerModule {
  createConceptTrainer(model: BaseModel, config: ServeConfig): ConceptTrainer | Promise<ConceptTrainer>;
}

/** Thrown by a trainer that stopped because its signal was aborted. */
export class TrainingAbortedError extends Error {
  override name = "TrainingAbortedError";
}
