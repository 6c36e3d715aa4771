// CLIPModel against transformers 5.23 on the tiny fixture from tools/reference/make_fixtures.py: every
// vision hidden state, the pooled CLS, image and text embeddings (eos and legacy argmax pooling), the
// contrastive logits, and the training loss with its gradient for every weight.

import { afterAll, describe, expect, it } from "vitest";
import { compile, Graph, gradients, ortTensor, Runtime } from "../../../trainer/engine/index";
import { ClipModel, clipConfigFromHf, clipPoolPositions } from "../../../trainer/models/clip";
import { causalAttentionBias } from "../../../trainer/models/llama";
import { loadClip, openHfSnapshot } from "../../../trainer/models/loader";
import { weightsAsInputs } from "../../../trainer/models/weights";
import { fixtureDir, floats, ints, maxAbsDiff, readGolden } from "./golden";

// float32 towers vs the float64 golden (observed ~1e-6 on O(1) values).
const TOLERANCE = 2e-5;

const runtime = new Runtime();
afterAll(() => runtime.release());

/** ||a - b|| / ||b|| */
function relativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let diff = 0;
  let norm = 0;
  for (let i = 0; i < expected.length; i++) {
    diff += (actual[i]! - expected[i]!) ** 2;
    norm += expected[i]! ** 2;
  }
  return Math.sqrt(diff) / Math.sqrt(norm);
}

function normalizedRows(x: Float32Array, width: number): Float64Array {
  const out = Float64Array.from(x);
  for (let r = 0; r < x.length / width; r++) {
    let norm = 0;
    for (let j = 0; j < width; j++) norm += x[r * width + j]! ** 2;
    for (let j = 0; j < width; j++) out[r * width + j]! /= Math.sqrt(norm);
  }
  return out;
}

describe("CLIPModel vs transformers", async () => {
  const golden = await readGolden("clip");
  const g = new Graph("clip");
  const { model } = await loadClip(fixtureDir("clip"), g);
  const c = model.config;
  const px = g.input("pixel_values", "float32", ["images", 3, 32, 32]);
  const ids = g.input("input_ids", "int64", ["batch", "seq"]);
  const bias = g.input("attention_bias", "float32", ["batch", 1, "seq", "seq"]);
  const pool = g.input("pool_positions", "int64", ["batch"]);
  g.output(model.imageEmbeds(px), "image_embeds");
  g.output(model.textEmbeds(ids, bias, pool), "text_embeds");
  g.output(model.logitScale(), "logit_scale_value");
  model.vision.hiddenStates(px).forEach((h, i) => {
    g.output(h, `hidden_${i}`);
  });
  g.output(model.vision.pooled(px), "pooled");
  // LLaVA's multi-layer selection: states 2 and 3 without CLS, concatenated along the features.
  g.output(model.vision.selectFeatures(px, { layer: [-2, -1], strategy: "default" }), "layers_2_3");
  const compiled = compile(g);

  const inputIds = golden.get("input_ids")!;
  const [batch, seq] = inputIds.shape as [number, number];
  const feeds = (eosTokenId: number) => ({
    pixel_values: ortTensor("float32", floats(golden.get("pixel_values")!), [2, 3, 32, 32]),
    input_ids: ortTensor("int64", inputIds.data as BigInt64Array, [batch, seq]),
    attention_bias: ortTensor("float32", causalAttentionBias(batch, seq), [batch, 1, seq, seq]),
    pool_positions: ortTensor("int64", clipPoolPositions(ints(inputIds), batch, seq, eosTokenId), [batch]),
  });

  it("vision hidden states, pooled CLS, image and text embeddings, logits_per_image", async () => {
    const out = await runtime.run(compiled, feeds(c.text.eosTokenId));
    const states = floats(golden.get("vision_hidden_states")!); // [L+1, 2, 17, 32]
    const per = 2 * 17 * 32;
    for (let i = 0; i <= c.vision.numLayers; i++) {
      const actual = out[`hidden_${i}`]!.data as Float32Array;
      expect(
        maxAbsDiff(actual, states.subarray(i * per, (i + 1) * per)),
        `hidden state ${i}`,
      ).toBeLessThanOrEqual(TOLERANCE);
    }
    const selected = out.layers_2_3!.data as Float32Array; // [2, 16, 64]
    expect(out.layers_2_3!.dims).toEqual([2, 16, 64]);
    for (let n = 0; n < 2; n++) {
      for (let p = 0; p < 16; p++) {
        for (const [k, state] of [2, 3].entries()) {
          const from = ((state * 2 + n) * 17 + p + 1) * 32;
          const row = selected.subarray((n * 16 + p) * 64 + k * 32, (n * 16 + p) * 64 + (k + 1) * 32);
          expect(maxAbsDiff(row, states.subarray(from, from + 32))).toBeLessThanOrEqual(TOLERANCE);
        }
      }
    }
    expect(
      maxAbsDiff(out.pooled!.data as Float32Array, floats(golden.get("vision_pooled")!)),
    ).toBeLessThanOrEqual(TOLERANCE);
    const image = out.image_embeds!.data as Float32Array;
    const text = out.text_embeds!.data as Float32Array;
    expect(maxAbsDiff(image, floats(golden.get("image_embeds")!))).toBeLessThanOrEqual(TOLERANCE);
    expect(maxAbsDiff(text, floats(golden.get("text_embeds")!))).toBeLessThanOrEqual(TOLERANCE);

    // logits_per_image = exp(logit_scale) * normalize(image) @ normalize(text)^T
    const scale = Math.exp((out.logit_scale_value!.data as Float32Array)[0]!);
    const [ni, nt] = [normalizedRows(image, c.projectionDim), normalizedRows(text, c.projectionDim)];
    const logits = new Float64Array(4);
    for (let i = 0; i < 2; i++) {
      for (let t = 0; t < 2; t++) {
        let dot = 0;
        for (let j = 0; j < c.projectionDim; j++)
          dot += ni[i * c.projectionDim + j]! * nt[t * c.projectionDim + j]!;
        logits[i * 2 + t] = scale * dot;
      }
    }
    expect(maxAbsDiff(logits, floats(golden.get("logits_per_image")!))).toBeLessThanOrEqual(1e-4);
  });

  it("pools at the argmax id when eos_token_id is 2 (configs before transformers #24773)", async () => {
    // Row 1 holds 100, above its eos (98): the two rules pick different rows, so this can tell them apart.
    expect(Array.from(clipPoolPositions(ints(inputIds), batch, seq, 98))).toEqual([4n, 13n]);
    expect(Array.from(clipPoolPositions(ints(inputIds), batch, seq, 2))).toEqual([4n, 9n]);
    const out = await runtime.run(compiled, feeds(2));
    expect(
      maxAbsDiff(out.text_embeds!.data as Float32Array, floats(golden.get("text_embeds_argmax")!)),
    ).toBeLessThanOrEqual(TOLERANCE);
  });
});

describe("CLIPModel training: contrastive loss and every weight gradient vs transformers", () => {
  it("matches return_loss=True and its float64 backward within 1e-4 relative error", async () => {
    const golden = await readGolden("clip");
    const snapshot = await openHfSnapshot(fixtureDir("clip"));
    const g = new Graph("clip-train");
    const weights = weightsAsInputs(g, "float32");
    const model = new ClipModel(g, clipConfigFromHf(snapshot.config), weights);
    const px = g.input("pixel_values", "float32", ["images", 3, 32, 32]);
    const ids = g.input("input_ids", "int64", ["batch", "seq"]);
    const bias = g.input("attention_bias", "float32", ["batch", 1, "seq", "seq"]);
    const pool = g.input("pool_positions", "int64", ["batch"]);
    const { loss } = model.contrastiveLoss(model.imageEmbeds(px), model.textEmbeds(ids, bias, pool));
    const wrt = weights.names.map((n) => g.tensor(n));
    gradients(g, loss, wrt);

    const inputIds = golden.get("input_ids")!;
    const [batch, seq] = inputIds.shape as [number, number];
    const feeds: Record<string, ReturnType<typeof ortTensor>> = {
      pixel_values: ortTensor("float32", floats(golden.get("pixel_values")!), [2, 3, 32, 32]),
      input_ids: ortTensor("int64", inputIds.data as BigInt64Array, [batch, seq]),
      attention_bias: ortTensor("float32", causalAttentionBias(batch, seq), [batch, 1, seq, seq]),
      pool_positions: ortTensor("int64", clipPoolPositions(ints(inputIds), batch, seq, 98), [batch]),
    };
    for (const name of weights.names) {
      feeds[name] = ortTensor(
        "float32",
        await snapshot.checkpoint.readFloat32(name),
        snapshot.checkpoint.info(name).shape,
      );
    }
    await snapshot.checkpoint.close();
    const out = await runtime.run(compile(g), feeds);

    const expectedLoss = (golden.get("loss_f64")!.data as Float64Array)[0]!;
    const actualLoss = (out.loss!.data as Float32Array)[0]!;
    expect(Math.abs(actualLoss - expectedLoss) / Math.abs(expectedLoss)).toBeLessThan(1e-5);
    const parameters = [...golden.keys()].filter((k) => k.startsWith("grad.")).map((k) => k.slice(5));
    expect(new Set(weights.names)).toEqual(new Set(parameters)); // every parameter is used and checked
    let worst = 0;
    for (const name of parameters) {
      const expected = floats(golden.get(`grad.${name}`)!);
      const actual = out[`grad/${name}`]!.data as Float32Array;
      if (name.endsWith("k_proj.bias")) {
        // A key bias shifts every score of a query row equally, which softmax ignores: its gradient is
        // zero up to rounding (~1e-8 in the golden, whose attention softmax runs in float32), so only
        // its size can be compared.
        expect(Math.hypot(...expected), name).toBeLessThan(1e-6);
        expect(Math.hypot(...actual), name).toBeLessThan(1e-6);
        continue;
      }
      const error = relativeError(actual, expected);
      expect(error, name).toBeLessThan(1e-4);
      worst = Math.max(worst, error);
    }
    console.log(
      JSON.stringify({
        parity: "clip-train",
        loss_rel_err: Math.abs(actualLoss - expectedLoss) / Math.abs(expectedLoss),
        worst_weight_grad_rel_err: worst,
      }),
    );
  });
});
