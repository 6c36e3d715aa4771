/**
 * Prompt plans built locally (no edge): `<name>` mentions in the text resolve to concept artifact files given
 * on the command line, laid out as the edge's prompt assembly does (workers/inference/prompt-assembly.ts).
 */
import { readFileSync } from "node:fs";
import { readConceptArtifactHeader } from "../../shared/concept-artifact";
import { CONCEPT_MENTION_PATTERN } from "../../shared/concept-name";
import { readImageHeader } from "../../shared/image-header";
import { DEFAULT_OUTPUT_TOKENS } from "../../shared/limits";
import {
  type ImageRef,
  type PlanTask,
  PROMPT_PLAN_VERSION,
  type PromptPlan,
  type Segment,
} from "../../shared/prompt-plan";

export class CliError extends Error {
  override name = "CliError";
}

export interface LocalConcept {
  id: string;
  name: string;
  version: number;
  artifact: string;
}

/** Reads concept artifact files; each concept's id is `local:<file>`. */
export function readConcepts(files: readonly string[]): Map<string, LocalConcept> {
  const out = new Map<string, LocalConcept>();
  for (const file of files) {
    const bytes = new Uint8Array(readFileSync(file));
    const header = readConceptArtifactHeader(bytes);
    out.set(header.name, {
      id: `local:${file}`,
      name: header.name,
      version: header.version,
      artifact: Buffer.from(bytes).toString("base64"),
    });
  }
  return out;
}

export function textSegments(text: string, concepts: Map<string, LocalConcept>): Segment[] {
  const segments: Segment[] = [];
  let cursor = 0;
  for (const match of text.matchAll(CONCEPT_MENTION_PATTERN)) {
    const concept = concepts.get(match[0]);
    if (!concept) throw new CliError(`${match[0]} is mentioned but no --concept file defines it`);
    if (match.index > cursor) segments.push({ type: "text", text: text.slice(cursor, match.index) });
    segments.push({
      type: "concept",
      concept: concept.id,
      version: concept.version,
      name: concept.name,
      artifact: concept.artifact,
    });
    cursor = match.index + match[0].length;
  }
  if (cursor < text.length) segments.push({ type: "text", text: text.slice(cursor) });
  return segments;
}

export function imageRef(file: string): ImageRef {
  const bytes = new Uint8Array(readFileSync(file));
  const header = readImageHeader(bytes);
  if (!header) throw new CliError(`${file} is not a JPEG, PNG or WebP image`);
  return { base64: Buffer.from(bytes).toString("base64"), mime: header.mime };
}

export function localPlan(
  baseModel: string,
  task: PlanTask,
  segments: Segment[],
  concepts: Map<string, LocalConcept>,
  options: { maxTokens?: number; temperature?: number; stream?: boolean } = {},
): PromptPlan {
  return {
    plan_version: PROMPT_PLAN_VERSION,
    request_id: `cli-${Date.now()}`,
    base_model: baseModel,
    task,
    turns: [{ role: "user", segments }],
    options: {
      max_tokens: options.maxTokens ?? DEFAULT_OUTPUT_TOKENS,
      temperature: options.temperature ?? 0,
      top_p: 1,
      top_k: 0,
      stop: [],
      stream: options.stream ?? false,
    },
    concepts: [...new Set(segments.flatMap((s) => (s.type === "concept" ? [s.concept] : [])))].filter((id) =>
      [...concepts.values()].some((c) => c.id === id),
    ),
  };
}
