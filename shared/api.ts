/**
 * Request and response schemas of the public edge API (/v1). The same valibot schemas validate requests,
 * type the handlers and generate /openapi.json, so they cannot drift apart.
 */
import * as v from "valibot";
import { CONCEPT_KINDS, CONCEPT_NAME_PATTERN } from "./concept-name";
import {
  DEFAULT_LATENT_TOKENS,
  MAX_IMAGES_PER_RECOGNIZE,
  MAX_LATENT_TOKENS,
  MAX_MESSAGES,
  MAX_OUTPUT_TOKENS,
  MAX_PAGE_SIZE,
  MAX_PROMPT_CHARS,
  MAX_STOP_SEQUENCES,
  MIN_LATENT_TOKENS,
} from "./limits";

const Id = v.pipe(v.string(), v.regex(/^[a-z]+_[0-9A-Za-z]{10,40}$/), v.description("Opaque id"));
const Timestamp = v.pipe(v.string(), v.description("ISO 8601 UTC"));
const NullableTimestamp = v.nullable(Timestamp);

// --- problem details (RFC 9457) ------------------------------------------------------------------------

export const ProblemSchema = v.object({
  type: v.string(),
  title: v.string(),
  status: v.number(),
  code: v.string(),
  detail: v.optional(v.string()),
  request_id: v.string(),
  errors: v.optional(v.array(v.object({ path: v.string(), message: v.string() }))),
});

// --- admin ---------------------------------------------------------------------------------------------

export const API_KEY_SCOPES = ["concepts:read", "concepts:write", "train", "infer"] as const;
export type ApiKeyScope = (typeof API_KEY_SCOPES)[number];

export const CreateTenantRequestSchema = v.strictObject({
  name: v.pipe(v.string(), v.trim(), v.minLength(1), v.maxLength(100)),
});
export const TenantSchema = v.object({ id: Id, name: v.string(), created_at: Timestamp });

export const CreateApiKeyRequestSchema = v.strictObject({
  name: v.optional(v.pipe(v.string(), v.maxLength(100)), ""),
  scopes: v.optional(v.pipe(v.array(v.picklist(API_KEY_SCOPES)), v.minLength(1)), [...API_KEY_SCOPES]),
});
export const ApiKeySchema = v.object({
  id: Id,
  tenant_id: Id,
  name: v.string(),
  prefix: v.string(),
  scopes: v.array(v.picklist(API_KEY_SCOPES)),
  created_at: Timestamp,
  last_used_at: NullableTimestamp,
  revoked_at: NullableTimestamp,
});
export const ApiKeyCreatedSchema = v.object({
  ...ApiKeySchema.entries,
  key: v.pipe(v.string(), v.description("The secret; shown once, only its SHA-256 hash is stored")),
});

// --- concepts ------------------------------------------------------------------------------------------

export const ConceptNameSchema = v.pipe(
  v.string(),
  v.regex(CONCEPT_NAME_PATTERN, "concept names are < + 1-32 of [a-z0-9_-] + >"),
);
export const CONCEPT_STATUSES = ["draft", "training", "ready", "failed"] as const;

export const CreateConceptRequestSchema = v.strictObject({
  name: ConceptNameSchema,
  kind: v.picklist(CONCEPT_KINDS),
  base_model: v.optional(v.pipe(v.string(), v.minLength(1), v.maxLength(200))),
});
export const ConceptSchema = v.object({
  id: Id,
  name: v.string(),
  kind: v.picklist(CONCEPT_KINDS),
  base_model: v.string(),
  status: v.picklist(CONCEPT_STATUSES),
  current_version: v.nullable(v.number()),
  created_at: Timestamp,
  updated_at: Timestamp,
});
export const ConceptListSchema = v.object({
  data: v.array(ConceptSchema),
  next_cursor: v.nullable(v.string()),
});
export const ListQuerySchema = v.object({
  limit: v.optional(
    v.pipe(v.string(), v.regex(/^\d{1,3}$/), v.transform(Number), v.minValue(1), v.maxValue(MAX_PAGE_SIZE)),
  ),
  cursor: v.optional(v.pipe(v.string(), v.maxLength(200))),
});

// --- training and jobs ---------------------------------------------------------------------------------

export const TRAINING_PRESETS = ["fast", "standard", "thorough"] as const;
/** Sent as the multipart field `options` (a JSON string) next to the `photos` files. */
export const TrainOptionsSchema = v.strictObject({
  latent_tokens: v.optional(
    v.pipe(v.number(), v.integer(), v.minValue(MIN_LATENT_TOKENS), v.maxValue(MAX_LATENT_TOKENS)),
    DEFAULT_LATENT_TOKENS,
  ),
  preset: v.optional(v.picklist(TRAINING_PRESETS), "standard"),
});
export type TrainOptions = v.InferOutput<typeof TrainOptionsSchema>;

export const TrainRequestSchema = v.object({
  photos: v.pipe(v.array(v.string()), v.description("1-10 files (image/jpeg, image/png, image/webp)")),
  options: v.optional(v.pipe(v.string(), v.description("JSON: {latent_tokens?, preset?}"))),
});

export const JOB_STATUSES = ["queued", "running", "succeeded", "failed", "cancelled"] as const;
export type JobStatus = (typeof JOB_STATUSES)[number];
export const TERMINAL_JOB_STATUSES: readonly JobStatus[] = ["succeeded", "failed", "cancelled"];

export const JobSchema = v.object({
  id: Id,
  concept_id: Id,
  status: v.picklist(JOB_STATUSES),
  stage: v.nullable(v.string()),
  progress: v.number(),
  error: v.nullable(v.string()),
  attempts: v.number(),
  options: TrainOptionsSchema,
  photo_count: v.number(),
  created_at: Timestamp,
  updated_at: Timestamp,
  started_at: NullableTimestamp,
  finished_at: NullableTimestamp,
});

// --- inference -----------------------------------------------------------------------------------------

const ImageUrl = v.pipe(v.string(), v.startsWith("data:", "only data: URLs are accepted (base64 images)"));
export const ChatContentPartSchema = v.variant("type", [
  v.strictObject({ type: v.literal("text"), text: v.pipe(v.string(), v.maxLength(MAX_PROMPT_CHARS)) }),
  v.strictObject({ type: v.literal("image_url"), image_url: v.strictObject({ url: ImageUrl }) }),
]);
export const ChatMessageSchema = v.strictObject({
  role: v.picklist(["system", "user", "assistant"]),
  content: v.union([v.pipe(v.string(), v.maxLength(MAX_PROMPT_CHARS)), v.array(ChatContentPartSchema)]),
});
const SamplingEntries = {
  max_tokens: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_OUTPUT_TOKENS))),
  temperature: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(2))),
  top_p: v.optional(v.pipe(v.number(), v.minValue(0), v.maxValue(1))),
  top_k: v.optional(v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(1000))),
  stop: v.optional(v.pipe(v.array(v.pipe(v.string(), v.maxLength(64))), v.maxLength(MAX_STOP_SEQUENCES))),
  stream: v.optional(v.boolean()),
};
export const ChatRequestSchema = v.strictObject({
  model: v.optional(v.string()),
  messages: v.pipe(v.array(ChatMessageSchema), v.minLength(1), v.maxLength(MAX_MESSAGES)),
  ...SamplingEntries,
});
export type ChatRequest = v.InferOutput<typeof ChatRequestSchema>;
export const ChatResponseSchema = v.object({
  id: v.string(),
  object: v.literal("chat.completion"),
  model: v.string(),
  choices: v.array(
    v.object({
      index: v.number(),
      message: v.object({ role: v.literal("assistant"), content: v.string() }),
      finish_reason: v.string(),
    }),
  ),
  concepts: v.array(v.object({ id: Id, name: v.string(), version: v.number() })),
});

export const RecognizeRequestSchema = v.strictObject({
  concept: ConceptNameSchema,
  images: v.pipe(
    v.array(v.pipe(v.string(), v.minLength(1))),
    v.minLength(1),
    v.maxLength(MAX_IMAGES_PER_RECOGNIZE),
  ),
  question: v.optional(v.pipe(v.string(), v.maxLength(1000))),
});
export const RecognizeResponseSchema = v.object({
  concept: v.object({ id: Id, name: v.string(), version: v.number() }),
  results: v.array(v.object({ index: v.number(), p_yes: v.number() })),
});

export const GenerateRequestSchema = v.strictObject({
  prompt: v.pipe(v.string(), v.minLength(1), v.maxLength(MAX_PROMPT_CHARS)),
  n: v.optional(v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(4))),
});

// --- internal (trainer node -> edge, HMAC-signed) -------------------------------------------------------

export const JobProgressRequestSchema = v.strictObject({
  stage: v.pipe(v.string(), v.minLength(1), v.maxLength(64)),
  progress: v.pipe(v.number(), v.minValue(0), v.maxValue(1)),
});
export const JobResultRequestSchema = v.variant("status", [
  v.strictObject({
    status: v.literal("succeeded"),
    /** base64 of the YOCN concept artifact. */
    artifact: v.string(),
  }),
  v.strictObject({ status: v.literal("failed"), error: v.pipe(v.string(), v.maxLength(2000)) }),
]);
