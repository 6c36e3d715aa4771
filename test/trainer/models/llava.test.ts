// LLaVA (CLIP tower + projector + Llama) against transformers 5.23 on the tiny fixture from
// tools/reference/make_fixtures.py: image features, prompt logits, 20 greedy tokens; and the loader with the
// checkpoint renamed to transformers 5's in-memory layout and sharded.

import { copyFile, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { compile, Graph, matmul, ortTensor, Runtime, transpose } from "../../../trainer/engine/index";
import { SafetensorsCheckpoint, writeShardedSafetensors } from "../../../trainer/engine/safetensors";
import { causalAttentionBias, LlamaDecoder } from "../../../trainer/models/llama";
import { LlavaModel, llavaConfigFromHf, sanitizeLlavaWeightName } from "../../../trainer/models/llava";
import {
  loadCausalLm,
  openHfSnapshot,
  readWeightsFloat32,
  snapshotWeights,
} from "../../../trainer/models/loader";
import { ImageTokenMismatchError } from "../../../trainer/models/multimodal";
import { frozenWeights } from "../../../trainer/models/weights";
import { fixtureDir, floats, ints, maxAbsDiff, readGolden } from "./golden";

// float32 engine vs the float64 golden: logits agree to ~1e-5, features to ~2e-6.
const LOGIT_TOLERANCE = 1e-4;
const FEATURE_TOLERANCE = 2e-5;

const runtime = new Runtime();
afterAll(() => runtime.release());

describe("llava vs transformers", async () => {
  const golden = await readGolden("llava");
  const prompt = ints(golden.get("input_ids")!);
  const pixels = { data: floats(golden.get("pixel_values")!), count: 1 };
  const { runner } = await loadCausalLm(fixtureDir("llava"), runtime);

  it("image features and prompt logits", async () => {
    const out = await runner.forward([prompt], pixels);
    const featureDiff = maxAbsDiff(out.imageFeatures!, floats(golden.get("image_features")!));
    const logitDiff = maxAbsDiff(out.logits, floats(golden.get("logits")!));
    expect(featureDiff).toBeLessThanOrEqual(FEATURE_TOLERANCE);
    expect(logitDiff).toBeLessThanOrEqual(LOGIT_TOLERANCE);
  });

  it("20 greedy tokens match generate(do_sample=False)", async () => {
    expect(await runner.greedy(prompt, 20, pixels)).toEqual(ints(golden.get("greedy_tokens")!));
  });

  it("the CLIP tower's hidden state at vision_feature_layer, CLS kept with strategy full", async () => {
    const snapshot = await openHfSnapshot(fixtureDir("llava"));
    const values = await readWeightsFloat32(snapshot);
    await snapshot.checkpoint.close();
    const g = new Graph("llava-vision-full");
    const config = llavaConfigFromHf(snapshot.config);
    const model = new LlavaModel(g, config, snapshotWeights(g, snapshot, values));
    const px = g.input("pixel_values", "float32", ["images", ...model.pixelShape]);
    g.output(model.vision.selectFeatures(px, { layer: -2, strategy: "full" }), "full");
    g.output(model.vision.selectFeatures(px, { layer: -2, strategy: "default" }), "default");
    const out = await runtime.run(compile(g), {
      pixel_values: ortTensor("float32", pixels.data, [1, 3, 32, 32]),
    });
    const expected = floats(golden.get("vision_hidden")!); // [1, 17, 32], CLS first
    expect(out.full!.dims).toEqual([1, 17, 32]);
    expect(maxAbsDiff(out.full!.data as Float32Array, expected)).toBeLessThanOrEqual(FEATURE_TOLERANCE);
    expect(out.default!.dims).toEqual([1, 16, 32]);
    expect(maxAbsDiff(out.default!.data as Float32Array, expected.subarray(32))).toBeLessThanOrEqual(
      FEATURE_TOLERANCE,
    );
  });

  it("decoder hooks: text config + LlamaForCausalLM-named weights + image features give the same logits", async () => {
    // What trainer/generate does with a VLM: embed the prompt, put the image features at the image tokens,
    // run the plain decoder over inputs_embeds.
    const { textConfig, textWeights } = await loadCausalLm(fixtureDir("llava"), runtime);
    const features = await runner.imageFeatures(pixels);
    expect(maxAbsDiff(features, floats(golden.get("image_features")!))).toBeLessThanOrEqual(
      FEATURE_TOLERANCE,
    );
    const h = textConfig.hiddenSize;
    const table = textWeights("model.embed_tokens.weight", [textConfig.vocabSize, h]);
    const embeds = new Float32Array(prompt.length * h);
    let image = 0;
    prompt.forEach((id, t) => {
      const row =
        id === 127 ? features.subarray(image++ * h, image * h) : table.subarray(id * h, (id + 1) * h);
      embeds.set(row, t * h);
    });
    expect(image).toBe(16);
    const g = new Graph("llava-decoder-hooks");
    const decoder = new LlamaDecoder(g, textConfig, frozenWeights(g, "float32", textWeights));
    const inputs = decoder.inputs();
    g.output(matmul(decoder.forward(inputs), transpose(decoder.lmHead(), [1, 0])), "logits");
    const seq = prompt.length;
    const out = await runtime.run(compile(g), {
      inputs_embeds: ortTensor("float32", embeds, [1, seq, h]),
      position_ids: ortTensor(
        "int64",
        BigInt64Array.from({ length: seq }, (_, i) => BigInt(i)),
        [1, seq],
      ),
      attention_bias: ortTensor("float32", causalAttentionBias(1, seq), [1, 1, seq, seq]),
    });
    expect(maxAbsDiff(out.logits!.data as Float32Array, floats(golden.get("logits")!))).toBeLessThanOrEqual(
      LOGIT_TOLERANCE,
    );
  });

  it("refuses a prompt whose image tokens do not match the images", async () => {
    const short = prompt.filter((id, i) => !(id === 127 && i === 4));
    await expect(runner.forward([short], pixels)).rejects.toBeInstanceOf(ImageTokenMismatchError);
  });
});

describe("llava weight layouts", () => {
  it("sanitize maps old and new checkpoint names onto transformers 5 names", () => {
    const cases: [string, string][] = [
      ["language_model.lm_head.weight", "lm_head.weight"],
      [
        "language_model.model.layers.0.mlp.up_proj.weight",
        "model.language_model.layers.0.mlp.up_proj.weight",
      ],
      ["language_model.norm.weight", "model.language_model.norm.weight"],
      ["vision_tower.vision_model.pre_layrnorm.weight", "model.vision_tower.pre_layrnorm.weight"],
      ["vision_tower.embeddings.class_embedding", "model.vision_tower.embeddings.class_embedding"],
      ["model.vision_tower.vision_model.post_layernorm.bias", "model.vision_tower.post_layernorm.bias"],
      ["multi_modal_projector.linear_1.weight", "model.multi_modal_projector.linear_1.weight"],
      ["model.language_model.embed_tokens.weight", "model.language_model.embed_tokens.weight"],
      ["lm_head.weight", "lm_head.weight"],
    ];
    for (const [from, to] of cases) expect(sanitizeLlavaWeightName(from), from).toBe(to);
  });

  it("a sharded checkpoint in the transformers 5 layout gives the same logits", async () => {
    const dir = await mkdtemp(join(tmpdir(), "llava-new-layout-"));
    try {
      const source = await SafetensorsCheckpoint.open(fixtureDir("llava"));
      const renamed = new Map();
      for (const name of source.names()) {
        const canonical = sanitizeLlavaWeightName(name).replace(
          /^model\.vision_tower\./,
          "model.vision_tower.vision_model.",
        );
        renamed.set(canonical, await source.read(name));
      }
      await source.close();
      await writeShardedSafetensors(dir, renamed, 200_000);
      for (const f of ["config.json", "preprocessor_config.json"]) {
        await copyFile(join(fixtureDir("llava"), f), join(dir, f));
      }
      const layoutRuntime = new Runtime();
      const { runner } = await loadCausalLm(dir, layoutRuntime);
      const golden = await readGolden("llava");
      const out = await runner.forward([ints(golden.get("input_ids")!)], {
        data: floats(golden.get("pixel_values")!),
        count: 1,
      });
      await layoutRuntime.release();
      expect(maxAbsDiff(out.logits, floats(golden.get("logits")!))).toBeLessThanOrEqual(LOGIT_TOLERANCE);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
