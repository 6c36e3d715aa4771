import { afterAll, describe, expect, it } from "vitest";
import {
  add,
  compile,
  concat,
  exp,
  expand,
  Graph,
  gather,
  gradients,
  int64s,
  less,
  matmul,
  mul,
  neg,
  ortTensor,
  Runtime,
  range,
  reciprocal,
  reduceMean,
  reduceSum,
  reshape,
  shape,
  sigmoid,
  slice,
  softmax,
  sqrt,
  type Tensor,
  transpose,
  typedArrayOf,
  unsqueeze,
  where,
} from "../../../trainer/engine/index";
import { checkGradients, type FeedSpec, seededRandom, worstErrors } from "./gradcheck";

afterAll(() => console.log(JSON.stringify({ family: "autodiff", worstErrors })));

const runtime = new Runtime({ graphOptimizationLevel: "basic" });

/** A causal-attention-like block: x is differentiated; w, the mask and the shapes are not. */
function attentionBlock(g: Graph, x: ReturnType<Graph["input"]>, w: ReturnType<Graph["input"]>) {
  const frozen = g.scope("frozen", () => matmul(w, w));
  const n = g.scope("mask", () => gather(shape(x), int64s(g, [0]), 0));
  const positions = g.scope("mask", () => range(int64s(g, [0]), n, int64s(g, [1])));
  const causal = g.scope("mask", () => less(unsqueeze(positions, [0]), unsqueeze(positions, [1])));
  g.scope("dead", () => exp(x));
  const y = g.scope("proj", () => matmul(x, frozen));
  const scores = matmul(y, transpose(y));
  const masked = where(causal, -1e9, scores);
  return softmax(masked, -1);
}

describe("autodiff", () => {
  it("differentiates only the active subgraph", () => {
    const g = new Graph();
    const x = g.input("x", "float64", [4, 3]);
    const w = g.input("w", "float64", [3, 3]);
    const probs = attentionBlock(g, x, w);
    const loss = reduceSum(mul(probs, probs), undefined, { keepdims: false });
    const forwardNodes = g.nodes.length;
    gradients(g, loss, [x]);
    const backward = g.nodes.slice(forwardNodes).map((n) => n.name);
    expect(backward.length).toBeGreaterThan(0);
    for (const name of backward) {
      expect(name, name).not.toMatch(/^\/grad\/(frozen|mask|dead)\//);
    }
    // Backward nodes exist for each active forward op.
    expect(backward.some((n) => n.startsWith("/grad/proj/MatMul/"))).toBe(true);
    expect(backward.some((n) => n.startsWith("/grad/Softmax/"))).toBe(true);
    expect(g.outputs.map((o) => o.name)).toEqual(["loss", "grad/x"]);
  });

  it("matches finite differences through masks, frozen weights and fan-out", () =>
    checkGradients(
      { x: { dtype: "float64", dims: [4, 3] }, w: { dtype: "float64", dims: [3, 3], wrt: false } },
      ({ x, w }, g) => attentionBlock(g, x!, w!),
    ));

  it("accumulates fan-out with one Sum and matches the closed form", async () => {
    const g = new Graph();
    const x = g.input("x", "float64", [5]);
    const loss = reduceSum(add(add(mul(x, x), exp(x)), x), undefined, { keepdims: false });
    gradients(g, loss, [x]);
    expect(g.nodes.some((n) => n.opType === "Sum" && n.name.startsWith("/grad/x/accumulate"))).toBe(true);
    const xs = Float64Array.from([-1, -0.5, 0, 0.5, 2]);
    const out = await runtime.run(compile(g), { x: ortTensor("float64", xs, [5]) });
    const grad = out["grad/x"]!.data as Float64Array;
    for (const [i, v] of xs.entries()) expect(grad[i]).toBeCloseTo(2 * v + Math.exp(v) + 1, 12);
  });

  it("gives zeros for a wrt tensor that does not reach the loss", async () => {
    const g = new Graph();
    const x = g.input("x", "float64", [2]);
    const unused = g.input("unused", "float64", [3]);
    gradients(g, reduceSum(mul(x, 3), undefined, { keepdims: false }), [x, unused]);
    const out = await runtime.run(compile(g), {
      x: ortTensor("float64", Float64Array.from([1, 2]), [2]),
      unused: ortTensor("float64", Float64Array.from([1, 2, 3]), [3]),
    });
    expect(Array.from(out["grad/x"]!.data as Float64Array)).toEqual([3, 3]);
    expect(Array.from(out["grad/unused"]!.data as Float64Array)).toEqual([0, 0, 0]);
  });

  it("keeps an existing loss output and other outputs", async () => {
    const g = new Graph();
    const x = g.input("x", "float64", [2]);
    const y = mul(x, x);
    g.output(y, "squares");
    const loss = reduceSum(y, undefined, { keepdims: false });
    g.output(loss, "loss");
    gradients(g, loss, [x]);
    expect(g.outputs.map((o) => o.name)).toEqual(["squares", "loss", "grad/x"]);
    const out = await runtime.run(compile(g), { x: ortTensor("float64", Float64Array.from([3, -1]), [2]) });
    expect(Array.from(out["grad/x"]!.data as Float64Array)).toEqual([6, -2]);
    expect(Array.from(out.squares!.data as Float64Array)).toEqual([9, 1]);
  });

  it("names the op when a node on the active path has no VJP rule", () => {
    const g = new Graph();
    const x = g.input("x", "float32", [2]);
    const [floored] = g.addNode("Floor", [x], [{ dtype: "float32", shape: [2] }]);
    expect(() => gradients(g, reduceSum(floored!), [x])).toThrow(/no VJP rule for Floor/);
  });

  it("works on symbolic shapes, one compiled model for several input shapes", async () => {
    const g = new Graph();
    const x = g.input("x", "float64", ["B", "T", 4]);
    const w = g.input("w", "float64", [4, 4]);
    const bias = g.input("bias", "float64", [4]);
    const rows = reshape(add(x, bias), [-1, 4]);
    const y = matmul(rows, w);
    gradients(g, reduceSum(mul(y, y), undefined, { keepdims: false }), [x, w, bias]);
    const model = compile(g);
    const random = seededRandom(3);
    const wData = Float64Array.from({ length: 16 }, random);
    const bData = Float64Array.from({ length: 4 }, random);
    for (const [b, t] of [
      [2, 3],
      [1, 5],
    ] as const) {
      const m = b * t;
      const xData = Float64Array.from({ length: m * 4 }, random);
      const out = await runtime.run(model, {
        x: ortTensor("float64", xData, [b, t, 4]),
        w: ortTensor("float64", wData, [4, 4]),
        bias: ortTensor("float64", bData, [4]),
      });
      // loss = sum(y^2), y = (x + bias) w: dy = 2y, dx = dy w^T, dw = (x + bias)^T dy, dbias = colsum(dx).
      const xb = Float64Array.from(xData, (v, i) => v + bData[i % 4]!);
      const yData = new Float64Array(m * 4);
      for (let r = 0; r < m; r++)
        for (let j = 0; j < 4; j++)
          for (let k = 0; k < 4; k++) yData[r * 4 + j]! += xb[r * 4 + k]! * wData[k * 4 + j]!;
      const dx = new Float64Array(m * 4);
      const dw = new Float64Array(16);
      for (let r = 0; r < m; r++)
        for (let j = 0; j < 4; j++)
          for (let k = 0; k < 4; k++) {
            dx[r * 4 + k]! += 2 * yData[r * 4 + j]! * wData[k * 4 + j]!;
            dw[k * 4 + j]! += xb[r * 4 + k]! * 2 * yData[r * 4 + j]!;
          }
      const gx = out["grad/x"]!;
      expect(gx.dims).toEqual([b, t, 4]);
      for (const [i, v] of (gx.data as Float64Array).entries()) expect(v).toBeCloseTo(dx[i]!, 10);
      for (const [i, v] of (out["grad/w"]!.data as Float64Array).entries()) expect(v).toBeCloseTo(dw[i]!, 10);
      (out["grad/bias"]!.data as Float64Array).forEach((v, k) => {
        let acc = 0;
        for (let r = 0; r < m; r++) acc += dx[r * 4 + k]!;
        expect(v).toBeCloseTo(acc, 10);
      });
    }
  });
});

describe("composite graphs", () => {
  it("survives ORT's transpose optimizer around the Slice VJP's Pad (float32, every level)", async () => {
    // ORT 1.30 mis-permutes a Pad that has an axes input when it pushes Transposes through it; the
    // engine emits full-rank pads. loss = sum(y^2) with y a slice of x, so d/dx = 2x inside the slice.
    const g = new Graph("transposedSlice");
    const x = g.input("x", "float32", [2, 3, 4]);
    const y = transpose(slice(transpose(x, [2, 0, 1]), [1], [3], [0]), [1, 2, 0]);
    gradients(g, reduceSum(mul(y, y)), [x]);
    const xs = Float32Array.from({ length: 24 }, (_, i) => i / 10);
    for (const level of ["basic", "all"] as const) {
      const rt = new Runtime({ graphOptimizationLevel: level });
      const grad = (await rt.run(compile(g), { x: ortTensor("float32", xs, [2, 3, 4]) }))["grad/x"]!.data;
      for (const [i, v] of xs.entries())
        expect(grad[i], `${level} ${i}`).toBeCloseTo(i % 4 >= 1 && i % 4 < 3 ? 2 * v : 0, 5);
      await rt.release();
    }
  });

  it("unit-step slices differentiate by zero padding, not scattering", () => {
    const g = new Graph();
    const x = g.input("x", "float32", ["B", "T", 8]);
    const halves = [slice(x, [0], [4], [-1]), slice(x, [4], [8], [-1])];
    gradients(g, reduceSum(mul(halves[0]!, halves[1]!)), [x]);
    expect(g.nodes.filter((n) => n.opType === "Pad")).toHaveLength(2);
    expect(g.nodes.some((n) => n.opType === "ScatterND")).toBe(false);
  });

  it("a decoder-style block (RMSNorm, RoPE, GQA causal attention, SiLU MLP) on symbolic B, T", () =>
    checkGradients(
      decoderBlockFeeds("float64"),
      (inputs, g) => decoderBlock(g, inputs),
      // eps 1e-5 balances truncation and rounding for this deeper graph (1e-6: ~1.5e-7, 1e-5: ~1.3e-8).
      { epsilon: 1e-5 },
    ));

  it("float32 gradients at every ORT optimization level match the float64 ones (fusions and layout rewrites included)", async () => {
    // Float64 graphs are mostly left alone by ORT's optimizers, so the float32 runs are what exercise them.
    const random = seededRandom(11);
    const specs = decoderBlockFeeds("float64");
    const values = Object.fromEntries(
      Object.entries(specs).map(([name, spec]) => [
        name,
        Array.from({ length: spec.dims.reduce((a, b) => a * b, 1) }, () => 2 * random() - 1),
      ]),
    );
    const run = async (dtype: "float32" | "float64", level: "basic" | "extended" | "all") => {
      const g = new Graph(`block_${dtype}`);
      const inputs: Record<string, Tensor> = {};
      for (const [name, spec] of Object.entries(decoderBlockFeeds(dtype))) {
        inputs[name] = g.input(name, dtype, spec.declared ?? spec.dims);
      }
      const y = decoderBlock(g, inputs);
      const wrt = Object.keys(specs).filter((name) => specs[name]!.wrt);
      gradients(
        g,
        reduceSum(mul(y, y), undefined, { keepdims: false }),
        wrt.map((name) => inputs[name]!),
      );
      const rt = new Runtime({ graphOptimizationLevel: level });
      const feeds = Object.fromEntries(
        Object.entries(specs).map(([name, spec]) => [
          name,
          ortTensor(dtype, typedArrayOf(dtype, values[name]!), spec.dims),
        ]),
      );
      const out = await rt.run(compile(g), feeds);
      await rt.release();
      return Object.fromEntries(
        ["loss", ...wrt.map((name) => `grad/${name}`)].map((name) => [
          name,
          Array.from(out[name]!.data as ArrayLike<number>),
        ]),
      );
    };
    const reference = await run("float64", "basic");
    for (const level of ["basic", "extended", "all"] as const) {
      const result = await run("float32", level);
      for (const [name, expected] of Object.entries(reference)) {
        const scale = Math.max(...expected.map(Math.abs));
        const worst = Math.max(...expected.map((v, i) => Math.abs(v - result[name]![i]!)));
        expect(worst / scale, `${level} ${name}`).toBeLessThan(1e-5);
      }
    }
  });
});

const D = 8;
const HEADS = 2;
const HEAD_DIM = 4;

function decoderBlockFeeds(dtype: "float32" | "float64"): Record<string, FeedSpec> {
  const spec = (dims: number[], wrt = true) => ({ dtype, dims, wrt });
  return {
    x: { ...spec([2, 3, D]), declared: ["B", "T", D] },
    cos: { ...spec([3, HEAD_DIM], false), declared: ["T", HEAD_DIM] },
    sin: { ...spec([3, HEAD_DIM], false), declared: ["T", HEAD_DIM] },
    norm: { ...spec([D]), range: [0.5, 1.5] },
    wq: spec([HEADS * HEAD_DIM, D]),
    wk: spec([HEAD_DIM, D]),
    wv: spec([HEAD_DIM, D]),
    wo: spec([D, HEADS * HEAD_DIM]),
    gate: spec([12, D]),
    up: spec([12, D]),
    down: spec([D, 12]),
  };
}

/** Written the way a model builder would, from engine ops only. */
function decoderBlock(g: Graph, inputs: Record<string, Tensor>): Tensor {
  const { x, cos, sin, norm, wq, wk, wv, wo, gate, up, down } = inputs;
  const rmsNorm = (h: Tensor) => mul(mul(h, reciprocal(sqrt(add(reduceMean(mul(h, h), [-1]), 1e-5)))), norm!);
  const linear = (h: Tensor, w: Tensor) => matmul(h, transpose(w));
  const toHeads = (h: Tensor, n: number) => transpose(reshape(h, [0, 0, n, HEAD_DIM]), [0, 2, 1, 3]);
  const rope = (h: Tensor) => {
    const rotated = concat(
      [neg(slice(h, [HEAD_DIM / 2], [HEAD_DIM], [-1])), slice(h, [0], [HEAD_DIM / 2], [-1])],
      -1,
    );
    return add(mul(h, cos!), mul(rotated, sin!));
  };
  const h = rmsNorm(x!);
  const q = rope(toHeads(linear(h, wq!), HEADS));
  const kvRepeat = (t: Tensor) =>
    reshape(expand(unsqueeze(t, [2]), [1, 1, HEADS, 1, 1]), [0, HEADS, "T", HEAD_DIM]);
  const k = kvRepeat(rope(toHeads(linear(h, wk!), 1)));
  const v = kvRepeat(toHeads(linear(h, wv!), 1));
  const positions = range(int64s(g, [0]), gather(shape(x!), int64s(g, [1]), 0), int64s(g, [1]));
  const future = less(unsqueeze(positions, [1]), unsqueeze(positions, [0]));
  const maskBias = where(future, g.constant(x!.dtype, [-1e9], []), 0);
  const scores = add(mul(matmul(q, transpose(k, [0, 1, 3, 2])), 1 / Math.sqrt(HEAD_DIM)), maskBias);
  const attended = reshape(transpose(matmul(softmax(scores, -1), v), [0, 2, 1, 3]), [0, 0, D]);
  const afterAttention = add(x!, linear(attended, wo!));
  const m = rmsNorm(afterAttention);
  const gated = linear(m, gate!);
  return add(afterAttention, linear(mul(mul(gated, sigmoid(gated)), linear(m, up!)), down!));
}
