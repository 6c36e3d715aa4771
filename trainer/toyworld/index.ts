// The toy world's public surface. Trainers and evaluations import from here.

export { captionBatch, type ImageCaptionPair, renderRecipe, renderSample } from "./batches";
export { composeScene, type SceneRecipe, type SceneSubject } from "./compose";
export {
  type ConceptSample,
  type ConceptSampleLabel,
  type ConceptSamples,
  conceptEasyNegative,
  conceptHardNegative,
  conceptPositive,
  conceptSamples,
  hardNegativeVariant,
  sampleScene,
} from "./concept-data";
export {
  conceptDescriptionRecord,
  conceptsTogetherRecipe,
  conceptVqaItems,
  recognitionRecord,
} from "./concept-records";
export { conceptSheet } from "./concept-sheet";
export {
  CONCEPTS,
  type ConceptFact,
  conceptDescription,
  conceptFacts,
  findConcept,
  type ToyConcept,
} from "./concepts";
export type { RgbImage } from "./image";
export { normalizeAnswer, scoreAnswer, VQA_KINDS, type VqaKind } from "./language/answers";
export { caption } from "./language/captions";
export { conversation } from "./language/conversations";
export { detailedDescription } from "./language/descriptions";
export { reasoningQA } from "./language/reasoning";
export { WORLD_FACTS } from "./language/text-only";
export { contactSheet, encodePng } from "./png";
export { type PoolManifest, poolRecipe, WORLD_VERSION, writeNegativesPool } from "./pool";
export { Random } from "./random";
export {
  captionRecord,
  captionRecords,
  conceptFactRecords,
  IMAGE_TOKEN,
  type InstructionRecord,
  instructionRecord,
  instructionRecords,
  type Turn,
  type VqaItem,
  vqaItem,
  vqaItems,
} from "./records";
export { DEFAULT_IMAGE_SIZE, renderScene } from "./render";
export type { Box, ObjectIdentity, Relation, Scene, SceneObject } from "./scene";
export { assertTrainingSeeds, HELD_OUT_START, SPLITS, type Split, splitOf, splitSeeds } from "./splits";
