// Elementwise ops with numpy broadcasting (resolved statically) and their VJPs. Every binary VJP ends
// in sumToShape so gradients of broadcast operands get their own shape back.

import { type DType, isFloat, ONNX_DTYPE_CODE } from "../dtype";
import { attr, graphOf, type Tensor } from "../graph";
import { broadcastShapes } from "../shape";
import { coerce, type Operand, only, type VjpRule } from "./common";
import { sumToShape } from "./reduce";

function binary(opType: string, a: Operand, b: Operand, name?: string, outDtype?: DType): Tensor {
  const [ta, tb] = coerce(opType, a, b) as [Tensor, Tensor];
  const shape = broadcastShapes(ta.shape, tb.shape);
  return only(ta.graph.addNode(opType, [ta, tb], [{ dtype: outDtype ?? ta.dtype, shape }], {}, { name }));
}

function unary(opType: string, x: Tensor, name?: string): Tensor {
  return only(x.graph.addNode(opType, [x], [{ dtype: x.dtype, shape: x.shape }], {}, { name }));
}

export const add = (a: Operand, b: Operand, name?: string) => binary("Add", a, b, name);
export const sub = (a: Operand, b: Operand, name?: string) => binary("Sub", a, b, name);
export const mul = (a: Operand, b: Operand, name?: string) => binary("Mul", a, b, name);
export const div = (a: Operand, b: Operand, name?: string) => binary("Div", a, b, name);
export const pow = (a: Operand, b: Operand, name?: string) => binary("Pow", a, b, name);
export const max = (a: Operand, b: Operand, name?: string) => binary("Max", a, b, name);
export const min = (a: Operand, b: Operand, name?: string) => binary("Min", a, b, name);
export const equal = (a: Operand, b: Operand, name?: string) => binary("Equal", a, b, name, "bool");
export const less = (a: Operand, b: Operand, name?: string) => binary("Less", a, b, name, "bool");
export const lessOrEqual = (a: Operand, b: Operand, name?: string) =>
  binary("LessOrEqual", a, b, name, "bool");
export const greater = (a: Operand, b: Operand, name?: string) => binary("Greater", a, b, name, "bool");
export const greaterOrEqual = (a: Operand, b: Operand, name?: string) =>
  binary("GreaterOrEqual", a, b, name, "bool");
export const and = (a: Tensor, b: Tensor, name?: string) => binary("And", a, b, name, "bool");
export const or = (a: Tensor, b: Tensor, name?: string) => binary("Or", a, b, name, "bool");
export const not = (x: Tensor, name?: string) => unary("Not", x, name);

export const neg = (x: Tensor, name?: string) => unary("Neg", x, name);
export const sqrt = (x: Tensor, name?: string) => unary("Sqrt", x, name);
export const reciprocal = (x: Tensor, name?: string) => unary("Reciprocal", x, name);
export const exp = (x: Tensor, name?: string) => unary("Exp", x, name);
export const log = (x: Tensor, name?: string) => unary("Log", x, name);
export const tanh = (x: Tensor, name?: string) => unary("Tanh", x, name);
export const erf = (x: Tensor, name?: string) => unary("Erf", x, name);
export const sigmoid = (x: Tensor, name?: string) => unary("Sigmoid", x, name);
export const relu = (x: Tensor, name?: string) => unary("Relu", x, name);

/** Gelu (opset 20): exact (erf) or the tanh approximation HF calls gelu_pytorch_tanh. */
export function gelu(x: Tensor, approximate: "none" | "tanh" = "none", name?: string): Tensor {
  return only(
    x.graph.addNode(
      "Gelu",
      [x],
      [{ dtype: x.dtype, shape: x.shape }],
      { approximate: attr.string(approximate) },
      { name },
    ),
  );
}
export const abs = (x: Tensor, name?: string) => unary("Abs", x, name);
export const sin = (x: Tensor, name?: string) => unary("Sin", x, name);
export const cos = (x: Tensor, name?: string) => unary("Cos", x, name);

/** Sum of any number of same-dtype tensors (broadcasting); autodiff uses it to accumulate fan-out. */
export function sum(xs: readonly Tensor[], name?: string): Tensor {
  const first = xs[0]!;
  if (xs.length === 1) return first;
  for (const x of xs) if (x.dtype !== first.dtype) throw new Error(`Sum: dtype mismatch ${x} vs ${first}`);
  const shape = broadcastShapes(...xs.map((x) => x.shape));
  return only(first.graph.addNode("Sum", [...xs], [{ dtype: first.dtype, shape }], {}, { name }));
}

/** Where(condition, a, b); number branches become scalars of the tensor branch's dtype. */
export function where(condition: Tensor, a: Operand, b: Operand, name?: string): Tensor {
  const [ta, tb] = coerce("Where", a, b) as [Tensor, Tensor];
  const shape = broadcastShapes(condition.shape, ta.shape, tb.shape);
  return only(
    graphOf(condition).addNode("Where", [condition, ta, tb], [{ dtype: ta.dtype, shape }], {}, { name }),
  );
}

export function cast(x: Tensor, to: DType, name?: string): Tensor {
  return only(
    x.graph.addNode(
      "Cast",
      [x],
      [{ dtype: to, shape: x.shape }],
      { to: attr.int(ONNX_DTYPE_CODE[to]) },
      { name },
    ),
  );
}

type Grads = (Tensor | null)[];
const ins = (node: { inputs: (Tensor | null)[] }) => node.inputs as Tensor[];

const addVjp: VjpRule = (node, [dy], needs): Grads => {
  const [a, b] = ins(node);
  return [needs[0] ? sumToShape(dy!, a!.shape) : null, needs[1] ? sumToShape(dy!, b!.shape) : null];
};

const subVjp: VjpRule = (node, [dy], needs): Grads => {
  const [a, b] = ins(node);
  return [needs[0] ? sumToShape(dy!, a!.shape) : null, needs[1] ? neg(sumToShape(dy!, b!.shape)) : null];
};

const mulVjp: VjpRule = (node, [dy], needs): Grads => {
  const [a, b] = ins(node);
  return [
    needs[0] ? sumToShape(mul(dy!, b!), a!.shape) : null,
    needs[1] ? sumToShape(mul(dy!, a!), b!.shape) : null,
  ];
};

/** d(a/b)/db = -a/b^2 = -y/b */
const divVjp: VjpRule = (node, [dy], needs): Grads => {
  const [a, b] = ins(node);
  const y = node.outputs[0]!;
  return [
    needs[0] ? sumToShape(div(dy!, b!), a!.shape) : null,
    needs[1] ? sumToShape(neg(div(mul(dy!, y), b!)), b!.shape) : null,
  ];
};

/** d(a^b)/da = b a^(b-1); d(a^b)/db = a^b log(a) (defined for a > 0). */
const powVjp: VjpRule = (node, [dy], needs): Grads => {
  const [a, b] = ins(node);
  const y = node.outputs[0]!;
  return [
    needs[0] ? sumToShape(mul(dy!, mul(b!, pow(a!, sub(b!, 1)))), a!.shape) : null,
    needs[1] ? sumToShape(mul(dy!, mul(y, log(a!))), b!.shape) : null,
  ];
};

/** The larger (or smaller) operand takes the gradient; ties go to the first operand. */
function selectVjp(firstWins: (a: Tensor, b: Tensor) => Tensor): VjpRule {
  return (node, [dy], needs): Grads => {
    const [a, b] = ins(node);
    const aWins = firstWins(a!, b!);
    return [
      needs[0] ? sumToShape(where(aWins, dy!, 0), a!.shape) : null,
      needs[1] ? sumToShape(where(aWins, 0, dy!), b!.shape) : null,
    ];
  };
}

const whereVjp: VjpRule = (node, [dy], needs): Grads => {
  const [c, a, b] = ins(node);
  return [
    null,
    needs[1] ? sumToShape(where(c!, dy!, 0), a!.shape) : null,
    needs[2] ? sumToShape(where(c!, 0, dy!), b!.shape) : null,
  ];
};

const sumVjp: VjpRule = (node, [dy], needs): Grads =>
  ins(node).map((x, i) => (needs[i] ? sumToShape(dy!, x.shape) : null));

const negVjp: VjpRule = (_node, [dy]) => [neg(dy!)];
/** d sqrt(x) = 1 / (2 sqrt(x)) */
const sqrtVjp: VjpRule = (node, [dy]) => [div(mul(dy!, 0.5), node.outputs[0]!)];
/** d (1/x) = -1/x^2 = -y^2 */
const reciprocalVjp: VjpRule = (node, [dy]) => {
  const y = node.outputs[0]!;
  return [neg(mul(dy!, mul(y, y)))];
};
const expVjp: VjpRule = (node, [dy]) => [mul(dy!, node.outputs[0]!)];
const logVjp: VjpRule = (node, [dy]) => [div(dy!, node.inputs[0]!)];
const tanhVjp: VjpRule = (node, [dy]) => {
  const y = node.outputs[0]!;
  return [mul(dy!, sub(1, mul(y, y)))];
};
/** d erf(x) = 2/sqrt(pi) exp(-x^2) */
const erfVjp: VjpRule = (node, [dy]) => {
  const x = node.inputs[0]!;
  return [mul(dy!, mul(exp(neg(mul(x, x))), 2 / Math.sqrt(Math.PI)))];
};
const sigmoidVjp: VjpRule = (node, [dy]) => {
  const y = node.outputs[0]!;
  return [mul(dy!, mul(y, sub(1, y)))];
};
const sinVjp: VjpRule = (node, [dy]) => [mul(dy!, cos(node.inputs[0]!))];
const cosVjp: VjpRule = (node, [dy]) => [neg(mul(dy!, sin(node.inputs[0]!)))];

const GELU_TANH_SCALE = Math.sqrt(2 / Math.PI);
const GELU_TANH_CUBIC = 0.044715;

/**
 * exact: d/dx x*Phi(x) = Phi(x) + x*phi(x).
 * tanh: with t = tanh(c (x + k x^3)), d/dx 0.5 x (1 + t) = 0.5 (1 + t) + 0.5 x (1 - t^2) c (1 + 3 k x^2).
 */
const geluVjp: VjpRule = (node, [dy]) => {
  const x = node.inputs[0]!;
  if (String(node.attrs.approximate?.value ?? "none") === "tanh") {
    const x2 = mul(x, x);
    const t = tanh(mul(add(x, mul(mul(x2, x), GELU_TANH_CUBIC)), GELU_TANH_SCALE));
    const inner = mul(add(mul(x2, 3 * GELU_TANH_CUBIC), 1), GELU_TANH_SCALE);
    const slope = add(mul(add(t, 1), 0.5), mul(mul(mul(x, 0.5), sub(1, mul(t, t))), inner));
    return [mul(dy!, slope)];
  }
  const cdf = mul(add(erf(mul(x, Math.SQRT1_2)), 1), 0.5);
  const pdf = mul(exp(mul(mul(x, x), -0.5)), 1 / Math.sqrt(2 * Math.PI));
  return [mul(dy!, add(cdf, mul(x, pdf)))];
};
const reluVjp: VjpRule = (node, [dy]) => [where(greater(node.inputs[0]!, 0), dy!, 0)];
const absVjp: VjpRule = (node, [dy]) => {
  const x = node.inputs[0]!;
  return [where(less(x, 0), neg(dy!), dy!)];
};
/** Casting between float types passes the gradient back in the input's dtype. */
const castVjp: VjpRule = (node, [dy]) => {
  const x = node.inputs[0]!;
  return [isFloat(x.dtype) ? cast(dy!, x.dtype) : null];
};

export const elementwiseVjps: Record<string, VjpRule> = {
  Add: addVjp,
  Sub: subVjp,
  Mul: mulVjp,
  Div: divVjp,
  Pow: powVjp,
  Max: selectVjp((a, b) => greaterOrEqual(a, b)),
  Min: selectVjp((a, b) => lessOrEqual(a, b)),
  Sum: sumVjp,
  Where: whereVjp,
  Neg: negVjp,
  Sqrt: sqrtVjp,
  Reciprocal: reciprocalVjp,
  Exp: expVjp,
  Log: logVjp,
  Tanh: tanhVjp,
  Erf: erfVjp,
  Sigmoid: sigmoidVjp,
  Relu: reluVjp,
  Gelu: geluVjp,
  Sin: sinVjp,
  Cos: cosVjp,
  Abs: absVjp,
  Cast: castVjp,
};
