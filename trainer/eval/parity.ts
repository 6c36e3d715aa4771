// npm run parity: loads every tiny transformers fixture under test/fixtures/models with our loader and
// builders, and prints one JSON line per model type:
//   {"parity": <model_type>, "max_abs_logit_diff": ..., "greedy_match": true|false, ...}
// Causal LMs: full-prompt logits vs the float64 transformers golden, 20 greedy tokens (repeated full
// forwards) vs transformers generate(do_sample=False), and for VLMs the projected image features.
// CLIP has no logits over a vocabulary or generation: its line reports logits_per_image and the embeddings,
// with "greedy_match": null. Fixtures come from tools/reference/make_fixtures.py.

import { readdir } from "node:fs/promises";
import { join } from "node:path";
import { compile, Graph, ortTensor, Runtime } from "../engine/index";
import { readSafetensorsFile, type Tensor } from "../engine/safetensors";
import { clipPoolPositions } from "../models/clip";
import { causalAttentionBias } from "../models/llama";
import { loadCausalLm, loadClip, openHfSnapshot } from "../models/loader";

const FIXTURES = join(import.meta.dirname, "../../test/fixtures/models");
const GREEDY_STEPS = 20;

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  if (a.length !== b.length) return Number.POSITIVE_INFINITY;
  let worst = 0;
  for (let i = 0; i < a.length; i++) {
    const d = Math.abs(a[i]! - b[i]!);
    if (Number.isNaN(d)) return Number.NaN;
    worst = Math.max(worst, d);
  }
  return worst;
}

const ints = (t: Tensor) => Array.from(t.data as BigInt64Array, Number);
const floats = (t: Tensor) => t.data as Float32Array;

async function causalLmParity(dir: string, runtime: Runtime): Promise<Record<string, unknown>> {
  const golden = (await readSafetensorsFile(join(dir, "golden.safetensors"))).tensors;
  const { snapshot, runner } = await loadCausalLm(dir, runtime);
  const prompt = ints(golden.get("input_ids")!);
  const px = golden.get("pixel_values");
  // VLM fixtures hold one image ([1, C, S, S] for llava, [1, 1, C, S, S] for idefics3).
  const pixels = px ? { data: floats(px), count: 1 } : undefined;
  const started = performance.now();
  const out = await runner.forward([prompt], pixels);
  const greedy = await runner.greedy(prompt, GREEDY_STEPS, pixels);
  const expected = ints(golden.get("greedy_tokens")!);
  const line: Record<string, unknown> = {
    parity: snapshot.modelType,
    max_abs_logit_diff: maxAbsDiff(out.logits, floats(golden.get("logits")!)),
    greedy_match: greedy.length === expected.length && greedy.every((t, i) => t === expected[i]),
  };
  if (pixels) {
    line.image_features_max_abs_diff = maxAbsDiff(out.imageFeatures!, floats(golden.get("image_features")!));
  }
  line.seconds = Number(((performance.now() - started) / 1000).toFixed(2));
  return line;
}

async function clipParity(dir: string, runtime: Runtime): Promise<Record<string, unknown>> {
  const golden = (await readSafetensorsFile(join(dir, "golden.safetensors"))).tensors;
  const g = new Graph("clip-parity");
  const { snapshot, model } = await loadClip(dir, g);
  const c = model.config;
  const px = g.input("pixel_values", "float32", [
    "images",
    c.vision.numChannels,
    c.vision.imageSize,
    c.vision.imageSize,
  ]);
  const ids = g.input("input_ids", "int64", ["batch", "seq"]);
  const bias = g.input("attention_bias", "float32", ["batch", 1, "seq", "seq"]);
  const pool = g.input("pool_positions", "int64", ["batch"]);
  g.output(model.imageEmbeds(px), "image_embeds");
  g.output(model.textEmbeds(ids, bias, pool), "text_embeds");
  g.output(model.logitScale(), "logit_scale_value");
  const inputIds = golden.get("input_ids")!;
  const pixelValues = golden.get("pixel_values")!;
  const [batch, seq] = inputIds.shape as [number, number];
  const out = await runtime.run(compile(g), {
    pixel_values: ortTensor("float32", floats(pixelValues), pixelValues.shape),
    input_ids: ortTensor("int64", inputIds.data as BigInt64Array, [batch, seq]),
    attention_bias: ortTensor("float32", causalAttentionBias(batch, seq), [batch, 1, seq, seq]),
    pool_positions: ortTensor("int64", clipPoolPositions(ints(inputIds), batch, seq, c.text.eosTokenId), [
      batch,
    ]),
  });
  const image = out.image_embeds!.data as Float32Array;
  const text = out.text_embeds!.data as Float32Array;
  const d = c.projectionDim;
  const unit = (x: Float32Array, r: number) => {
    const row = x.subarray(r * d, (r + 1) * d);
    const norm = Math.sqrt(row.reduce((s, v) => s + v * v, 0));
    return Array.from(row, (v) => v / norm);
  };
  const scale = Math.exp((out.logit_scale_value!.data as Float32Array)[0]!);
  const images = image.length / d;
  const texts = text.length / d;
  const logits: number[] = [];
  for (let i = 0; i < images; i++) {
    for (let t = 0; t < texts; t++) {
      const [u, v] = [unit(image, i), unit(text, t)];
      logits.push(scale * u.reduce((s, x, j) => s + x * v[j]!, 0));
    }
  }
  return {
    parity: snapshot.modelType,
    max_abs_logit_diff: maxAbsDiff(logits, floats(golden.get("logits_per_image")!)),
    greedy_match: null,
    image_embeds_max_abs_diff: maxAbsDiff(image, floats(golden.get("image_embeds")!)),
    text_embeds_max_abs_diff: maxAbsDiff(text, floats(golden.get("text_embeds")!)),
  };
}

async function main(): Promise<void> {
  const runtime = new Runtime();
  let failed = false;
  for (const entry of (await readdir(FIXTURES, { withFileTypes: true })).filter((e) => e.isDirectory())) {
    const dir = join(FIXTURES, entry.name);
    const snapshot = await openHfSnapshot(dir);
    await snapshot.checkpoint.close();
    const line =
      snapshot.architecture.kind === "clip"
        ? await clipParity(dir, runtime)
        : await causalLmParity(dir, runtime);
    console.log(JSON.stringify(line));
    failed ||= !(Number(line.max_abs_logit_diff) <= 1e-4) || line.greedy_match === false;
  }
  await runtime.release();
  if (failed) process.exitCode = 1;
}

await main();
