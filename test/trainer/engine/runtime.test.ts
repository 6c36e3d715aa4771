import * as ort from "onnxruntime-node";
import { describe, expect, it } from "vitest";
import {
  add,
  compile,
  describeGraph,
  type ExecutionProvider,
  Graph,
  mul,
  ortTensor,
  Runtime,
  sigmoid,
} from "../../../trainer/engine/index";

function scaleGraph(factor: number): Graph {
  const g = new Graph(`scale${factor}`);
  const x = g.input("x", "float32", ["N"]);
  g.output(mul(x, factor), "y");
  return g;
}

const feed = (values: number[]) => ({ x: ortTensor("float32", Float32Array.from(values), [values.length]) });

describe("runtime", () => {
  it("caches one session per graph hash", async () => {
    const runtime = new Runtime({
      intraOpNumThreads: 1,
      interOpNumThreads: 1,
      sessionOptions: { enableCpuMemArena: false, executionMode: "sequential" },
    });
    const model = compile(scaleGraph(2));
    expect(compile(scaleGraph(2)).hash).toBe(model.hash);
    expect(compile(scaleGraph(3)).hash).not.toBe(model.hash);
    expect(Array.from((await runtime.run(model, feed([1, 2]))).y!.data as Float32Array)).toEqual([2, 4]);
    expect(
      Array.from((await runtime.run(compile(scaleGraph(2)), feed([3]))).y!.data as Float32Array),
    ).toEqual([6]);
    expect(runtime.cachedSessionCount).toBe(1);
    await runtime.run(compile(scaleGraph(3)), feed([1]));
    expect(runtime.cachedSessionCount).toBe(2);
    await runtime.release();
    expect(runtime.cachedSessionCount).toBe(0);
  });

  it("specializes sessions per input shape signature when asked", async () => {
    const runtime = new Runtime({ specializeShapes: true });
    const model = compile(scaleGraph(2));
    await runtime.run(model, feed([1, 2]));
    await runtime.run(model, feed([5, 6]));
    expect(runtime.cachedSessionCount).toBe(1);
    const out = await runtime.run(model, feed([1, 2, 3]));
    expect(Array.from(out.y!.data as Float32Array)).toEqual([2, 4, 6]);
    expect(runtime.cachedSessionCount).toBe(2);
    await runtime.release();
  });

  it("fetches selected outputs, optionally into preallocated buffers", async () => {
    const g = new Graph("two");
    const x = g.input("x", "float32", [3]);
    g.output(mul(x, 2), "double");
    g.output(mul(x, 3), "triple");
    const runtime = new Runtime();
    const model = compile(g);
    expect(Object.keys(await runtime.run(model, feed([1, 2, 3]), ["triple"]))).toEqual(["triple"]);
    const buffer = new Float32Array(3);
    await runtime.run(model, feed([1, 2, 3]), { double: ortTensor("float32", buffer, [3]) });
    expect(Array.from(buffer)).toEqual([2, 4, 6]);
    await runtime.release();
  });

  it("feeds typed arrays without copying them", () => {
    const data = Float32Array.from([1, 2, 3]);
    expect(ortTensor("float32", data, [3]).data).toBe(data);
  });

  it("falls back to cpu with a message when a requested provider is missing or fails", async () => {
    const warnings: string[] = [];
    const available = ort.listSupportedBackends().map((b) => b.name);
    for (const requested of ["coreml", "cuda", "webgpu"] as ExecutionProvider[]) {
      const runtime = new Runtime({ executionProvider: requested, warn: (m) => warnings.push(m) });
      const out = await runtime.run(compile(scaleGraph(4)), feed([1]));
      expect(Array.from(out.y!.data as Float32Array)).toEqual([4]);
      if (runtime.executionProvider === "cpu") {
        expect(warnings.at(-1)).toMatch(new RegExp(`execution provider ${requested} .*using cpu`, "s"));
      }
      if (!available.includes(requested)) expect(runtime.executionProvider).toBe("cpu");
      await runtime.release();
    }
    expect(warnings.some((w) => w.includes("coreml is not available"))).toBe(true);
  });

  it("runs float64 x*sigmoid(x) at basic optimization", async () => {
    const g = new Graph("silu64");
    const x = g.input("x", "float64", [3]);
    g.output(add(mul(x, sigmoid(x)), 0), "y");
    const runtime = new Runtime({ graphOptimizationLevel: "basic" });
    const xs = Float64Array.from([-1, 0, 2]);
    const out = await runtime.run(compile(g), { x: ortTensor("float64", xs, [3]) });
    const y = out.y!.data as Float64Array;
    for (const [i, v] of xs.entries()) expect(y[i]).toBeCloseTo(v / (1 + Math.exp(-v)), 14);
    await runtime.release();
  });

  it("reports missing or mismatched feeds by name", async () => {
    const runtime = new Runtime();
    await expect(runtime.run(compile(scaleGraph(5)), {})).rejects.toThrow(/missing feeds: x/);
    const g = new Graph("pair");
    const a = g.input("a", "float32", ["B", 2]);
    const b = g.input("b", "float32", ["B", 2]);
    g.output(add(a, b), "sum");
    const model = compile(g);
    const f32 = (dims: number[]) => ortTensor("float32", new Float32Array(dims[0]! * dims[1]!), dims);
    await expect(runtime.run(model, { a: f32([1, 2]), b: f32([1, 3]) })).rejects.toThrow(
      /feed b: dim 1 is 3/,
    );
    await expect(runtime.run(model, { a: f32([1, 2]), b: f32([4, 2]) })).rejects.toThrow(
      /B = 4 here but 1 in a/,
    );
    await expect(
      runtime.run(model, { a: f32([1, 2]), b: ortTensor("float64", new Float64Array(2), [1, 2]) }),
    ).rejects.toThrow(/feed b: expected float32, got float64/);
    expect(Object.keys(await runtime.run(model, { a: f32([3, 2]), b: f32([3, 2]) }))).toEqual(["sum"]);
    await runtime.release();
  });

  it("dumps a graph with node names and types", () => {
    const g = new Graph("dump");
    const x = g.input("x", "float32", ["B", 4]);
    g.output(
      g.scope("model/layers.0/mlp", () => mul(x, 2)),
      "y",
    );
    const text = describeGraph(g);
    expect(text).toContain("input  x: float32[B,4]");
    expect(text).toContain(
      "/model/layers.0/mlp/Mul  Mul(x: float32[B,4], const_0: float32[]) -> float32[B,4]",
    );
    expect(text).toContain("output y: float32[B,4]");
  });
});
