/**
 * The prompt plan: what the edge sends the trainer node for one inference request. The edge does not
 * tokenize; it resolves `<name>` mentions to concept artifacts and lays out segments. The node renders the
 * turns with the model's chat template, tokenizes text segments with special tokens disabled (user text can
 * never produce a control token or a concept placeholder) and splices concept rows and image features into
 * the input embeddings.
 *
 * Choice: concept rows travel inline (`artifact`: base64 of the whole YOCN concept artifact, header included,
 * see concept-artifact.ts). Artifacts are tens of KB, so this keeps the node stateless; the node may still
 * cache derived state (prefix KV-cache) keyed by concept id + version, which are in the segment.
 * Images travel inline as base64 with their sniffed MIME type, or as an R2 key the node can be given access
 * to; the edge uses inline today.
 */
import * as v from "valibot";
import { CONCEPT_NAME_PATTERN } from "./concept-name";
import {
  MAX_CONCEPTS_PER_REQUEST,
  MAX_IMAGES_PER_RECOGNIZE,
  MAX_MESSAGES,
  MAX_OUTPUT_TOKENS,
  MAX_STOP_SEQUENCES,
} from "./limits";

export const PROMPT_PLAN_VERSION = 1;
export const IMAGE_MIME_TYPES = ["image/jpeg", "image/png", "image/webp"] as const;
export type ImageMime = (typeof IMAGE_MIME_TYPES)[number];

export const ImageRefSchema = v.union([
  v.strictObject({ base64: v.string(), mime: v.picklist(IMAGE_MIME_TYPES) }),
  v.strictObject({ r2_key: v.string(), mime: v.picklist(IMAGE_MIME_TYPES) }),
]);
export type ImageRef = v.InferOutput<typeof ImageRefSchema>;

export const TextSegmentSchema = v.strictObject({ type: v.literal("text"), text: v.string() });
export const ConceptSegmentSchema = v.strictObject({
  type: v.literal("concept"),
  concept: v.string(),
  version: v.pipe(v.number(), v.integer(), v.minValue(1)),
  name: v.pipe(v.string(), v.regex(CONCEPT_NAME_PATTERN)),
  /** base64 of the YOCN concept artifact (header + fp16 rows). */
  artifact: v.string(),
});
export const ImageSegmentSchema = v.strictObject({ type: v.literal("image"), image: ImageRefSchema });
/** Placeholder for "the current image of the batch" in recognize plans: the node runs one pass per image. */
export const BatchImageSegmentSchema = v.strictObject({ type: v.literal("batch_image") });

export const SegmentSchema = v.variant("type", [
  TextSegmentSchema,
  ConceptSegmentSchema,
  ImageSegmentSchema,
  BatchImageSegmentSchema,
]);
export type Segment = v.InferOutput<typeof SegmentSchema>;
export type ConceptSegment = v.InferOutput<typeof ConceptSegmentSchema>;

export const TurnSchema = v.strictObject({
  role: v.picklist(["system", "user", "assistant"]),
  segments: v.array(SegmentSchema),
});
export type Turn = v.InferOutput<typeof TurnSchema>;

export const GenerationOptionsSchema = v.strictObject({
  max_tokens: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_OUTPUT_TOKENS)),
  temperature: v.pipe(v.number(), v.minValue(0), v.maxValue(2)),
  top_p: v.pipe(v.number(), v.minValue(0), v.maxValue(1)),
  top_k: v.pipe(v.number(), v.integer(), v.minValue(0)),
  stop: v.pipe(v.array(v.string()), v.maxLength(MAX_STOP_SEQUENCES)),
  stream: v.boolean(),
});
export type GenerationOptions = v.InferOutput<typeof GenerationOptionsSchema>;

export const PlanTaskSchema = v.variant("kind", [
  v.strictObject({ kind: v.literal("chat") }),
  v.strictObject({
    kind: v.literal("recognize"),
    /** The node scores each candidate as the first answer token; P(yes) = softmax over candidates[0]. */
    candidates: v.pipe(v.array(v.string()), v.minLength(2)),
    batch: v.pipe(v.array(ImageRefSchema), v.minLength(1), v.maxLength(MAX_IMAGES_PER_RECOGNIZE)),
  }),
  v.strictObject({ kind: v.literal("generate") }),
]);
export type PlanTask = v.InferOutput<typeof PlanTaskSchema>;

export const PromptPlanSchema = v.strictObject({
  plan_version: v.literal(PROMPT_PLAN_VERSION),
  request_id: v.string(),
  /** Base model every concept in the plan was trained for; the node refuses a mismatch. */
  base_model: v.string(),
  task: PlanTaskSchema,
  turns: v.pipe(v.array(TurnSchema), v.minLength(1), v.maxLength(MAX_MESSAGES + 1)),
  options: GenerationOptionsSchema,
  /** Distinct concepts referenced by the turns (ids), for cache warm-up on the node. */
  concepts: v.pipe(v.array(v.string()), v.maxLength(MAX_CONCEPTS_PER_REQUEST)),
});
export type PromptPlan = v.InferOutput<typeof PromptPlanSchema>;

/** What the node answers for a recognize plan, one entry per batch image, in order. */
export const RecognizeNodeResultSchema = v.object({
  results: v.array(v.object({ p_yes: v.pipe(v.number(), v.minValue(0), v.maxValue(1)) })),
});
