import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import {
  ADAMW_DEFAULTS,
  AdamW,
  AdamWError,
  adamWStateFromJson,
  adamWStateToJson,
  clipGradNorm,
} from "../../../trainer/engine/adamw";

// Golden from tools/reference/make_adamw_golden.py: torch.optim.AdamW (foreach=False) on a fixed float32
// quadratic, ten steps per case. See that script for the problem definition.
interface GoldenStep {
  loss: number;
  grads: Record<string, number[]>;
  grad_norm?: number;
  clipped_grads?: Record<string, number[]>;
  params_after: Record<string, number[]>;
}
interface GoldenCase {
  name: string;
  lr: number;
  betas: [number, number];
  eps: number;
  weight_decay: number;
  clip: number | null;
  steps: GoldenStep[];
  final_state: { step: number; m: number[][]; v: number[][] };
}
interface Golden {
  param_order: string[];
  init: Record<string, number[]>;
  curvature: Record<string, number[]>;
  centre: Record<string, number[]>;
  cases: GoldenCase[];
}

const golden = JSON.parse(
  readFileSync(join(import.meta.dirname, "../../fixtures/adamw/golden.json"), "utf8"),
) as Golden;

// Replaying PyTorch's own gradients, every operation is rounded to float32 in PyTorch's order, so parameters
// agree to within a couple of float32 ulps: |ours - torch| <= REPLAY_ABS + REPLAY_REL * |torch|.
const REPLAY_ABS = 1e-7;
const REPLAY_REL = 1e-6;
// Closed loop (our own float32 quadratic gradients and loss sums): per-element rounding of the reductions
// differs from PyTorch's, so allow a little more.
const LOOP_ABS = 1e-6;
const LOOP_REL = 1e-5;

function expectClose(
  actual: ArrayLike<number>,
  expected: ArrayLike<number>,
  abs: number,
  rel: number,
  what: string,
) {
  expect(actual.length, what).toBe(expected.length);
  for (let i = 0; i < expected.length; i++) {
    const a = actual[i]!;
    const e = expected[i]!;
    const err = Math.abs(a - e);
    if (!(err <= abs + rel * Math.abs(e))) {
      throw new Error(`${what}[${i}]: got ${a}, PyTorch ${e}, error ${err} > ${abs} + ${rel} * |ref|`);
    }
  }
}

const initParams = () => golden.param_order.map((k) => Float32Array.from(golden.init[k]!));
const optimizerFor = (c: GoldenCase, params: Float32Array[]) =>
  new AdamW(params, { lr: c.lr, betas: c.betas, eps: c.eps, weightDecay: c.weight_decay });

/** The quadratic of make_adamw_golden.py, in float32: returns the loss and writes the gradients. */
function quadratic(params: Float32Array[], grads: Float32Array[]): number {
  const f = Math.fround;
  let loss = 0;
  golden.param_order.forEach((k, j) => {
    const a = golden.curvature[k]!;
    const c = golden.centre[k]!;
    const p = params[j]!;
    for (let i = 0; i < p.length; i++) {
      const d = f(p[i]! - c[i]!);
      grads[j]![i] = f(a[i]! * d);
      loss += f(f(f(0.5 * a[i]!) * d) * d);
    }
  });
  return f(loss);
}

describe("AdamW matches torch.optim.AdamW", () => {
  it("has PyTorch's defaults", () => {
    expect(ADAMW_DEFAULTS).toEqual({ lr: 1e-3, betas: [0.9, 0.999], eps: 1e-8, weightDecay: 1e-2 });
  });

  for (const c of golden.cases) {
    it(`${c.name}: ten steps on PyTorch's gradients give PyTorch's parameters and state`, () => {
      const params = initParams();
      const opt = optimizerFor(c, params);
      c.steps.forEach((s, t) => {
        const grads = golden.param_order.map((k) => Float32Array.from(s.grads[k]!));
        if (c.clip !== null) {
          const norm = clipGradNorm(grads, c.clip);
          expect(Math.abs(norm - s.grad_norm!)).toBeLessThanOrEqual(REPLAY_REL * s.grad_norm!);
          golden.param_order.forEach((k, j) => {
            expectClose(grads[j]!, s.clipped_grads![k]!, REPLAY_ABS, REPLAY_REL, `step ${t} clipped ${k}`);
          });
        }
        opt.step(grads);
        golden.param_order.forEach((k, j) => {
          expectClose(params[j]!, s.params_after[k]!, REPLAY_ABS, REPLAY_REL, `step ${t + 1} ${k}`);
        });
      });
      const state = opt.state();
      expect(state.step).toBe(c.final_state.step);
      for (const [j, m] of state.m.entries())
        expectClose(m, c.final_state.m[j]!, REPLAY_ABS, REPLAY_REL, `m[${j}]`);
      for (const [j, v] of state.v.entries())
        expectClose(v, c.final_state.v[j]!, REPLAY_ABS, REPLAY_REL, `v[${j}]`);
    });

    it(`${c.name}: ten steps on the quadratic give PyTorch's losses and parameters`, () => {
      const params = initParams();
      const grads = params.map((p) => new Float32Array(p.length));
      const opt = optimizerFor(c, params);
      const losses: number[] = [];
      for (let t = 0; t < c.steps.length; t++) {
        losses.push(quadratic(params, grads));
        if (c.clip !== null) clipGradNorm(grads, c.clip);
        opt.step(grads);
      }
      expectClose(
        losses,
        c.steps.map((s) => s.loss),
        LOOP_ABS,
        LOOP_REL,
        "losses",
      );
      expect(losses[losses.length - 1]!).toBeLessThan(losses[0]!);
      const last = c.steps[c.steps.length - 1]!;
      golden.param_order.forEach((k, j) => {
        expectClose(params[j]!, last.params_after[k]!, LOOP_ABS, LOOP_REL, `final ${k}`);
      });
    });
  }
});

describe("AdamW state", () => {
  const c = golden.cases[0]!;

  it("survives a JSON round trip and resumes exactly", () => {
    const straight = initParams();
    const optA = optimizerFor(c, straight);
    const resumed = initParams();
    const optB = optimizerFor(c, resumed);
    const gradsAt = (t: number) => golden.param_order.map((k) => Float32Array.from(c.steps[t]!.grads[k]!));
    for (let t = 0; t < 5; t++) {
      optA.step(gradsAt(t));
      optB.step(gradsAt(t));
    }
    const json = JSON.parse(JSON.stringify(adamWStateToJson(optB.state())));
    const paramsCopy = resumed.map((p) => p.slice());
    const optC = optimizerFor(c, paramsCopy);
    optC.loadState(adamWStateFromJson(json));
    expect(optC.steps).toBe(5);
    for (let t = 5; t < 10; t++) {
      optA.step(gradsAt(t));
      optC.step(gradsAt(t));
    }
    expect(paramsCopy.map((p) => Array.from(p))).toEqual(straight.map((p) => Array.from(p)));
  });

  it("state() is a copy", () => {
    const opt = optimizerFor(c, initParams());
    const s = opt.state();
    s.m[0]![0] = 123;
    expect(opt.state().m[0]![0]).toBe(0);
  });

  it("rejects mismatched gradients, state and options", () => {
    const opt = optimizerFor(c, initParams());
    expect(() => opt.step([new Float32Array(12)])).toThrow(AdamWError);
    expect(() => opt.step([new Float32Array(12), new Float32Array(4)])).toThrow(/gradient 1/);
    expect(() => opt.loadState({ step: 1, m: [new Float32Array(1)], v: [new Float32Array(1)] })).toThrow(
      AdamWError,
    );
    expect(() => new AdamW([], { lr: -1 })).toThrow(AdamWError);
    expect(() => new AdamW([], { betas: [0.9, 1] })).toThrow(AdamWError);
    expect(() => {
      opt.lr = Number.NaN;
    }).toThrow(AdamWError);
  });
});

describe("clipGradNorm", () => {
  it("leaves gradients under the limit untouched and returns the global norm", () => {
    const g = [Float32Array.from([3, 0]), Float32Array.from([4])];
    expect(clipGradNorm(g, 10)).toBe(5);
    expect(g.map((a) => Array.from(a))).toEqual([[3, 0], [4]]);
  });

  it("scales gradients over the limit to the limit", () => {
    const g = [Float32Array.from([3, 0]), Float32Array.from([4])];
    expect(clipGradNorm(g, 1)).toBe(5);
    const norm = Math.hypot(...g.flatMap((a) => Array.from(a)));
    expect(Math.abs(norm - 1)).toBeLessThan(1e-6);
    expect(g[0]![0]! / g[1]![0]!).toBeCloseTo(0.75, 6);
  });
});
