/**
 * Finds the concept trainer to plug into the job runner: YO_CONCEPT_TRAINER_MODULE when set, else
 * trainer/personalize when it has been committed. The module must export
 * `createConceptTrainer(model, config): ConceptTrainer` (concept-trainer.ts). Without one the node still serves
 * inference and answers /v1/train with 422 training_unavailable.
 */
import { existsSync } from "node:fs";
import path from "node:path";
import { pathToFileURL } from "node:url";
import type { BaseModel } from "./base-model";
import type { ConceptTrainer, ConceptTrainerModule } from "./concept-trainer";
import type { ServeConfig } from "./config";

const PERSONALIZE_ADAPTER = path.join(import.meta.dirname, "personalize-trainer.ts");

export interface TrainerChoice {
  name: string;
  create: (model: BaseModel, config: ServeConfig) => Promise<ConceptTrainer | undefined>;
}

export function chooseConceptTrainer(modulePath: string | undefined): TrainerChoice | undefined {
  const file = modulePath
    ? path.resolve(modulePath)
    : existsSync(PERSONALIZE_ADAPTER)
      ? PERSONALIZE_ADAPTER
      : undefined;
  if (!file) return undefined;
  return {
    name: path.relative(process.cwd(), file),
    create: async (model, config) => {
      const module = (await import(pathToFileURL(file).href)) as Partial<ConceptTrainerModule>;
      if (typeof module.createConceptTrainer !== "function") {
        throw new Error(`${file} does not export createConceptTrainer(model)`);
      }
      return await module.createConceptTrainer(model, config);
    },
  };
}
