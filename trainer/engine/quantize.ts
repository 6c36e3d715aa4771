// Block-wise weight-only quantization in the layout of onnxruntime's `com.microsoft.MatMulNBits`: a
// weight W [N, K] (HF Linear layout, out x in) is cut into blocks of `blockSize` consecutive values along
// K; each block gets a float32 scale and an unsigned zero point, and W[n, k] ~ scale * (q[n, k] - zp).
//
//   data        uint8 [N, kBlocks, blockSize * bits / 8]   4 bits: element 2j in the low nibble of byte j
//   scales      float32 [N, kBlocks]
//   zeroPoints  uint8 [N, ceil(kBlocks * bits / 8)]         asymmetric only (4 bits: two blocks a byte)
//
// Symmetric quantization stores no zero points: MatMulNBits then uses 2^(bits-1) (8 or 128). K is padded
// with zeros to a whole number of blocks.

export type QuantBits = 4 | 8;

export interface BlockQuantOptions {
  bits: QuantBits;
  /** Values per block along K: a power of two >= 16 (MatMulNBits' rule). */
  blockSize: number;
  /** No zero points (q - 2^(bits-1)); asymmetric otherwise (per-block min/max, better for skewed rows). */
  symmetric: boolean;
}

export interface BlockQuantized extends BlockQuantOptions {
  /** Rows (output features). */
  n: number;
  /** Columns (input features), before padding. */
  k: number;
  data: Uint8Array;
  scales: Float32Array;
  zeroPoints?: Uint8Array;
}

export class QuantizationError extends Error {
  readonly code = "QUANTIZATION";
}

export function kBlocksOf(k: number, blockSize: number): number {
  return Math.ceil(k / blockSize);
}

/** Bytes of one block of quantized values. */
export function blobSizeOf(bits: QuantBits, blockSize: number): number {
  return (blockSize * bits) / 8;
}

/** Bytes of zero points per row. */
export function zeroPointBytesPerRow(bits: QuantBits, kBlocks: number): number {
  return Math.ceil((kBlocks * bits) / 8);
}

export function checkBlockQuantOptions(o: BlockQuantOptions): void {
  if (o.bits !== 4 && o.bits !== 8) throw new QuantizationError(`bits must be 4 or 8, got ${o.bits}`);
  if (!Number.isInteger(o.blockSize) || o.blockSize < 16 || (o.blockSize & (o.blockSize - 1)) !== 0) {
    throw new QuantizationError(`blockSize must be a power of two >= 16, got ${o.blockSize}`);
  }
}

/** Quantizes W [n, k] (row-major float32) block-wise along k. */
export function quantizeBlockwise(
  w: Float32Array,
  n: number,
  k: number,
  options: BlockQuantOptions,
): BlockQuantized {
  checkBlockQuantOptions(options);
  if (w.length !== n * k) throw new QuantizationError(`${w.length} values for [${n}, ${k}]`);
  const { bits, blockSize, symmetric } = options;
  const kBlocks = kBlocksOf(k, blockSize);
  const blob = blobSizeOf(bits, blockSize);
  const zpRow = zeroPointBytesPerRow(bits, kBlocks);
  const qmax = (1 << bits) - 1;
  const mid = 1 << (bits - 1);
  const data = new Uint8Array(n * kBlocks * blob);
  const scales = new Float32Array(n * kBlocks);
  const zeroPoints = symmetric ? undefined : new Uint8Array(n * zpRow);
  const q = new Uint8Array(blockSize);
  for (let row = 0; row < n; row++) {
    const rowStart = row * k;
    for (let b = 0; b < kBlocks; b++) {
      const from = b * blockSize;
      const to = Math.min(k, from + blockSize);
      let lo = 0; // the range always holds 0, so zero (and the padding) stays exact
      let hi = 0;
      for (let i = from; i < to; i++) {
        const v = w[rowStart + i]!;
        if (!Number.isFinite(v)) throw new QuantizationError(`row ${row} holds a non-finite value ${v}`);
        if (v < lo) lo = v;
        if (v > hi) hi = v;
      }
      let scale: number;
      let zp: number;
      if (symmetric) {
        scale = Math.fround(Math.max(-lo, hi) / (mid - 1));
        zp = mid;
      } else {
        scale = Math.fround((hi - lo) / qmax);
        zp = scale === 0 ? 0 : Math.min(qmax, Math.max(0, Math.round(-lo / scale)));
      }
      const inv = scale === 0 ? 0 : 1 / scale;
      q.fill(zp);
      for (let i = from; i < to; i++) {
        q[i - from] = Math.min(qmax, Math.max(0, Math.round(w[rowStart + i]! * inv) + zp));
      }
      const out = (row * kBlocks + b) * blob;
      if (bits === 8) data.set(q, out);
      else for (let j = 0; j < blob; j++) data[out + j] = q[2 * j]! | (q[2 * j + 1]! << 4);
      scales[row * kBlocks + b] = scale;
      if (zeroPoints) {
        if (bits === 8) zeroPoints[row * zpRow + b] = zp;
        else zeroPoints[row * zpRow + (b >> 1)]! |= zp << ((b & 1) * 4);
      }
    }
  }
  return { ...options, n, k, data, scales, ...(zeroPoints ? { zeroPoints } : {}) };
}

/** The quantized block's value at (row, column) as a float: scale * (q - zp). */
export function dequantizeBlockwise(q: BlockQuantized): Float32Array {
  const { n, k, bits, blockSize } = q;
  const kBlocks = kBlocksOf(k, blockSize);
  const blob = blobSizeOf(bits, blockSize);
  const zpRow = zeroPointBytesPerRow(bits, kBlocks);
  const out = new Float32Array(n * k);
  for (let row = 0; row < n; row++) {
    for (let b = 0; b < kBlocks; b++) {
      const scale = q.scales[row * kBlocks + b]!;
      let zp = 1 << (bits - 1);
      if (q.zeroPoints) {
        const byte = q.zeroPoints[row * zpRow + (bits === 8 ? b : b >> 1)]!;
        zp = bits === 8 ? byte : (byte >> ((b & 1) * 4)) & 15;
      }
      const base = (row * kBlocks + b) * blob;
      const to = Math.min(k, (b + 1) * blockSize);
      for (let col = b * blockSize; col < to; col++) {
        const j = col - b * blockSize;
        const value = bits === 8 ? q.data[base + j]! : (q.data[base + (j >> 1)]! >> ((j & 1) * 4)) & 15;
        out[row * k + col] = scale * (value - zp);
      }
    }
  }
  return out;
}

/**
 * Several quantized weights with the same K and block layout stacked along N (a fused q/k/v or gate/up
 * projection), each part's scales multiplied by its factor (exact up to float32 rounding of the scale:
 * the quantized values do not change).
 */
export function concatQuantized(
  parts: readonly BlockQuantized[],
  factors?: readonly number[],
): BlockQuantized {
  const first = parts[0];
  if (!first) throw new QuantizationError("concatQuantized: no parts");
  for (const p of parts) {
    if (p.k !== first.k || p.bits !== first.bits || p.blockSize !== first.blockSize) {
      throw new QuantizationError("concatQuantized: parts differ in K, bits or block size");
    }
    if (p.symmetric !== first.symmetric) throw new QuantizationError("concatQuantized: mixed symmetry");
  }
  const cat = <T extends Uint8Array | Float32Array>(arrays: T[], make: (n: number) => T): T => {
    const out = make(arrays.reduce((a, x) => a + x.length, 0));
    let at = 0;
    for (const a of arrays) {
      out.set(a, at);
      at += a.length;
    }
    return out;
  };
  const scales = cat(
    parts.map((p, i) => {
      const f = factors?.[i] ?? 1;
      return f === 1 ? p.scales : p.scales.map((s) => s * f);
    }),
    (n) => new Float32Array(n),
  );
  const zeroPoints = first.zeroPoints
    ? cat(
        parts.map((p) => p.zeroPoints!),
        (n) => new Uint8Array(n),
      )
    : undefined;
  return {
    ...first,
    n: parts.reduce((a, p) => a + p.n, 0),
    data: cat(
      parts.map((p) => p.data),
      (n) => new Uint8Array(n),
    ),
    scales,
    ...(zeroPoints ? { zeroPoints } : {}),
  };
}
