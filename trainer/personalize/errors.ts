// Typed failures of concept training, raised before any training step when the input is unusable, so a
// job fails fast with a code the edge can show ("photo 3 is a duplicate of photo 1"), not a stack trace.

export const CONCEPT_TRAINING_ERROR_CODES = [
  "too_few_photos",
  "too_many_photos",
  "corrupt_image",
  "tiny_image",
  "duplicate_photo",
  "unknown_base_model",
  "bad_options",
  "fingerprint_mismatch",
  "pool_mismatch",
  "cancelled",
  "teacher_failed",
] as const;
export type ConceptTrainingErrorCode = (typeof CONCEPT_TRAINING_ERROR_CODES)[number];

export class ConceptTrainingError extends Error {
  override name = "ConceptTrainingError";
  constructor(
    readonly code: ConceptTrainingErrorCode,
    message: string,
    /** Index of the photo concerned, when there is one. */
    readonly photo?: number,
  ) {
    super(message);
  }
}

/** Throws `cancelled` when the signal has fired (checked between steps, never mid-run). */
export function throwIfCancelled(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw new ConceptTrainingError("cancelled", "concept training was cancelled");
}
