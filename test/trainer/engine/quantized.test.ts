// Block-wise quantization (trainer/engine/quantize.ts) and com.microsoft.MatMulNBits with its VJP.

import { mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  compile,
  Graph,
  gradients,
  type MatMulNBitsWeight,
  matmul,
  matmulNBits,
  mul,
  ortTensor,
  Runtime,
  reduceSum,
  transpose,
  UnsupportedGradientError,
} from "../../../trainer/engine/index";
import {
  type BlockQuantized,
  concatQuantized,
  dequantizeBlockwise,
  kBlocksOf,
  QuantizationError,
  quantizeBlockwise,
} from "../../../trainer/engine/quantize";
import { checkGradients, seededRandom, worstErrors } from "./gradcheck";

afterAll(() => console.log(JSON.stringify({ family: "quantized", worstErrors })));

function randomMatrix(n: number, k: number, seed: number, skew = 0): Float32Array {
  const r = seededRandom(seed);
  return Float32Array.from({ length: n * k }, () => (r() - 0.5 + skew) * 0.2);
}

const SCHEMES = [
  { bits: 8, symmetric: false },
  { bits: 8, symmetric: true },
  { bits: 4, symmetric: false },
  { bits: 4, symmetric: true },
] as const;

/** Initializers for a quantized weight in `g`. */
function bind(g: Graph, q: BlockQuantized, accuracyLevel = 0): MatMulNBitsWeight {
  const kBlocks = kBlocksOf(q.k, q.blockSize);
  return {
    data: g.initializer("w.q", "uint8", [q.n, kBlocks, (q.blockSize * q.bits) / 8], q.data),
    scales: g.initializer("w.scales", "float32", [q.n, kBlocks], q.scales),
    ...(q.zeroPoints
      ? { zeroPoints: g.initializer("w.zp", "uint8", [q.n, q.zeroPoints.length / q.n], q.zeroPoints) }
      : {}),
    bits: q.bits,
    blockSize: q.blockSize,
    n: q.n,
    k: q.k,
    accuracyLevel,
  };
}

describe("quantizeBlockwise / dequantizeBlockwise", () => {
  for (const { bits, symmetric } of SCHEMES) {
    it(`${bits} bits ${symmetric ? "symmetric" : "asymmetric"}: every value within half a step`, () => {
      const [n, k] = [7, 100]; // 100 = 3 blocks of 32 + 4, padded
      const w = randomMatrix(n, k, bits + (symmetric ? 1 : 0), symmetric ? 0 : 0.3);
      const q = quantizeBlockwise(w, n, k, { bits, blockSize: 32, symmetric });
      expect(q.data.length).toBe((n * 4 * 32 * bits) / 8);
      expect(q.zeroPoints === undefined).toBe(symmetric);
      const back = dequantizeBlockwise(q);
      let worstSteps = 0;
      for (let row = 0; row < n; row++) {
        for (let col = 0; col < k; col++) {
          const step = q.scales[row * 4 + Math.floor(col / 32)]!;
          worstSteps = Math.max(worstSteps, Math.abs(back[row * k + col]! - w[row * k + col]!) / step);
        }
      }
      // Round to nearest: half a step, plus float32 rounding of the scale and the product.
      expect(worstSteps).toBeLessThanOrEqual(0.5 + 1e-4);
    });
  }

  it("zeros, a constant block and exact grid values survive", () => {
    const w = new Float32Array(64);
    for (let i = 32; i < 64; i++) w[i] = 0.25;
    for (const { bits, symmetric } of SCHEMES) {
      const back = dequantizeBlockwise(quantizeBlockwise(w, 2, 32, { bits, blockSize: 32, symmetric }));
      for (let i = 0; i < 64; i++) expect(back[i]).toBeCloseTo(w[i]!, 6);
    }
  });

  it("rejects bad options and non-finite weights (typed)", () => {
    const w = new Float32Array(32);
    expect(() => quantizeBlockwise(w, 1, 32, { bits: 4, blockSize: 24, symmetric: true })).toThrow(
      QuantizationError,
    );
    w[3] = Number.NaN;
    expect(() => quantizeBlockwise(w, 1, 32, { bits: 8, blockSize: 32, symmetric: true })).toThrow(
      QuantizationError,
    );
  });

  it("concatQuantized stacks rows and scales each part", () => {
    const a = quantizeBlockwise(randomMatrix(3, 64, 1), 3, 64, { bits: 4, blockSize: 32, symmetric: false });
    const b = quantizeBlockwise(randomMatrix(2, 64, 2), 2, 64, { bits: 4, blockSize: 32, symmetric: false });
    const both = dequantizeBlockwise(concatQuantized([a, b], [0.5, 1]));
    const [da, db] = [dequantizeBlockwise(a), dequantizeBlockwise(b)];
    for (let i = 0; i < da.length; i++) expect(both[i]).toBeCloseTo(da[i]! * 0.5, 6);
    for (let i = 0; i < db.length; i++) expect(both[da.length + i]).toBeCloseTo(db[i]!, 6);
  });
});

describe("MatMulNBits", () => {
  const runtime = new Runtime({ intraOpNumThreads: 1 });
  const [m, n, k] = [6, 48, 96];
  const a = randomMatrix(m, k, 11).map((x) => x * 10);
  const w = randomMatrix(n, k, 12, 0.1);

  /** y = a @ W^T through MatMulNBits, and through a float32 MatMul on W and on dequant(W). */
  async function compare(bits: 4 | 8, symmetric: boolean, accuracyLevel: number) {
    const q = quantizeBlockwise(w, n, k, { bits, blockSize: 32, symmetric });
    const g = new Graph("matmul_nbits");
    const x = g.input("a", "float32", ["m", k]);
    g.output(matmulNBits(x, bind(g, q, accuracyLevel)), "y");
    g.output(matmul(x, transpose(g.initializer("w", "float32", [n, k], w), [1, 0])), "y_float");
    const wq = dequantizeBlockwise(q);
    g.output(matmul(x, transpose(g.initializer("w_dequant", "float32", [n, k], wq), [1, 0])), "y_dequant");
    const out = await runtime.run(compile(g), { a: ortTensor("float32", a, [m, k]) });
    const y = out.y!.data as Float32Array;
    const diff = (other: string) =>
      Math.max(...Array.from(y, (v, i) => Math.abs(v - (out[other]!.data as Float32Array)[i]!)));
    // |a . (w - wq)| <= sum |a| * half a step: the quantization error bound for each output.
    let bound = 0;
    for (let row = 0; row < m; row++) {
      for (let col = 0; col < n; col++) {
        let s = 0;
        for (let i = 0; i < k; i++) s += Math.abs(a[row * k + i]!) * 0.5 * q.scales[col * 3 + (i >> 5)]!;
        bound = Math.max(bound, s);
      }
    }
    return { vsFloat: diff("y_float"), vsDequant: diff("y_dequant"), bound };
  }

  for (const { bits, symmetric } of SCHEMES) {
    it(`${bits} bits ${symmetric ? "sym" : "asym"}: equals the dequantized MatMul, within the bound of float`, async () => {
      const r = await compare(bits, symmetric, 0);
      console.log(JSON.stringify({ test: "matmul_nbits", bits, symmetric, accuracy_level: 0, ...r }));
      expect(r.vsDequant).toBeLessThan(1e-4);
      expect(r.vsFloat).toBeLessThanOrEqual(r.bound);
    });
  }

  it("accuracy level 4 (int8 activations) stays within the bound plus the activation rounding", async () => {
    for (const bits of [4, 8] as const) {
      const r = await compare(bits, false, 4);
      console.log(JSON.stringify({ test: "matmul_nbits", bits, symmetric: false, accuracy_level: 4, ...r }));
      // Activations rounded to int8 per block add up to |w| * |a|max / 254 per term.
      expect(r.vsDequant).toBeLessThan(0.05);
      expect(r.vsFloat).toBeLessThanOrEqual(r.bound + 0.05);
    }
  });
});

describe("MatMulNBits VJP (float32, with respect to A)", () => {
  // K = 40 is not a whole number of 16-blocks: the padding must not leak into dA.
  const [n, k] = [5, 40];
  const w = randomMatrix(n, k, 21, 0.2).map((x) => x * 5);
  for (const { bits, symmetric } of SCHEMES) {
    it(`${bits} bits ${symmetric ? "sym" : "asym"} by central differences`, () => {
      const q = quantizeBlockwise(w, n, k, { bits, blockSize: 16, symmetric });
      return checkGradients(
        { a: { dtype: "float32", dims: [2, 3, k], declared: ["B", "T", k] } },
        ({ a }, g) => matmulNBits(a!, bind(g, q)),
        { label: `MatMulNBits ${bits} bits` },
      );
    });
  }

  it("the backward holds no float32 copy of the weight after onnxruntime's constant folding", async () => {
    const [bn, bk] = [256, 512];
    const q = quantizeBlockwise(randomMatrix(bn, bk, 5), bn, bk, {
      bits: 4,
      blockSize: 32,
      symmetric: false,
    });
    const g = new Graph("vjp_folding");
    const x = g.input("a", "float32", [3, bk]);
    const y = matmulNBits(x, bind(g, q));
    const loss = reduceSum(mul(y, y), undefined, { keepdims: false });
    gradients(g, loss, [x]);
    const dir = mkdtempSync(join(tmpdir(), "yo-nbits-"));
    try {
      const optimized = join(dir, "optimized.onnx");
      const probe = new Runtime({
        intraOpNumThreads: 1,
        sessionOptions: { optimizedModelFilePath: optimized },
      });
      const out = await probe.run(compile(g), {
        a: ortTensor("float32", randomMatrix(3, bk, 6), [3, bk]),
      });
      expect(out["grad/a"]!.dims).toEqual([3, bk]);
      await probe.release();
      const quantizedBytes = q.data.length + q.scales.byteLength + q.zeroPoints!.length;
      // A folded float32 weight would add bn * bk * 4 = 512 KiB; allow the graph itself some room.
      expect(statSync(optimized).size).toBeLessThan(quantizedBytes + 64 * 1024);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it("gradients with respect to the quantized weight's scales are refused with a typed error", () => {
    const q = quantizeBlockwise(w, n, k, { bits: 8, blockSize: 16, symmetric: true });
    const g = new Graph("no_weight_grad");
    const x = g.input("a", "float32", [2, k]);
    const scales = g.input("scales", "float32", [n, 3]);
    const weight = { ...bind(g, q), scales };
    const loss = reduceSum(matmulNBits(x, weight), undefined, { keepdims: false });
    expect(() => gradients(g, loss, [scales])).toThrow(UnsupportedGradientError);
  });
});
