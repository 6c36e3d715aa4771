// Reductions and normalizing activations (ReduceSum/Mean/Max, Softmax, LogSoftmax) with their VJPs,
// and sumToShape, which undoes broadcasting in every binary op's VJP.

import type { Shape, Tensor } from "../graph";
import { type Dim, normalizeAxis } from "../shape";
import { constantInts, int64s, only, scalar, type VjpRule } from "./common";
import { cast, div, equal, exp, mul, sub } from "./elementwise";
import { expandLike, size, squeeze, unsqueeze } from "./shape";

export interface ReduceOptions {
  keepdims?: boolean;
  name?: string;
}

function reduce(
  opType: string,
  x: Tensor,
  axes: readonly number[] | undefined,
  options: ReduceOptions,
): Tensor {
  const keepdims = options.keepdims ?? true;
  const norm = (axes ?? x.shape.map((_, i) => i)).map((a) => normalizeAxis(a, x.rank));
  const out: Dim[] = [];
  x.shape.forEach((d, i) => {
    if (!norm.includes(i)) out.push(d);
    else if (keepdims) out.push(1);
  });
  const inputs = axes === undefined ? [x] : [x, int64s(x.graph, norm)];
  return only(
    x.graph.addNode(
      opType,
      inputs,
      [{ dtype: x.dtype, shape: out }],
      { keepdims: { type: "int", value: keepdims ? 1 : 0 } },
      options,
    ),
  );
}

/** Reduce over `axes` (all axes when omitted); keepdims defaults to true as in ONNX. */
export function reduceSum(x: Tensor, axes?: readonly number[], options: ReduceOptions = {}): Tensor {
  return reduce("ReduceSum", x, axes, options);
}

export function reduceMean(x: Tensor, axes?: readonly number[], options: ReduceOptions = {}): Tensor {
  return reduce("ReduceMean", x, axes, options);
}

export function reduceMax(x: Tensor, axes?: readonly number[], options: ReduceOptions = {}): Tensor {
  return reduce("ReduceMax", x, axes, options);
}

/** Reduced axes of a reduce node and dy reshaped as if keepdims were set. */
function keptGrad(
  node: { inputs: (Tensor | null)[]; attrs: Record<string, { value: unknown }> },
  dy: Tensor,
) {
  const x = node.inputs[0]!;
  const axes = (constantInts(node.inputs[1]) ?? x.shape.map((_, i) => i)).map((a) =>
    normalizeAxis(a, x.rank),
  );
  const keepdims = Number(node.attrs.keepdims?.value ?? 1) === 1;
  return { x, axes, keepdims, dyKept: keepdims ? dy : unsqueeze(dy, axes) };
}

const reduceSumVjp: VjpRule = (node, [dy]) => {
  const { x, dyKept } = keptGrad(node, dy!);
  return [expandLike(dyKept, x), null];
};

const reduceMeanVjp: VjpRule = (node, [dy]) => {
  const { x, axes, dyKept } = keptGrad(node, dy!);
  const dims = axes.map((a) => x.shape[a]!);
  const g = x.graph;
  const count = dims.every((d) => typeof d === "number")
    ? scalar(
        g,
        x.dtype,
        (dims as number[]).reduce((a, b) => a * b, 1),
      )
    : div(cast(size(x), x.dtype), cast(size(node.outputs[0]!), x.dtype));
  return [expandLike(div(dyKept, count), x), null];
};

/** Ties share the gradient equally, like PyTorch's amax. */
const reduceMaxVjp: VjpRule = (node, [dy]) => {
  const { x, axes, keepdims, dyKept } = keptGrad(node, dy!);
  const y = node.outputs[0]!;
  const yKept = keepdims ? y : unsqueeze(y, axes);
  const mask = cast(equal(x, yKept), x.dtype);
  const count = reduceSum(mask, axes, { keepdims: true });
  return [mul(mask, div(dyKept, count)), null];
};

/** Index of the largest value along `axis` (int64, first one on ties); not differentiable. */
export function argMax(x: Tensor, axis = -1, options: ReduceOptions = {}): Tensor {
  const keepdims = options.keepdims ?? true;
  const ax = normalizeAxis(axis, x.rank);
  const out = x.shape.flatMap((d, i) => (i !== ax ? [d] : keepdims ? [1] : []));
  return only(
    x.graph.addNode(
      "ArgMax",
      [x],
      [{ dtype: "int64", shape: out }],
      { axis: { type: "int", value: ax }, keepdims: { type: "int", value: keepdims ? 1 : 0 } },
      options,
    ),
  );
}

export function softmax(x: Tensor, axis = -1, name?: string): Tensor {
  const ax = normalizeAxis(axis, x.rank);
  return only(
    x.graph.addNode(
      "Softmax",
      [x],
      [{ dtype: x.dtype, shape: x.shape }],
      { axis: { type: "int", value: ax } },
      { name },
    ),
  );
}

export function logSoftmax(x: Tensor, axis = -1, name?: string): Tensor {
  const ax = normalizeAxis(axis, x.rank);
  return only(
    x.graph.addNode(
      "LogSoftmax",
      [x],
      [{ dtype: x.dtype, shape: x.shape }],
      { axis: { type: "int", value: ax } },
      { name },
    ),
  );
}

/** dx = y * (dy - sum(dy * y)) */
const softmaxVjp: VjpRule = (node, [dy]) => {
  const y = node.outputs[0]!;
  const axis = Number(node.attrs.axis!.value);
  return [mul(y, sub(dy!, reduceSum(mul(dy!, y), [axis])))];
};

/** dx = dy - softmax(x) * sum(dy), with softmax(x) = exp(y) */
const logSoftmaxVjp: VjpRule = (node, [dy]) => {
  const y = node.outputs[0]!;
  const axis = Number(node.attrs.axis!.value);
  return [sub(dy!, mul(exp(y), reduceSum(dy!, [axis])))];
};

/**
 * Sums `grad` over the axes that broadcasting added or stretched, so it gets `target` shape:
 * leading extra axes are summed away, dims that were 1 are summed with keepdims.
 */
export function sumToShape(grad: Tensor, target: Shape): Tensor {
  const extra = grad.rank - target.length;
  if (extra < 0) throw new Error(`sumToShape: ${grad} has lower rank than [${target}]`);
  const axes: number[] = [];
  grad.shape.forEach((d, i) => {
    if (i < extra || (target[i - extra] === 1 && d !== 1)) axes.push(i);
  });
  if (axes.length === 0) return grad;
  let out = reduceSum(grad, axes, { keepdims: true });
  if (extra > 0)
    out = squeeze(
      out,
      Array.from({ length: extra }, (_, i) => i),
    );
  return out;
}

export const reduceVjps: Record<string, VjpRule> = {
  ReduceSum: reduceSumVjp,
  ReduceMean: reduceMeanVjp,
  ReduceMax: reduceMaxVjp,
  Softmax: softmaxVjp,
  LogSoftmax: logSoftmaxVjp,
};
