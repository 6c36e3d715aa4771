// What a base model says about how concepts train on it, in `concept_recipe.json` beside its config (not
// an HF file; a base without one trains concepts with the plain recipe). Today one thing:
//
//   { "attention_target": { "layer": 2, "head": 0, "weight": 1 } }
//
// the attention head the base's own training taught to look, from the answer position, at the object a
// question describes (the toy LLaVA's `llava_recognize`/`llava_locate` stages). trainConcept then adds a
// loss on where that head looks for recognition examples (concept-batch.ts, conceptAttentionTargetFeeds; the
// subject's rows from subject-location.ts): on the toy LLaVA it is what gets the rows off the plateau
// where every image gets the same answer (README.md, "The locating head").

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { AttentionTarget } from "../models/attention-target";
import { ConceptTrainingError } from "./errors";

export const BASE_RECIPE_FILE = "concept_recipe.json";

export interface BaseConceptRecipe {
  attentionTarget?: AttentionTarget;
}

/** The recipe in `dir`, or {} when the base has none; a malformed file is an `unknown_base_model`. */
export function readBaseConceptRecipe(dir: string): BaseConceptRecipe {
  const path = join(dir, BASE_RECIPE_FILE);
  if (!existsSync(path)) return {};
  const bad = (why: string) => new ConceptTrainingError("unknown_base_model", `${path}: ${why}`);
  let json: unknown;
  try {
    json = JSON.parse(readFileSync(path, "utf8"));
  } catch (e) {
    throw bad(`not JSON (${(e as Error).message})`);
  }
  if (typeof json !== "object" || json === null || Array.isArray(json)) throw bad("expected an object");
  const target = (json as Record<string, unknown>).attention_target;
  if (target === undefined) return {};
  const t = target as Record<string, unknown>;
  const integer = (v: unknown) => typeof v === "number" && Number.isInteger(v) && v >= 0;
  if (typeof target !== "object" || target === null || !integer(t.layer) || !integer(t.head))
    throw bad("attention_target needs non-negative integer layer and head");
  const weight = t.weight ?? 1;
  if (typeof weight !== "number" || !(weight > 0) || !Number.isFinite(weight))
    throw bad("attention_target.weight must be a positive number");
  return { attentionTarget: { layer: t.layer as number, head: t.head as number, weight } };
}
