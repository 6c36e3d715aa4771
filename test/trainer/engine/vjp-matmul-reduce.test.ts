import { afterAll, describe, it } from "vitest";
import {
  gemm,
  layerNormalization,
  logSoftmax,
  matmul,
  reduceMax,
  reduceMean,
  reduceSum,
  softmax,
} from "../../../trainer/engine/index";
import { checkGradients, worstErrors } from "./gradcheck";

const f64 = (dims: number[], range?: [number, number]) => ({ dtype: "float64" as const, dims, range });

afterAll(() => console.log(JSON.stringify({ family: "matmul-reduce", worstErrors })));

describe("MatMul VJP (float64)", () => {
  it("2-D", () => checkGradients({ a: f64([3, 4]), b: f64([4, 2]) }, ({ a, b }) => matmul(a!, b!)));
  it("batched with broadcast batch dims: [2,1,3,4] x [5,4,2]", () =>
    checkGradients({ a: f64([2, 1, 3, 4]), b: f64([5, 4, 2]) }, ({ a, b }) => matmul(a!, b!)));
  it("shared weight: [2,3,4] x [4,2]", () =>
    checkGradients({ a: f64([2, 3, 4]), b: f64([4, 2]) }, ({ a, b }) => matmul(a!, b!)));
  it("1-D left operand: [4] x [2,4,3]", () =>
    checkGradients({ a: f64([4]), b: f64([2, 4, 3]) }, ({ a, b }) => matmul(a!, b!)));
  it("1-D right operand: [2,3,4] x [4]", () =>
    checkGradients({ a: f64([2, 3, 4]), b: f64([4]) }, ({ a, b }) => matmul(a!, b!)));
  it("vector dot: [4] x [4]", () =>
    checkGradients({ a: f64([4]), b: f64([4]) }, ({ a, b }) => matmul(a!, b!)));
});

describe("Gemm VJP (float64)", () => {
  for (const transA of [false, true]) {
    for (const transB of [false, true]) {
      it(`transA=${transA} transB=${transB} with broadcast C, alpha and beta`, () =>
        checkGradients(
          { a: f64(transA ? [4, 3] : [3, 4]), b: f64(transB ? [2, 4] : [4, 2]), c: f64([2]) },
          ({ a, b, c }) => gemm(a!, b!, c!, { transA, transB, alpha: 0.7, beta: 1.3 }),
        ));
    }
  }
  it("without C", () =>
    checkGradients({ a: f64([3, 4]), b: f64([2, 4]) }, ({ a, b }) => gemm(a!, b!, null, { transB: true })));
});

describe("LayerNormalization VJP", () => {
  it("over the last axis with scale and bias", () =>
    checkGradients({ x: f64([2, 3, 5]), scale: f64([5]), bias: f64([5]) }, ({ x, scale, bias }) =>
      layerNormalization(x!, scale!, bias!),
    ));
  it("over the last two axes, no bias", () =>
    checkGradients({ x: f64([2, 3, 4]), scale: f64([3, 4]) }, ({ x, scale }) =>
      layerNormalization(x!, scale!, null, { axis: 1, epsilon: 1e-3 }),
    ));
  it("float32, reusing the node's Mean/InvStdDev outputs, tolerance 5e-3", () =>
    checkGradients(
      {
        x: { dtype: "float32", dims: [3, 6], range: [-2, 2] },
        scale: { dtype: "float32", dims: [6] },
        bias: { dtype: "float32", dims: [6] },
      },
      ({ x, scale, bias }) => layerNormalization(x!, scale!, bias!),
    ));
});

describe("reduction and softmax VJPs (float64)", () => {
  it("ReduceSum over axes 0 and 2, keepdims", () =>
    checkGradients({ x: f64([2, 3, 4]) }, ({ x }) => reduceSum(x!, [0, 2])));
  it("ReduceSum over the last axis, no keepdims", () =>
    checkGradients({ x: f64([2, 3, 4]) }, ({ x }) => reduceSum(x!, [-1], { keepdims: false })));
  it("ReduceSum over all axes", () =>
    checkGradients({ x: f64([2, 3]) }, ({ x }) => reduceSum(x!, undefined, { keepdims: false })));
  it("ReduceMean over axis 1, no keepdims", () =>
    checkGradients({ x: f64([2, 3, 4]) }, ({ x }) => reduceMean(x!, [1], { keepdims: false })));
  it("ReduceMean over all axes", () => checkGradients({ x: f64([3, 4]) }, ({ x }) => reduceMean(x!)));
  it("ReduceMax over axis 1 (distinct values)", () =>
    checkGradients({ x: f64([2, 5, 3]) }, ({ x }) => reduceMax(x!, [1], { keepdims: false })));
  it("Softmax over axis 1 of 3-D", () => checkGradients({ x: f64([2, 4, 3]) }, ({ x }) => softmax(x!, 1)));
  it("Softmax over the last axis", () =>
    checkGradients({ x: f64([3, 5], [-3, 3]) }, ({ x }) => softmax(x!, -1)));
  it("LogSoftmax over the last axis", () =>
    checkGradients({ x: f64([3, 5], [-3, 3]) }, ({ x }) => logSoftmax(x!, -1)));
  it("LogSoftmax over axis 0", () => checkGradients({ x: f64([4, 2]) }, ({ x }) => logSoftmax(x!, 0)));
});
