/** A concept name as users write it in prompts: `<` + 1-32 of [a-z0-9_-] + `>`, unique per tenant. */
export const CONCEPT_NAME_PATTERN = /^<[a-z0-9_-]{1,32}>$/;

/** Finds every `<name>` mention in free text; names that fail CONCEPT_NAME_PATTERN are left as plain text. */
export const CONCEPT_MENTION_PATTERN = /<[a-z0-9_-]{1,32}>/g;

export const CONCEPT_KINDS = ["person", "pet", "object", "place", "character", "other"] as const;
export type ConceptKind = (typeof CONCEPT_KINDS)[number];
