/**
 * The real concept trainer: trainer/personalize's trainConcept (the Yo'LLaVA recipe) behind the job
 * runner's ConceptTrainer seam. It reuses the node's loaded base model (one copy of the weights); each job
 * gets its own ConceptModel view so the per-image feature cache lives only as long as the job. Negatives
 * come from the pool in YO_NEGATIVES_POOL (indexed with the CLIP in YO_CLIP_DIR); without one a concept
 * learns from its positives (and the teacher's conversations) only, which recognition suffers from.
 */

import { readBaseConceptRecipe } from "../personalize/base-recipe";
import { ClipImageEncoder } from "../personalize/clip-encoder";
import { conceptModelFromParts } from "../personalize/concept-model";
import { ConceptTrainingError } from "../personalize/errors";
import { NegativesPool } from "../personalize/negatives-pool";
import { type TrainConceptOptions, type TrainingProgress, trainConcept } from "../personalize/train-concept";
import type { BaseModel } from "./base-model";
import type { ConceptTrainer, TrainingProgress as JobProgress } from "./concept-trainer";
import { TrainingAbortedError } from "./concept-trainer";
import type { ServeConfig } from "./config";
import { TRAINING_EASY_NEGATIVES, TRAINING_HARD_NEGATIVES, TRAINING_PRESET_EPOCHS } from "./limits";

/** trainConcept's phases as one 0..1 progress: data 0-10%, training 10-95%, validation and artifact after. */
export function jobProgress(p: TrainingProgress): JobProgress {
  if (p.phase === "data") return { stage: "preparing", progress: 0.05 };
  if (p.phase === "done") return { stage: "finishing", progress: 0.99 };
  const fraction = p.totalSteps > 0 ? p.step / p.totalSteps : 0;
  return {
    stage: p.phase === "validate" ? "validating" : "training",
    progress: 0.1 + 0.85 * Math.min(1, fraction),
  };
}

export async function createConceptTrainer(model: BaseModel, config: ServeConfig): Promise<ConceptTrainer> {
  if (!model.processor) throw new Error(`${model.id} takes no images: concepts need a vision-language model`);
  let negatives: TrainConceptOptions["negatives"];
  if (config.negativesPoolDir && config.clipDir) {
    const clip = await ClipImageEncoder.load(config.clipDir, model.runtime);
    // The encoder (not just its config fingerprint): a pool indexed by another training of the same
    // config would retrieve with embeddings from a different tower.
    negatives = { pool: await NegativesPool.open(config.negativesPoolDir, clip), clip };
  }
  const processor = model.processor;
  const recipe = readBaseConceptRecipe(model.dir);
  return {
    async train(job, { onProgress, signal }) {
      const conceptModel = conceptModelFromParts({
        fingerprint: model.fingerprint,
        runner: model.runner,
        textConfig: model.textConfig,
        textWeights: model.textWeights,
        ...(model.quantized
          ? {
              weights: {
                format: model.weightFormat,
                binding: model.quantized.binding,
                directory: model.quantized.directory,
              },
            }
          : {}),
        decoder: model.decoder, // the self-teacher generates with the node's decoder: no second session
        ...recipe,
        runtime: model.runtime,
        tokenizer: model.tokenizer,
        processor,
      });
      const epochs = TRAINING_PRESET_EPOCHS[job.options.preset];
      try {
        const trained = await trainConcept({
          model: conceptModel,
          name: job.concept.name,
          kind: job.concept.kind,
          photos: job.photos.map((p) => p.bytes),
          ...(negatives
            ? { negatives, hardNegatives: TRAINING_HARD_NEGATIVES, easyNegatives: TRAINING_EASY_NEGATIVES }
            : {}),
          ...(config.teacher === "none" ? { teacher: null } : {}),
          latentTokens: job.options.latent_tokens,
          ...(epochs === undefined ? {} : { epochs }),
          version: job.concept.next_version,
          onProgress: (p) => onProgress(jobProgress(p)),
          signal,
        });
        return trained.artifact;
      } catch (error) {
        if (error instanceof ConceptTrainingError && error.code === "cancelled")
          throw new TrainingAbortedError(error.message);
        throw error;
      }
    },
  };
}
