// MatMul (numpy semantics: batched, broadcasting batch dims, 1-D operands promoted) and Gemm, with VJPs.

import { attr, graphOf, type Tensor } from "../graph";
import { broadcastShapes, type Dim, formatShape } from "../shape";
import { only, type VjpRule } from "./common";
import { mul } from "./elementwise";
import { sumToShape } from "./reduce";
import { reshape, squeeze, transpose, unsqueeze } from "./shape";

export function matmul(a: Tensor, b: Tensor, name?: string): Tensor {
  if (a.dtype !== b.dtype) throw new Error(`MatMul: dtype mismatch ${a} vs ${b}`);
  const aShape = a.rank === 1 ? [1, a.shape[0]!] : a.shape;
  const bShape = b.rank === 1 ? [b.shape[0]!, 1] : b.shape;
  const k = aShape[aShape.length - 1]!;
  if (k !== bShape[bShape.length - 2]) throw new Error(`MatMul: inner dims differ, ${a} x ${b}`);
  const batch = broadcastShapes(aShape.slice(0, -2), bShape.slice(0, -2));
  const out: Dim[] = [...batch];
  if (a.rank !== 1) out.push(aShape[aShape.length - 2]!);
  if (b.rank !== 1) out.push(bShape[bShape.length - 1]!);
  return only(a.graph.addNode("MatMul", [a, b], [{ dtype: a.dtype, shape: out }], {}, { name }));
}

/** Swaps the last two axes. */
export function transposeLast2(x: Tensor): Tensor {
  const perm = x.shape.map((_, i) => i);
  perm[x.rank - 2] = x.rank - 1;
  perm[x.rank - 1] = x.rank - 2;
  return transpose(x, perm);
}

/**
 * dB for a 2-D B shared by every batch entry of A: one Gemm over the flattened rows, A2^T dY2, instead of
 * a batched MatMul followed by a reduction over the batch.
 */
function sharedWeightGrad(a: Tensor, dy: Tensor): Tensor {
  const rowsA = reshape(a, [-1, a.shape[a.rank - 1]!]);
  const rowsDy = reshape(dy, [-1, dy.shape[dy.rank - 1]!]);
  return gemm(rowsA, rowsDy, null, { transA: true });
}

/** dA = dY B^T and dB = A^T dY, summed over broadcast batch dims; 1-D operands are promoted and restored. */
const matmulVjp: VjpRule = (node, [dy], needs) => {
  const [a, b] = node.inputs as [Tensor, Tensor];
  const a2 = a.rank === 1 ? unsqueeze(a, [0]) : a;
  const b2 = b.rank === 1 ? unsqueeze(b, [1]) : b;
  let dy2 = dy!;
  if (a.rank === 1) dy2 = unsqueeze(dy2, [dy2.rank - (b.rank === 1 ? 0 : 1)]);
  if (b.rank === 1) dy2 = unsqueeze(dy2, [dy2.rank]);
  let da: Tensor | null = null;
  let db: Tensor | null = null;
  if (needs[0]) {
    da = sumToShape(matmul(dy2, transposeLast2(b2)), a2.shape);
    if (a.rank === 1) da = squeeze(da, [0]);
  }
  if (needs[1]) {
    db =
      b2.rank === 2 && a2.rank > 2
        ? sharedWeightGrad(a2, dy2)
        : sumToShape(matmul(transposeLast2(a2), dy2), b2.shape);
    if (b.rank === 1) db = squeeze(db, [1]);
  }
  return [da, db];
};

export interface GemmOptions {
  transA?: boolean;
  transB?: boolean;
  alpha?: number;
  beta?: number;
  name?: string;
}

/** Y = alpha * A' B' + beta * C on 2-D operands; transB lets a [out,in] weight be used untransposed. */
export function gemm(a: Tensor, b: Tensor, c: Tensor | null = null, options: GemmOptions = {}): Tensor {
  const g = graphOf(a, b);
  if (a.rank !== 2 || b.rank !== 2) throw new Error(`Gemm: needs 2-D operands, got ${a} and ${b}`);
  const [m, ka] = options.transA ? [a.shape[1]!, a.shape[0]!] : [a.shape[0]!, a.shape[1]!];
  const [kb, n] = options.transB ? [b.shape[1]!, b.shape[0]!] : [b.shape[0]!, b.shape[1]!];
  if (ka !== kb) throw new Error(`Gemm: inner dims differ ${formatShape(a.shape)} x ${formatShape(b.shape)}`);
  const out = [m, n];
  if (c) broadcastShapes(c.shape, out);
  return only(
    g.addNode(
      "Gemm",
      c ? [a, b, c] : [a, b],
      [{ dtype: a.dtype, shape: out }],
      {
        transA: attr.int(options.transA ?? false),
        transB: attr.int(options.transB ?? false),
        alpha: attr.float(options.alpha ?? 1),
        beta: attr.float(options.beta ?? 1),
      },
      { name: options.name },
    ),
  );
}

/** Each gradient is itself one Gemm with the transposes folded into its flags. */
const gemmVjp: VjpRule = (node, [dy], needs) => {
  const [a, b, c] = node.inputs as [Tensor, Tensor, Tensor | undefined];
  const transA = Number(node.attrs.transA!.value) === 1;
  const transB = Number(node.attrs.transB!.value) === 1;
  const alpha = Number(node.attrs.alpha!.value);
  const beta = Number(node.attrs.beta!.value);
  const grads: (Tensor | null)[] = [null, null, null];
  if (needs[0]) {
    grads[0] = transA
      ? gemm(b, dy!, null, { transA: transB, transB: true, alpha })
      : gemm(dy!, b, null, { transB: !transB, alpha });
  }
  if (needs[1]) {
    grads[1] = transB
      ? gemm(dy!, a, null, { transA: true, transB: transA, alpha })
      : gemm(a, dy!, null, { transA: !transA, alpha });
  }
  if (needs[2] && c) grads[2] = sumToShape(beta === 1 ? dy! : mul(dy!, beta), c.shape);
  return grads.slice(0, node.inputs.length);
};

export const matmulVjps: Record<string, VjpRule> = {
  MatMul: matmulVjp,
  Gemm: gemmVjp,
};
