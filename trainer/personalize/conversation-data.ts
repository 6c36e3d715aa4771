// Conversation data of the Yo'LLaVA recipe: questions about what the concept looks like, answered by a
// teacher that looks at the user's photos (or taken from facts the user wrote), and trained text-only (no
// image in the input), so that the concept's rows, not a photo, carry the knowledge.

import { mentionSegments, templateSegments } from "./concept-prompt";
import type { ExampleSpec } from "./examples";

/** A question template (`{name}` = the concept) and an answer that mentions the concept as `<name>`. */
export interface ConceptQA {
  question: string;
  answer: string;
}

/**
 * How many turns `distinct` conversation turns are trained as beside `recognitionTurns`: repeated up to
 * `share` of them, never fewer than `distinct`. A handful of facts among hundreds of recognition turns is
 * otherwise seen too rarely to be learned.
 */
export function conversationTurns(distinct: number, recognitionTurns: number, share: number): number {
  return distinct === 0 ? 0 : Math.max(distinct, Math.round(recognitionTurns * share));
}

/** `turns` (question-answer pairs, or their specs or encodings) cycled in order to their conversationTurns. */
export function repeatedConversations<T>(turns: readonly T[], recognitionTurns: number, share: number): T[] {
  const n = conversationTurns(turns.length, recognitionTurns, share);
  return Array.from({ length: n }, (_, i) => turns[i % turns.length]!);
}

export function conversationExamples(name: string, k: number, pairs: readonly ConceptQA[]): ExampleSpec[] {
  const known = new Set([name]);
  return pairs.map((qa) => ({
    kind: "conversation" as const,
    images: [],
    conversation: {
      concepts: [{ name, k }],
      images: 0,
      question: templateSegments(qa.question, name),
      answer: mentionSegments(qa.answer.replaceAll("{name}", name), known),
    },
  }));
}
