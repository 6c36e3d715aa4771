// End-to-end check of the engine against PyTorch: a minimal Llama-style decoder written inline from engine
// ops (the real builder lives in trainer/models/) reproduces tools/reference's float64 loss and gradients.

import { existsSync } from "node:fs";
import { describe, expect, it } from "vitest";
import {
  add,
  compile,
  concat,
  expand,
  Graph,
  gather,
  gradients,
  int64s,
  less,
  maskedTokenCrossEntropy,
  matmul,
  mul,
  neg,
  ortTensor,
  Runtime,
  range,
  reciprocal,
  reduceMean,
  reshape,
  shape,
  sigmoid,
  slice,
  softmax,
  sqrt,
  type Tensor,
  transpose,
  unsqueeze,
  where,
} from "../../../trainer/engine/index";
import { readSafetensorsFile } from "../../../trainer/engine/safetensors";

const FIXTURES = "test/fixtures/tiny-llama";
const HIDDEN = 64;
const HEADS = 4;
const KV_HEADS = 2;
const HEAD_DIM = 16;
const LAYERS = 2;
const RMS_EPS = 1e-5;
const ROPE_THETA = 10000;

function maxRelativeError(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  let worst = 0;
  let scale = 0;
  for (let i = 0; i < expected.length; i++) {
    worst = Math.max(worst, Math.abs(actual[i]! - expected[i]!));
    scale = Math.max(scale, Math.abs(expected[i]!));
  }
  return worst / scale;
}

describe.skipIf(!existsSync(`${FIXTURES}/untied/golden.safetensors`))(
  "engine vs PyTorch float64 golden",
  () => {
    for (const variant of ["untied", "tied"] as const) {
      it(`${variant} tiny Llama: loss, d/d inputs_embeds and every weight gradient`, async () => {
        const weights = (await readSafetensorsFile(`${FIXTURES}/${variant}/model.safetensors`)).tensors;
        const golden = (await readSafetensorsFile(`${FIXTURES}/${variant}/golden.safetensors`)).tensors;
        const g = new Graph("decoder");
        const x = g.input("inputs_embeds", "float64", ["B", "T", HIDDEN]);
        const cos = g.input("cos", "float64", ["T", HEAD_DIM]);
        const sin = g.input("sin", "float64", ["T", HEAD_DIM]);
        const positions = g.input("target_positions", "int64", ["N"]);
        const targets = g.input("target_ids", "int64", ["N"]);
        const params = new Map<string, Tensor>();
        const weight = (name: string) => {
          if (!params.has(name)) params.set(name, g.input(name, "float64", weights.get(name)!.shape));
          return params.get(name)!;
        };
        const rmsNorm = (h: Tensor, w: Tensor) =>
          mul(mul(h, reciprocal(sqrt(add(reduceMean(mul(h, h), [-1]), RMS_EPS)))), w);
        const linear = (h: Tensor, w: Tensor) => matmul(h, transpose(w));
        const toHeads = (h: Tensor, n: number) => transpose(reshape(h, [0, 0, n, HEAD_DIM]), [0, 2, 1, 3]);
        const half = HEAD_DIM / 2;
        const rope = (h: Tensor) =>
          add(
            mul(h, cos),
            mul(concat([neg(slice(h, [half], [HEAD_DIM], [-1])), slice(h, [0], [half], [-1])], -1), sin),
          );
        const repeatKv = (t: Tensor) =>
          reshape(expand(unsqueeze(t, [2]), [1, 1, HEADS / KV_HEADS, 1, 1]), [0, HEADS, "T", HEAD_DIM]);
        const steps = range(int64s(g, [0]), gather(shape(x), int64s(g, [1]), 0), int64s(g, [1]));
        const future = less(unsqueeze(steps, [1]), unsqueeze(steps, [0]));
        const maskBias = where(future, g.constant("float64", [-1e300], []), 0);

        let h = x;
        for (let l = 0; l < LAYERS; l++) {
          const p = `model.layers.${l}.`;
          h = g.scope(`model/layers.${l}`, () => {
            const r = rmsNorm(h, weight(`${p}input_layernorm.weight`));
            const q = rope(toHeads(linear(r, weight(`${p}self_attn.q_proj.weight`)), HEADS));
            const k = repeatKv(rope(toHeads(linear(r, weight(`${p}self_attn.k_proj.weight`)), KV_HEADS)));
            const v = repeatKv(toHeads(linear(r, weight(`${p}self_attn.v_proj.weight`)), KV_HEADS));
            const scores = add(mul(matmul(q, transpose(k, [0, 1, 3, 2])), 1 / Math.sqrt(HEAD_DIM)), maskBias);
            const attended = reshape(transpose(matmul(softmax(scores, -1), v), [0, 2, 1, 3]), [0, 0, HIDDEN]);
            const a = add(h, linear(attended, weight(`${p}self_attn.o_proj.weight`)));
            const m = rmsNorm(a, weight(`${p}post_attention_layernorm.weight`));
            const gate = linear(m, weight(`${p}mlp.gate_proj.weight`));
            const up = linear(m, weight(`${p}mlp.up_proj.weight`));
            return add(a, linear(mul(mul(gate, sigmoid(gate)), up), weight(`${p}mlp.down_proj.weight`)));
          });
        }
        const final = rmsNorm(h, weight("model.norm.weight"));
        const lmHead = weight(variant === "tied" ? "model.embed_tokens.weight" : "lm_head.weight");
        const loss = maskedTokenCrossEntropy(final, positions, targets, lmHead);
        const names = [...params.keys()];
        gradients(g, loss, [x, ...names.map((n) => params.get(n)!)]);

        const embeds = golden.get("inputs_embeds")!;
        const t = embeds.shape[1]!;
        const cosData = new Float64Array(t * HEAD_DIM);
        const sinData = new Float64Array(t * HEAD_DIM);
        for (let step = 0; step < t; step++) {
          for (let j = 0; j < HEAD_DIM; j++) {
            const angle = step / ROPE_THETA ** ((2 * (j % half)) / HEAD_DIM);
            cosData[step * HEAD_DIM + j] = Math.cos(angle);
            sinData[step * HEAD_DIM + j] = Math.sin(angle);
          }
        }
        const asF64 = (name: string) => {
          const w = weights.get(name) ?? golden.get(name)!;
          return ortTensor("float64", Float64Array.from(w.data as Float32Array), w.shape);
        };
        const ids = (name: string) => {
          const v = golden.get(name)!;
          return ortTensor("int64", v.data as BigInt64Array, v.shape);
        };
        const out = await new Runtime({ graphOptimizationLevel: "basic" }).run(compile(g), {
          inputs_embeds: asF64("inputs_embeds"),
          cos: ortTensor("float64", cosData, [t, HEAD_DIM]),
          sin: ortTensor("float64", sinData, [t, HEAD_DIM]),
          target_positions: ids("target_positions"),
          target_ids: ids("target_ids"),
          ...Object.fromEntries(names.map((n) => [n, asF64(n)])),
        });

        const lossF64 = (golden.get("loss_f64")!.data as Float64Array)[0]!;
        expect(Math.abs((out.loss!.data as Float64Array)[0]! - lossF64)).toBeLessThan(1e-12);
        const gradEmbeds = out["grad/inputs_embeds"]!.data as Float64Array;
        expect(
          maxRelativeError(gradEmbeds, golden.get("grad.inputs_embeds_f64")!.data as Float64Array),
        ).toBeLessThan(1e-12);
        // Weight gradients are stored as float32 in the golden: float32 rounding is the tolerance.
        let checked = 0;
        for (const name of names) {
          const expected = golden.get(`grad.${name}`);
          if (!expected) continue;
          const error = maxRelativeError(
            out[`grad/${name}`]!.data as Float64Array,
            expected.data as Float32Array,
          );
          expect(error, name).toBeLessThan(1e-6);
          checked++;
        }
        expect(checked).toBe(names.length);
      });
    }
  },
);
