// Central finite-difference checks of engine gradients, run through onnxruntime.

import { expect } from "vitest";
import {
  add,
  compile,
  type DType,
  Graph,
  gradients,
  mul,
  ortTensor,
  Runtime,
  reduceSum,
  type Tensor,
  typedArrayOf,
} from "../../../trainer/engine/index";

export interface FeedSpec {
  dtype: DType;
  dims: number[];
  /** Shape declared in the graph when it should be symbolic (e.g. ["B", "T", 4]); defaults to dims. */
  declared?: (number | string)[];
  /** Values; random uniform in `range` when omitted. */
  values?: number[];
  range?: [number, number];
  /** Differentiate with respect to this input (default: float inputs). */
  wrt?: boolean;
}

export interface GradCheckOptions {
  /** Relative-to-scale tolerance on |analytic - numeric| / max(1, |numeric|). */
  tolerance?: number;
  epsilon?: number;
  label?: string;
  /** Key under which the worst error is recorded (default: the input dtype). */
  recordAs?: string;
  /**
   * For float64 checks, also run the same graph in float32 at ORT level "all" and compare its gradients
   * with the float64 ones (relative to the largest): ORT's optimizers mostly skip float64 graphs, so this
   * is what exercises their rewrites of the backward. Default true; tolerance 1e-4.
   */
  float32AtLevelAll?: boolean;
}

/** Worst error seen per dtype, printed by the test files for the record. */
export const worstErrors: Record<string, { error: number; label: string }> = {};

export function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32;
  };
}

const runtime = new Runtime({ graphOptimizationLevel: "basic", intraOpNumThreads: 1 });
const optimizingRuntime = new Runtime({ graphOptimizationLevel: "all", intraOpNumThreads: 1 });
const FLOAT32_VS_FLOAT64_TOLERANCE = 1e-4;

/**
 * Builds `forward` on the inputs, reduces its output y to loss = sum(y * r) with a fixed random r (so every
 * output element's cotangent differs), and compares d(loss)/d(input) from the joint graph against central
 * differences of the forward loss.
 */
export async function checkGradients(
  feeds: Record<string, FeedSpec>,
  forward: (inputs: Record<string, Tensor>, g: Graph) => Tensor,
  options: GradCheckOptions = {},
): Promise<number> {
  const random = seededRandom(42);
  const values: Record<string, number[]> = {};
  for (const [name, spec] of Object.entries(feeds)) {
    const n = spec.dims.reduce((a, b) => a * b, 1);
    const [lo, hi] = spec.range ?? [-1, 1];
    values[name] = spec.values ?? Array.from({ length: n }, () => lo + (hi - lo) * random());
  }
  const build = (withGradients: boolean, specs: Record<string, FeedSpec> = feeds) => {
    const g = new Graph("gradcheck");
    const inputs: Record<string, Tensor> = {};
    for (const [name, spec] of Object.entries(specs)) {
      inputs[name] = g.input(name, spec.dtype, spec.declared ?? spec.dims);
    }
    const y = forward(inputs, g);
    let weighted: Tensor;
    if (y.shape.every((d) => typeof d === "number")) {
      const dims = y.shape as number[];
      const n = dims.reduce((a, b) => a * b, 1);
      const cotangent = g.constant(
        y.dtype,
        Array.from({ length: n }, (_, i) => 0.5 + ((i * 7919) % 13) / 13),
        dims,
      );
      weighted = mul(y, cotangent);
    } else {
      // Symbolic output shape: loss = sum(y^2 / 2 + y) still gives each element its own cotangent y + 1.
      weighted = add(mul(mul(y, y), 0.5), y);
    }
    const loss = reduceSum(weighted, undefined, { keepdims: false });
    const wrtNames = Object.entries(specs)
      .filter(([, spec]) => spec.wrt ?? (spec.dtype === "float32" || spec.dtype === "float64"))
      .map(([name]) => name);
    if (withGradients)
      gradients(
        g,
        loss,
        wrtNames.map((name) => inputs[name]!),
      );
    else g.output(loss, "loss");
    return { model: compile(g), wrtNames };
  };
  const joint = build(true);
  const forwardOnly = build(false);

  const feedsFor = (override?: { name: string; index: number; delta: number }, specs = feeds) => {
    const out: Record<string, ReturnType<typeof ortTensor>> = {};
    for (const [name, spec] of Object.entries(specs)) {
      const v = [...values[name]!];
      if (override && override.name === name) v[override.index]! += override.delta;
      out[name] = ortTensor(spec.dtype, typedArrayOf(spec.dtype, v), spec.dims);
    }
    return out;
  };
  const lossAt = async (override?: { name: string; index: number; delta: number }) => {
    const result = await runtime.run(forwardOnly.model, feedsFor(override));
    return Number((result.loss!.data as ArrayLike<number>)[0]);
  };

  const analytic = await runtime.run(joint.model, feedsFor());
  const jointLoss = Number((analytic.loss!.data as ArrayLike<number>)[0]);
  expect(jointLoss).toBeCloseTo(await lossAt(), 4);

  let worst = 0;
  for (const name of joint.wrtNames) {
    const spec = feeds[name]!;
    const eps = options.epsilon ?? (spec.dtype === "float64" ? 1e-6 : 1e-2);
    const grad = analytic[`grad/${name}`]!.data as ArrayLike<number>;
    expect(grad.length).toBe(values[name]!.length);
    for (let i = 0; i < values[name]!.length; i++) {
      const plus = await lossAt({ name, index: i, delta: eps });
      const minus = await lossAt({ name, index: i, delta: -eps });
      const numeric = (plus - minus) / (2 * eps);
      const error = Math.abs(Number(grad[i]) - numeric) / Math.max(1, Math.abs(numeric));
      worst = Math.max(worst, error);
    }
    const key = options.recordAs ?? spec.dtype;
    const label = `${options.label ?? expect.getState().currentTestName ?? ""} d/d${name}`;
    if (!worstErrors[key] || worstErrors[key].error < worst) worstErrors[key] = { error: worst, label };
  }
  const dtype = feeds[joint.wrtNames[0]!]!.dtype;
  const tolerance = options.tolerance ?? (dtype === "float64" ? 1e-6 : 5e-3);
  expect(worst, `${options.label ?? ""} worst error ${worst}`).toBeLessThan(tolerance);

  const floatSpecs = Object.values(feeds).filter((s) => s.dtype === "float32" || s.dtype === "float64");
  if ((options.float32AtLevelAll ?? true) && floatSpecs.every((s) => s.dtype === "float64")) {
    const specs32 = Object.fromEntries(
      Object.entries(feeds).map(([name, s]) => [
        name,
        s.dtype === "float64" ? { ...s, dtype: "float32" as const } : s,
      ]),
    );
    const joint32 = build(true, specs32);
    const out32 = await optimizingRuntime.run(joint32.model, feedsFor(undefined, specs32));
    let worst32 = 0;
    for (const name of joint.wrtNames) {
      const expected = analytic[`grad/${name}`]!.data as ArrayLike<number>;
      const actual = out32[`grad/${name}`]!.data as ArrayLike<number>;
      const scale = Math.max(1e-6, ...Array.from(expected, (v) => Math.abs(Number(v))));
      for (let i = 0; i < expected.length; i++) {
        worst32 = Math.max(worst32, Math.abs(Number(actual[i]) - Number(expected[i])) / scale);
      }
    }
    const key = "float32 at ORT level all vs float64";
    const label = options.label ?? expect.getState().currentTestName ?? "";
    if (!worstErrors[key] || worstErrors[key].error < worst32) worstErrors[key] = { error: worst32, label };
    expect(worst32, `float32 at level all vs float64: ${worst32}`).toBeLessThan(FLOAT32_VS_FLOAT64_TOLERANCE);
  }
  return worst;
}
