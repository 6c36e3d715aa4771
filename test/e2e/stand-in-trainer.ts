/**
 * TEST DOUBLE for the ConceptTrainer seam (trainer/serve/concept-trainer.ts), loaded by the trainer node
 * through YO_CONCEPT_TRAINER_MODULE only when the real Yo'LLaVA trainer (trainer/personalize) is not
 * available. It learns nothing: every row is the mean image feature of the photos. It exists so that the
 * end-to-end test can exercise queueing, callbacks, restarts and purges; the concept-quality assertion is
 * skipped (and says so) whenever this double is the trainer.
 *
 * YO_STAND_IN_STEPS x YO_STAND_IN_STEP_MS is how long a job takes (default 20 x 50 ms).
 */
import { encodeConceptArtifact } from "../../shared/concept-artifact";
import type { BaseModel } from "../../trainer/serve/base-model";
import type { ConceptTrainer } from "../../trainer/serve/concept-trainer";

export const STAND_IN_TRAINER_NAME = "stand-in (test double, learns nothing)";

export function createConceptTrainer(model: BaseModel): ConceptTrainer {
  const steps = Number(process.env.YO_STAND_IN_STEPS ?? 20);
  const stepMs = Number(process.env.YO_STAND_IN_STEP_MS ?? 50);
  return {
    async train(job, { onProgress, signal }) {
      const h = model.hiddenSize;
      const mean = new Float32Array(h);
      let rows = 0;
      for (const photo of job.photos) {
        const { features } = await model.imageInput(photo.bytes);
        for (let i = 0; i < features.length; i++) mean[i % h]! += features[i] ?? 0;
        rows += features.length / h;
      }
      for (let i = 0; i < h; i++) mean[i]! /= Math.max(1, rows);
      for (let step = 1; step <= steps; step++) {
        signal.throwIfAborted();
        await new Promise((resolve) => setTimeout(resolve, stepMs));
        onProgress({ stage: "training", progress: step / steps });
      }
      const k = job.options.latent_tokens;
      return encodeConceptArtifact({
        header: {
          format_version: 1,
          model: model.fingerprint,
          name: job.concept.name,
          kind: job.concept.kind,
          k,
          hidden_size: h,
          dtype: "fp16",
          rows: { identifier_input: 1, latent_input: k, identifier_output: 1, generation: 0 },
          training_report: { trainer: STAND_IN_TRAINER_NAME, photos: job.photos.length },
          version: job.concept.next_version,
        },
        rows: {
          identifierInput: mean,
          latentInput: Array.from({ length: k }, () => mean),
          identifierOutput: new Float32Array(h),
          generation: [],
        },
      });
    },
  };
}
