// com.microsoft.MatMulNBits (onnxruntime contrib op): Y = A @ dequant(B)^T (+ bias) with B a block-wise
// quantized [N, K] weight (layout in ../quantize.ts), and its VJP with respect to A.
//
// The VJP, dA = dY @ dequant(B), dequantizes B inside the backward graph with standard ops. Every weight-
// sized intermediate must depend on a runtime value, or onnxruntime's constant folding would store a
// float32 copy of every weight at session creation (4-8x the quantized model): so the chain starts with a
// DequantizeLinear (which onnxruntime never constant-folds, to keep QDQ models intact) and the block scales
// are applied in a [blockSize, N, kBlocks] layout where they broadcast without any reshape of their own.
// The dequantized weight exists only while its layer's backward runs.

import { attr, type Tensor } from "../graph";
import type { VjpRule } from "./common";
import { only } from "./common";
import { mul, sub } from "./elementwise";
import { matmul } from "./matmul";
import { concat, reshape, reshapeLike, slice, transpose, unsqueeze } from "./shape";

export const CONTRIB_DOMAIN = "com.microsoft";

/** A quantized Linear weight as graph tensors (see quantize.ts for the layout). */
export interface MatMulNBitsWeight {
  /** uint8 [N, kBlocks, blockSize * bits / 8] */
  data: Tensor;
  /** float32 [N, kBlocks] */
  scales: Tensor;
  /** uint8 [N, ceil(kBlocks * bits / 8)]; absent: symmetric (2^(bits-1)). */
  zeroPoints?: Tensor;
  /** float32 [N] */
  bias?: Tensor;
  bits: 4 | 8;
  blockSize: number;
  /** Output features. */
  n: number;
  /** Input features. */
  k: number;
  /**
   * onnxruntime's compute type: 0/1 float32 activations (exact dequantized GEMM), 4 int8 activations
   * (faster on CPUs with int8 dot products; activations are quantized per block, so the result is not
   * exactly A @ dequant(B)^T).
   */
  accuracyLevel?: number;
}

export class UnsupportedGradientError extends Error {
  readonly code = "UNSUPPORTED_GRADIENT";
}

/** A [..., K] @ dequant(B)^T [K, N] (+ bias) -> [..., N]. */
export function matmulNBits(a: Tensor, w: MatMulNBitsWeight, name?: string): Tensor {
  if (a.dtype !== "float32") throw new Error(`MatMulNBits: A must be float32, got ${a}`);
  if (a.shape[a.rank - 1] !== w.k) throw new Error(`MatMulNBits: ${a} does not end in K = ${w.k}`);
  const kBlocks = Math.ceil(w.k / w.blockSize);
  const expected = [w.n, kBlocks, (w.blockSize * w.bits) / 8];
  if (w.data.dtype !== "uint8" || w.data.shape.join() !== expected.join()) {
    throw new Error(`MatMulNBits: B ${w.data} should be uint8[${expected.join(", ")}]`);
  }
  const inputs: (Tensor | null)[] = [a, w.data, w.scales, w.zeroPoints ?? null, null, w.bias ?? null];
  while (inputs.at(-1) === null) inputs.pop();
  return only(
    a.graph.addNode(
      "MatMulNBits",
      inputs,
      [{ dtype: "float32", shape: [...a.shape.slice(0, -1), w.n] }],
      {
        K: attr.int(w.k),
        N: attr.int(w.n),
        bits: attr.int(w.bits),
        block_size: attr.int(w.blockSize),
        accuracy_level: attr.int(w.accuracyLevel ?? 0),
      },
      { name, domain: CONTRIB_DOMAIN },
    ),
  );
}

/** uint8 -> float32 values 0..255 through DequantizeLinear (scale 1, zero point 0): never constant-folded. */
function bytesAsFloats(x: Tensor): Tensor {
  const g = x.graph;
  return only(
    g.addNode(
      "DequantizeLinear",
      [x, g.constant("float32", [1], []), g.constant("uint8", [0], [])],
      [{ dtype: "float32", shape: x.shape }],
      {},
      { name: "bytes" },
    ),
  );
}

function floor(x: Tensor): Tensor {
  return only(x.graph.addNode("Floor", [x], [{ dtype: x.dtype, shape: x.shape }]));
}

/** float bytes [..., B] on `axis` -> nibbles [..., 2B] (low nibble first), stacked on a new axis after `axis`. */
function nibbles(bytes: Tensor, axis: number): [Tensor, Tensor] {
  const high = floor(mul(bytes, 1 / 16));
  const low = sub(bytes, mul(high, 16));
  return [unsqueeze(low, [axis + 1]), unsqueeze(high, [axis + 1])];
}

/**
 * dequant(B) laid out [blockSize, N, kBlocks] (element (j, n, b) is W[n, b * blockSize + j]), built from
 * runtime values only (see the top of this file).
 */
function dequantizedBlocksFirst(
  data: Tensor,
  scales: Tensor,
  zeroPoints: Tensor | null,
  bits: number,
  blockSize: number,
): Tensor {
  const [n, kBlocks] = data.shape as [number, number, number];
  const x = transpose(bytesAsFloats(data), [2, 0, 1]); // [blob, N, kBlocks]
  let q = x;
  if (bits === 4) {
    q = reshape(concat(nibbles(x, 0), 1), [blockSize, n, kBlocks]); // j = 2 * byte + nibble
  } else if (bits !== 8) throw new UnsupportedGradientError(`MatMulNBits VJP: ${bits} bits`);
  let zero: Tensor | number = 1 << (bits - 1);
  if (zeroPoints) {
    let z = bytesAsFloats(zeroPoints); // [N, zpBytes]
    if (bits === 4) {
      const zpBytes = z.shape[1] as number;
      z = reshape(concat(nibbles(z, 1), 2), [n, 2 * zpBytes]);
      if (2 * zpBytes !== kBlocks) z = slice(z, [0], [kBlocks], [1]);
    }
    zero = z;
  }
  return mul(sub(q, zero), scales, "dequantize"); // [blockSize, N, kBlocks] * [N, kBlocks]
}

/** dA = dY @ dequant(B), per block offset j: dY [M, N] @ W_j [N, kBlocks], then interleaved back to K. */
const matmulNBitsVjp: VjpRule = (node, [dy], needs) => {
  const [a, data, scales, zeroPoints] = node.inputs as [Tensor, Tensor, Tensor, Tensor | null];
  needs.forEach((need, i) => {
    if (i > 0 && need) {
      throw new UnsupportedGradientError(
        `MatMulNBits (${node.name}): only the gradient with respect to A is implemented, not input ${i} ` +
          "(quantized weights are frozen)",
      );
    }
  });
  if (!needs[0]) return node.inputs.map(() => null);
  const k = Number(node.attrs.K!.value);
  const n = Number(node.attrs.N!.value);
  const bits = Number(node.attrs.bits!.value);
  const blockSize = Number(node.attrs.block_size!.value);
  const w = dequantizedBlocksFirst(data, scales, zeroPoints ?? null, bits, blockSize);
  const kBlocks = w.shape[2] as number;
  const rows = reshape(dy!, [-1, n], { shape: ["rows", n] });
  const perOffset = matmul(rows, w); // [blockSize, M, kBlocks]
  let da = reshape(transpose(perOffset, [1, 2, 0]), [0, kBlocks * blockSize], {
    shape: ["rows", kBlocks * blockSize],
  });
  if (kBlocks * blockSize !== k) da = slice(da, [0], [k], [1]);
  return [reshapeLike(da, a), ...node.inputs.slice(1).map(() => null)];
};

/** Keyed `<domain>.<op type>`, as autodiff looks contrib ops up. */
export const quantizedVjps: Record<string, VjpRule> = {
  [`${CONTRIB_DOMAIN}.MatMulNBits`]: matmulNBitsVjp,
};
