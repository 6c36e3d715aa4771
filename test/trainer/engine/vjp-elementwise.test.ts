import { afterAll, describe, it } from "vitest";
import {
  abs,
  add,
  cast,
  cos,
  div,
  erf,
  exp,
  gelu,
  greater,
  log,
  max,
  min,
  mul,
  neg,
  pow,
  reciprocal,
  relu,
  sigmoid,
  sin,
  sqrt,
  sub,
  sum,
  tanh,
  where,
} from "../../../trainer/engine/index";
import { checkGradients, worstErrors } from "./gradcheck";

const f64 = (dims: number[], range?: [number, number]) => ({ dtype: "float64" as const, dims, range });
const f32 = (dims: number[], range?: [number, number]) => ({ dtype: "float32" as const, dims, range });

afterAll(() => console.log(JSON.stringify({ family: "elementwise", worstErrors })));

describe("binary VJPs with broadcasting (float64)", () => {
  it("Add: [2,1,3] + [4,3]", () =>
    checkGradients({ a: f64([2, 1, 3]), b: f64([4, 3]) }, ({ a, b }) => add(a!, b!)));
  it("Sub: [2,3] - [1] and scalar", () =>
    checkGradients({ a: f64([2, 3]), b: f64([1]) }, ({ a, b }) => sub(sub(a!, b!), 0.5)));
  it("Mul: [3,1] * [1,4]", () =>
    checkGradients({ a: f64([3, 1]), b: f64([1, 4]) }, ({ a, b }) => mul(a!, b!)));
  it("Div: [2,3] / [3]", () =>
    checkGradients({ a: f64([2, 3]), b: f64([3], [0.5, 2]) }, ({ a, b }) => div(a!, b!)));
  it("Pow: positive base, tensor exponent [2,3] ^ [1,3]", () =>
    checkGradients({ a: f64([2, 3], [0.5, 2]), b: f64([1, 3], [-1.5, 2.5]) }, ({ a, b }) => pow(a!, b!)));
  it("Pow: constant exponent", () => checkGradients({ a: f64([5], [0.5, 2]) }, ({ a }) => pow(a!, 3)));
  it("Max and Min: [2,3] vs [3]", () =>
    checkGradients({ a: f64([2, 3]), b: f64([3]) }, ({ a, b }) => add(max(a!, b!), mul(min(a!, b!), 2))));
  it("Where: condition [2,1], branches [2,3] and [3]", () =>
    checkGradients(
      { a: f64([2, 3]), b: f64([3]), c: f64([2, 1]) },
      ({ a, b, c }) => where(greater(c!, 0), a!, b!),
      {
        label: "Where",
      },
    ));
  it("Sum: fan-in of three broadcast operands", () =>
    checkGradients({ a: f64([2, 3]), b: f64([3]), c: f64([2, 1]) }, ({ a, b, c }) => sum([a!, b!, c!])));
});

describe("unary VJPs (float64)", () => {
  const unary = [
    ["Neg", neg, [-1, 1]],
    ["Sqrt", sqrt, [0.2, 2]],
    ["Reciprocal", reciprocal, [0.5, 2]],
    ["Exp", exp, [-1, 1]],
    ["Log", log, [0.2, 2]],
    ["Tanh", tanh, [-2, 2]],
    ["Sigmoid", sigmoid, [-3, 3]],
    ["Relu", relu, [-1, 1]],
    ["Abs", abs, [-1, 1]],
    ["Sin", sin, [-3, 3]],
    ["Cos", cos, [-3, 3]],
  ] as const;
  for (const [name, op, range] of unary) {
    it(name, () =>
      checkGradients({ x: f64([2, 5], [range[0], range[1]]) }, ({ x }) => op(x!), { label: name }),
    );
  }
  it("x * sigmoid(x) at basic optimization (no float32-only fusion)", () =>
    checkGradients({ x: f64([6], [-3, 3]) }, ({ x }) => mul(x!, sigmoid(x!))));
});

describe("float32-only kernels", () => {
  it("Erf (ORT has no float64 Erf), tolerance 5e-3", () =>
    checkGradients({ x: f32([2, 4], [-2, 2]) }, ({ x }) => erf(x!), { label: "Erf" }));
  it("Gelu exact and tanh approximation, tolerance 5e-3", () =>
    checkGradients({ x: f32([2, 5], [-3, 3]) }, ({ x }) => add(gelu(x!), mul(gelu(x!, "tanh"), 2)), {
      label: "Gelu",
    }));
  it("Cast float64 -> float32 -> float64, tolerance 5e-3", () =>
    checkGradients({ x: f64([5]) }, ({ x }) => cast(mul(cast(x!, "float32"), 3), "float64"), {
      tolerance: 5e-3,
      epsilon: 1e-3,
      label: "Cast",
      recordAs: "float64 through a float32 cast",
    }));
});
