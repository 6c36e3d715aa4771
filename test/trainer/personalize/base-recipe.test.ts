// concept_recipe.json: what a base model says about training concepts on it (today its locating head).

import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { BASE_RECIPE_FILE, readBaseConceptRecipe } from "../../../trainer/personalize/base-recipe";
import { ConceptTrainingError } from "../../../trainer/personalize/errors";
import { TOY_LLAVA_DIR } from "../../../trainer/toyworld/train/toy-models";
import { LLAVA_DIR } from "./fixture";

function dirWith(text: string): string {
  const dir = mkdtempSync(join(tmpdir(), "yo-recipe-"));
  writeFileSync(join(dir, BASE_RECIPE_FILE), text);
  return dir;
}

describe("readBaseConceptRecipe", () => {
  it("reads a base's locating head, and nothing for a base without a recipe", () => {
    // The toy LLaVA's stages `llava_recognize` and `llava_locate` trained head 0 of layer 2 to locate.
    expect(readBaseConceptRecipe(TOY_LLAVA_DIR)).toEqual({
      attentionTarget: { layer: 2, head: 0, weight: 1 },
    });
    expect(readBaseConceptRecipe(LLAVA_DIR)).toEqual({});
    expect(readBaseConceptRecipe(dirWith("{}"))).toEqual({});
    const noWeight = dirWith(JSON.stringify({ attention_target: { layer: 1, head: 3 } }));
    expect(readBaseConceptRecipe(noWeight)).toEqual({ attentionTarget: { layer: 1, head: 3, weight: 1 } });
  });

  it("refuses a malformed recipe as an unknown base model", () => {
    for (const text of [
      "not json",
      "[]",
      JSON.stringify({ attention_target: { layer: -1, head: 0 } }),
      JSON.stringify({ attention_target: { layer: 1.5, head: 0 } }),
      JSON.stringify({ attention_target: { layer: 1, head: 0, weight: 0 } }),
      JSON.stringify({ attention_target: "2,0" }),
    ]) {
      let error: unknown;
      try {
        readBaseConceptRecipe(dirWith(text));
      } catch (e) {
        error = e;
      }
      expect(error, text).toBeInstanceOf(ConceptTrainingError);
      expect((error as ConceptTrainingError).code).toBe("unknown_base_model");
    }
  });
});
