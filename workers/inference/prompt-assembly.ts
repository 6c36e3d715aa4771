/**
 * Prompt assembly: resolves `<name>` mentions inside the caller's tenant to concept artifacts (KV, D1 on
 * miss or stale) and lays out the prompt plan of shared/prompt-plan.ts. Text between mentions stays text;
 * the node tokenizes it with special tokens disabled.
 */
import { and, eq, inArray } from "drizzle-orm";
import type { ChatRequest } from "../../shared/api";
import { CONCEPT_MENTION_PATTERN } from "../../shared/concept-name";
import {
  DEFAULT_OUTPUT_TOKENS,
  MAX_CONCEPTS_PER_REQUEST,
  MAX_IMAGES_PER_CHAT,
  MAX_PROMPT_CHARS,
} from "../../shared/limits";
import {
  type GenerationOptions,
  type PlanTask,
  PROMPT_PLAN_VERSION,
  type PromptPlan,
  type Segment,
  type Turn,
} from "../../shared/prompt-plan";
import { concepts } from "../db/schema";
import type { Db, EdgeEnv } from "../env";
import { type CacheOutcome, loadConceptArtifact } from "../lib/concept-cache";
import { ApiError } from "../lib/errors";
import { bytesToBase64, type CheckedImage, decodeImageString } from "../lib/images";

export interface ResolvedConcept {
  id: string;
  name: string;
  version: number;
  baseModel: string;
  artifactBase64: string;
  cache: CacheOutcome;
}

export function findMentions(texts: string[]): string[] {
  const names = new Set<string>();
  for (const text of texts) for (const match of text.matchAll(CONCEPT_MENTION_PATTERN)) names.add(match[0]);
  return [...names];
}

/** Unknown names and other tenants' names are both concept_not_found: names never leak across tenants. */
export async function resolveConcepts(
  env: EdgeEnv,
  db: Db,
  tenantId: string,
  names: string[],
): Promise<Map<string, ResolvedConcept>> {
  const resolved = new Map<string, ResolvedConcept>();
  if (names.length === 0) return resolved;
  if (names.length > MAX_CONCEPTS_PER_REQUEST) {
    throw new ApiError(
      "validation_failed",
      `at most ${MAX_CONCEPTS_PER_REQUEST} distinct concepts per request`,
    );
  }
  const rows = await db
    .select()
    .from(concepts)
    .where(and(eq(concepts.tenantId, tenantId), inArray(concepts.name, names)));
  for (const name of names) {
    const row = rows.find((r) => r.name === name);
    if (!row) throw new ApiError("concept_not_found", `${name} is not a concept of this tenant`);
    if (row.currentVersion === null)
      throw new ApiError("concept_not_ready", `${name} has no trained version yet`);
  }
  const loaded = await Promise.all(
    rows.map(async (row) => {
      const version = row.currentVersion!;
      const { base64, cache } = await loadConceptArtifact(env, db, {
        id: row.id,
        tenantId,
        name: row.name,
        currentVersion: version,
      });
      return {
        id: row.id,
        name: row.name,
        version,
        baseModel: row.baseModel,
        artifactBase64: base64,
        cache,
      };
    }),
  );
  for (const concept of loaded) resolved.set(concept.name, concept);
  if (new Set(loaded.map((c) => c.baseModel)).size > 1) {
    throw new ApiError("base_model_mismatch", "all mentioned concepts must share one base model");
  }
  return resolved;
}

export function textToSegments(text: string, resolved: Map<string, ResolvedConcept>): Segment[] {
  const segments: Segment[] = [];
  let cursor = 0;
  for (const match of text.matchAll(CONCEPT_MENTION_PATTERN)) {
    const concept = resolved.get(match[0]);
    if (!concept) continue;
    if (match.index > cursor) segments.push({ type: "text", text: text.slice(cursor, match.index) });
    segments.push({
      type: "concept",
      concept: concept.id,
      version: concept.version,
      name: concept.name,
      artifact: concept.artifactBase64,
    });
    cursor = match.index + match[0].length;
  }
  if (cursor < text.length) segments.push({ type: "text", text: text.slice(cursor) });
  return segments;
}

function imageSegment(image: CheckedImage): Segment {
  return { type: "image", image: { base64: bytesToBase64(image.bytes), mime: image.mime } };
}

function options(request: Partial<GenerationOptions>): GenerationOptions {
  return {
    max_tokens: request.max_tokens ?? DEFAULT_OUTPUT_TOKENS,
    temperature: request.temperature ?? 0,
    top_p: request.top_p ?? 1,
    top_k: request.top_k ?? 0,
    stop: request.stop ?? [],
    stream: request.stream ?? false,
  };
}

function plan(
  requestId: string,
  baseModel: string,
  task: PlanTask,
  turns: Turn[],
  opts: GenerationOptions,
  resolved: Map<string, ResolvedConcept>,
): PromptPlan {
  return {
    plan_version: PROMPT_PLAN_VERSION,
    request_id: requestId,
    base_model: baseModel,
    task,
    turns,
    options: opts,
    concepts: [...resolved.values()].map((c) => c.id),
  };
}

export async function assembleChatPlan(
  env: EdgeEnv,
  db: Db,
  tenantId: string,
  requestId: string,
  request: ChatRequest,
): Promise<{ plan: PromptPlan; concepts: ResolvedConcept[] }> {
  const texts: string[] = [];
  let imageCount = 0;
  for (const message of request.messages) {
    if (typeof message.content === "string") texts.push(message.content);
    else
      for (const part of message.content) {
        if (part.type === "text") texts.push(part.text);
        else imageCount++;
      }
  }
  const chars = texts.reduce((sum, t) => sum + t.length, 0);
  if (chars > MAX_PROMPT_CHARS)
    throw new ApiError("validation_failed", `prompt text exceeds ${MAX_PROMPT_CHARS} chars`);
  if (imageCount > MAX_IMAGES_PER_CHAT)
    throw new ApiError("validation_failed", `at most ${MAX_IMAGES_PER_CHAT} images per chat`);
  const resolved = await resolveConcepts(env, db, tenantId, findMentions(texts));
  const turns: Turn[] = request.messages.map((message, m) => {
    if (typeof message.content === "string")
      return { role: message.role, segments: textToSegments(message.content, resolved) };
    const segments = message.content.flatMap((part, p): Segment[] =>
      part.type === "text"
        ? textToSegments(part.text, resolved)
        : [imageSegment(decodeImageString(part.image_url.url, `messages[${m}].content[${p}]`))],
    );
    return { role: message.role, segments };
  });
  const baseModel = [...resolved.values()][0]?.baseModel ?? request.model ?? env.DEFAULT_BASE_MODEL;
  return {
    plan: plan(requestId, baseModel, { kind: "chat" }, turns, options(request), resolved),
    concepts: [...resolved.values()],
  };
}

export const DEFAULT_RECOGNIZE_QUESTION = "Is {concept} in this photo? Answer with yes or no.";

export async function assembleRecognizePlan(
  env: EdgeEnv,
  db: Db,
  tenantId: string,
  requestId: string,
  request: { concept: string; images: string[]; question?: string | undefined },
): Promise<{ plan: PromptPlan; concept: ResolvedConcept }> {
  const question = (request.question ?? DEFAULT_RECOGNIZE_QUESTION).replaceAll("{concept}", request.concept);
  const mentioned = findMentions([question]);
  const names = mentioned.includes(request.concept) ? mentioned : [request.concept, ...mentioned];
  const batch = request.images.map((image, i) => decodeImageString(image, `images[${i}]`));
  const resolved = await resolveConcepts(env, db, tenantId, names);
  const concept = resolved.get(request.concept)!;
  const turns: Turn[] = [
    { role: "user", segments: [{ type: "batch_image" }, ...textToSegments(question, resolved)] },
  ];
  const task: PlanTask = {
    kind: "recognize",
    candidates: ["Yes", "No"],
    batch: batch.map((image) => ({ base64: bytesToBase64(image.bytes), mime: image.mime })),
  };
  return {
    plan: plan(requestId, concept.baseModel, task, turns, options({ max_tokens: 1 }), resolved),
    concept,
  };
}
