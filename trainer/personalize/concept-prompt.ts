// Prompts with concept slots. `<bo>` and `<bo:1>..<bo:k>` are not tokenizer tokens: a prompt is a list of
// turns whose segments are text, images, or concept slots, and the renderer (trainer/text/prompt.ts)
// leaves placeholder positions where the concept's rows are spliced into the input embeddings.
//
// Slots are concept segments named `<bo>` (the identifier input row, 1 row) and `<bo>#latent` (the k
// latent rows). The system turn introduces every concept of the request: "<bo> is <bo:1>...<bo:k>."; a
// k = 0 concept gets no sentence ("<bo> is ." would say nothing), so it is met only where it is mentioned.
// trainer/serve/plan-prompt.ts builds its introduction with conceptSystemSegments too: training and
// serving prompts are the same.

import { CONCEPT_MENTION_PATTERN } from "../../shared/concept-name";
import type { PromptSegment, PromptTurn } from "../text/prompt";

export type ConceptPart = "identifier" | "latent";

const LATENT_SUFFIX = "#latent";

export function slotName(name: string, part: ConceptPart): string {
  return part === "identifier" ? name : `${name}${LATENT_SUFFIX}`;
}

export function parseSlotName(slot: string): { name: string; part: ConceptPart } {
  return slot.endsWith(LATENT_SUFFIX)
    ? { name: slot.slice(0, -LATENT_SUFFIX.length), part: "latent" }
    : { name: slot, part: "identifier" };
}

/** What a prompt needs to know of a concept to lay out its slots. */
export interface ConceptShape {
  name: string;
  /** Latent rows (0 is allowed: the identifier alone). */
  k: number;
}

export function identifierSegment(name: string): PromptSegment {
  return { type: "concept", concept: slotName(name, "identifier"), rows: 1 };
}

/** "<bo> is <bo:1>...<bo:k>." for each concept, as the system turn's segments (empty when all k are 0). */
export function conceptSystemSegments(concepts: readonly ConceptShape[]): PromptSegment[] {
  const segments: PromptSegment[] = [];
  for (const c of concepts) {
    if (c.k === 0) continue;
    if (segments.length > 0) segments.push({ type: "text", text: " " });
    segments.push(identifierSegment(c.name));
    segments.push({ type: "text", text: " is " });
    segments.push({ type: "concept", concept: slotName(c.name, "latent"), rows: c.k });
    segments.push({ type: "text", text: "." });
  }
  return segments;
}

/**
 * Text with `<name>` mentions of `known` concepts turned into identifier slots; other `<...>` stay text
 * (user text can never create a slot for a concept the request did not resolve).
 */
export function mentionSegments(text: string, known: ReadonlySet<string>): PromptSegment[] {
  const out: PromptSegment[] = [];
  let at = 0;
  const push = (t: string) => {
    if (t.length === 0) return;
    const last = out.at(-1);
    if (last?.type === "text") last.text += t;
    else out.push({ type: "text", text: t });
  };
  for (const m of text.matchAll(CONCEPT_MENTION_PATTERN)) {
    if (!known.has(m[0])) continue;
    push(text.slice(at, m.index));
    out.push(identifierSegment(m[0]));
    at = m.index + m[0].length;
  }
  push(text.slice(at));
  return out;
}

/** A template with `{name}` filled by the concept's identifier slot. */
export function templateSegments(template: string, name: string): PromptSegment[] {
  const parts = template.split("{name}");
  const out: PromptSegment[] = [];
  parts.forEach((part, i) => {
    if (i > 0) out.push(identifierSegment(name));
    if (part.length > 0) out.push({ type: "text", text: part });
  });
  return out;
}

export interface ConversationSpec {
  /** Concepts introduced in the system turn (their latent rows), in order. */
  concepts: readonly ConceptShape[];
  /** The user turn: images first (as LLaVA's data puts them), then the question's segments. */
  images: number;
  question: PromptSegment[];
  /** The assistant's answer; absent for a prompt that ends at the generation prompt. */
  answer?: PromptSegment[];
  /** Extra system text before the concept sentences (baselines: a written description). */
  systemText?: string;
}

/** The turns of one exchange: [system], user (images + question), [assistant]. */
export function conversationTurns(spec: ConversationSpec): PromptTurn[] {
  const system: PromptSegment[] = [];
  if (spec.systemText) system.push({ type: "text", text: spec.systemText });
  const conceptSentences = conceptSystemSegments(spec.concepts);
  if (conceptSentences.length > 0 && system.length > 0) system.push({ type: "text", text: " " });
  system.push(...conceptSentences);
  const turns: PromptTurn[] = [];
  if (system.length > 0) turns.push({ role: "system", segments: system });
  const user: PromptSegment[] = [];
  for (let i = 0; i < spec.images; i++) user.push({ type: "image" });
  user.push(...spec.question);
  turns.push({ role: "user", segments: user });
  if (spec.answer) turns.push({ role: "assistant", segments: spec.answer });
  return turns;
}
