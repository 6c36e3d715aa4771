// Idefics3 / SmolVLM (SigLIP tower + pixel-shuffle connector + tied Llama) against transformers 5.23 on the
// tiny fixture from tools/reference/make_fixtures.py: connector output, prompt logits, 20 greedy tokens.

import { afterAll, describe, expect, it } from "vitest";
import { Runtime } from "../../../trainer/engine/index";
import { sanitizeIdefics3WeightName } from "../../../trainer/models/idefics3";
import { loadCausalLm } from "../../../trainer/models/loader";
import { fixtureDir, floats, ints, maxAbsDiff, readGolden } from "./golden";

// float32 engine vs the float64 golden: logits agree to ~1e-5, features to ~2e-6.
const LOGIT_TOLERANCE = 1e-4;
const FEATURE_TOLERANCE = 2e-5;

const runtime = new Runtime();
afterAll(() => runtime.release());

describe("idefics3 vs transformers", async () => {
  const golden = await readGolden("idefics3");
  const prompt = ints(golden.get("input_ids")!);
  // HF's [batch, images, C, S, S] flattened over (batch, images).
  const pixels = { data: floats(golden.get("pixel_values")!), count: 1 };
  const { snapshot, runner } = await loadCausalLm(fixtureDir("idefics3"), runtime);

  it("has a tied head: the checkpoint holds no lm_head.weight", () => {
    expect(snapshot.weightNames.has("lm_head.weight")).toBe(false);
    expect(snapshot.weightNames.has("model.text_model.embed_tokens.weight")).toBe(true);
  });

  it("connector features and prompt logits", async () => {
    const out = await runner.forward([prompt], pixels);
    expect(maxAbsDiff(out.imageFeatures!, floats(golden.get("image_features")!))).toBeLessThanOrEqual(
      FEATURE_TOLERANCE,
    );
    expect(maxAbsDiff(out.logits, floats(golden.get("logits")!))).toBeLessThanOrEqual(LOGIT_TOLERANCE);
  });

  it("20 greedy tokens match generate(do_sample=False)", async () => {
    expect(await runner.greedy(prompt, 20, pixels)).toEqual(ints(golden.get("greedy_tokens")!));
  });

  it("sanitize adds the model. prefix of bare Idefics3Model checkpoints and keeps the rest", () => {
    expect(sanitizeIdefics3WeightName("vision_model.post_layernorm.weight")).toBe(
      "model.vision_model.post_layernorm.weight",
    );
    expect(sanitizeIdefics3WeightName("connector.modality_projection.proj.weight")).toBe(
      "model.connector.modality_projection.proj.weight",
    );
    expect(sanitizeIdefics3WeightName("model.text_model.norm.weight")).toBe("model.text_model.norm.weight");
    expect(sanitizeIdefics3WeightName("lm_head.weight")).toBe("lm_head.weight");
  });
});
