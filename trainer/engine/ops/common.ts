// Shared pieces of the op library: operand coercion, int64 constants, and the VJP rule type.

import type { DType } from "../dtype";
import { type Graph, graphOf, type Node, Tensor } from "../graph";

/** A tensor operand, or a plain number that becomes a scalar of the other operand's dtype. */
export type Operand = Tensor | number;

export function scalar(g: Graph, dtype: DType, value: number): Tensor {
  return g.constant(dtype, [value], []);
}

/** Turns number operands into scalars of the tensor operand's dtype; checks dtypes agree. */
export function coerce(opType: string, ...xs: Operand[]): Tensor[] {
  const g = graphOf(...xs);
  const dtype = xs.find((x): x is Tensor => x instanceof Tensor)!.dtype;
  return xs.map((x) => {
    if (!(x instanceof Tensor)) return scalar(g, dtype, x);
    if (x.dtype !== dtype) throw new Error(`${opType}: dtype mismatch ${x} vs ${dtype}`);
    return x;
  });
}

export function int64s(g: Graph, values: readonly number[]): Tensor {
  return g.constant("int64", values);
}

/** Build-time integer values of a tensor argument (axes, shapes), if it is a constant. */
export function constantInts(t: Tensor | null | undefined): number[] | undefined {
  if (!t) return undefined;
  const c = t.graph.constantValue(t);
  return c ? Array.from(c.data as ArrayLike<number | bigint>, Number) : undefined;
}

export function only(ts: Tensor[]): Tensor {
  return ts[0]!;
}

/**
 * A vector-Jacobian product rule: given the gradients of a node's outputs (null where an output does not
 * reach the loss), returns the gradients of its inputs (null where not needed or not differentiable).
 */
export type VjpRule = (node: Node, gradOutputs: (Tensor | null)[], needs: boolean[]) => (Tensor | null)[];
