/**
 * The trainer node's HTTP contract as the edge uses it. Every request either way is HMAC-signed
 * (shared/hmac.ts) and carries x-request-id.
 *
 * edge -> node
 *   POST /v1/train                    TrainDispatch; 2xx = accepted (the node reports back asynchronously),
 *                                     503/429 = busy (the edge retries with backoff), other 4xx = refused
 *   POST /v1/infer                    PromptPlan (prompt-plan.ts); chat: OpenAI-style chat.completion JSON, or
 *                                     SSE chunks ending in `data: [DONE]` when options.stream; recognize:
 *                                     RecognizeNodeResult; 503 + Retry-After when overloaded
 *   POST /v1/concepts/{id}/purge      ConceptPurge; drop caches for the concept and any photos still held
 *   POST /v1/jobs/{id}/cancel         stop a job if it is running
 * node -> edge
 *   POST /v1/internal/jobs/{id}/progress   JobProgressRequest (api.ts)
 *   POST /v1/internal/jobs/{id}/result     JobResultRequest (api.ts): the YOCN artifact, version next_version
 */
import * as v from "valibot";
import { CONCEPT_KINDS, CONCEPT_NAME_PATTERN } from "./concept-name";
import { MAX_PHOTOS_PER_JOB, MIN_PHOTOS_PER_JOB } from "./limits";
import { IMAGE_MIME_TYPES } from "./prompt-plan";

export const TrainDispatchSchema = v.strictObject({
  job_id: v.string(),
  tenant_id: v.string(),
  concept: v.strictObject({
    id: v.string(),
    name: v.pipe(v.string(), v.regex(CONCEPT_NAME_PATTERN)),
    kind: v.picklist(CONCEPT_KINDS),
    base_model: v.string(),
    /** The version the node must write into the artifact header. */
    next_version: v.pipe(v.number(), v.integer(), v.minValue(1)),
  }),
  options: v.strictObject({
    latent_tokens: v.pipe(v.number(), v.integer(), v.minValue(1)),
    preset: v.string(),
  }),
  photos: v.pipe(
    v.array(v.strictObject({ mime: v.picklist(IMAGE_MIME_TYPES), base64: v.string() })),
    v.minLength(MIN_PHOTOS_PER_JOB),
    v.maxLength(MAX_PHOTOS_PER_JOB),
  ),
  /** Paths on the edge for progress and the result. */
  callbacks: v.strictObject({ progress: v.string(), result: v.string() }),
});
export type TrainDispatch = v.InferOutput<typeof TrainDispatchSchema>;

export const ConceptPurgeSchema = v.strictObject({
  concept_id: v.string(),
  tenant_id: v.string(),
  job_ids: v.array(v.string()),
});
export type ConceptPurge = v.InferOutput<typeof ConceptPurgeSchema>;
