// Weight-only quantization of Linear layers at load time, the way onnxruntime-genai's model builder does it:
// each Linear weight the builders use through projection() is read (one tensor at a time), quantized
// block-wise to 4 or 8 bits and bound as a com.microsoft.MatMulNBits; everything else (embeddings, norms,
// lm_head, and by default the vision tower) stays float32. The store keeps the converted weights for every
// graph the loader builds, in memory or, for checkpoints that do not fit as float32, in a WeightFile that
// onnxruntime memory-maps (graphs then reference file ranges, and JS never holds more than one tensor).

import { closeSync, openSync, readSync } from "node:fs";
import {
  type FileReference,
  type Graph,
  type MatMulNBitsWeight,
  matmulNBits,
  type Tensor,
  type WeightFile,
} from "../engine/index";
import { EXTERNAL_DATA_ALIGNMENT } from "../engine/onnx";
import {
  type BlockQuantized,
  blobSizeOf,
  checkBlockQuantOptions,
  concatQuantized,
  kBlocksOf,
  type QuantBits,
  quantizeBlockwise,
  zeroPointBytesPerRow,
} from "../engine/quantize";
import { denseProjection, type LinearPart, type WeightBinding, type WeightValues } from "./weights";

/** How a loader stores Linear weights: as in the checkpoint (float32 graphs), or quantized. */
export const WEIGHT_FORMATS = ["float32", "int8", "int4"] as const;
export type WeightFormat = (typeof WEIGHT_FORMATS)[number];

export const DEFAULT_QUANT_BLOCK_SIZE = 32;
/**
 * onnxruntime MatMulNBits compute type: 4 = int8 activations, what onnxruntime-genai uses on CPU. On this
 * AVX-512 VNNI machine it is the fast path for both 4 and 8 bits (8-bit weights have no float32 kernel
 * and would be dequantized whole on every call); its error is the activations' int8 rounding per block.
 */
export const DEFAULT_ACCURACY_LEVEL = 4;

/** Vision towers stay float32 unless asked: they are a small part of a VLM and feed every image token. */
export const NOT_VISION_TOWER = (name: string): boolean => !/(^|\.)(vision_tower|vision_model)\./.test(name);

export interface QuantizationOptions {
  bits: QuantBits;
  /** Default 32 (DEFAULT_QUANT_BLOCK_SIZE). */
  blockSize?: number;
  /** Default false: per-block min/max with zero points (better on skewed rows, 1 byte per 1-2 blocks). */
  symmetric?: boolean;
  /** Default DEFAULT_ACCURACY_LEVEL; 0 gives float32 activations (exactly A @ dequant(W)^T). */
  accuracyLevel?: number;
  /** Which Linear weights (checkpoint names, `....weight`) to quantize; default NOT_VISION_TOWER. */
  include?: (weightName: string) => boolean;
}

export function quantizationFor(format: WeightFormat, options: Omit<QuantizationOptions, "bits"> = {}) {
  if (format === "float32") return undefined;
  return { ...options, bits: format === "int8" ? 8 : 4 } satisfies QuantizationOptions;
}

type Stored<T> = { data: T } | { file: FileReference };

interface StoredLinear {
  q: Omit<BlockQuantized, "data" | "scales" | "zeroPoints">;
  data: Stored<Uint8Array>;
  scales: Stored<Float32Array>;
  zeroPoints?: Stored<Uint8Array>;
  bias?: Stored<Float32Array>;
}

/** "a.b.q_proj", "a.b.k_proj" -> "a.b.{q_proj,k_proj}" (the name of a fused projection's tensors). */
function fusedName(prefixes: readonly string[]): string {
  if (prefixes.length === 1) return prefixes[0]!;
  const split = prefixes.map((p) => p.split("."));
  let common = 0;
  while (split.every((s) => s[common] === split[0]![common] && common < s.length - 1)) common++;
  const head = split[0]!.slice(0, common).join(".");
  return `${head ? `${head}.` : ""}{${split.map((s) => s.slice(common).join(".")).join(",")}}`;
}

/**
 * Converted weights shared by every graph of one loaded model: float32 weights by name, quantized Linear
 * weights by (fused) projection. `values` is read once per weight, when a graph first binds it.
 */
export class QuantizedWeightStore {
  readonly options: Required<Omit<QuantizationOptions, "include">> & Pick<QuantizationOptions, "include">;
  private readonly floats = new Map<string, Stored<Float32Array>>();
  private readonly linears = new Map<string, StoredLinear>();
  /** Each Linear quantized as in the checkpoint (no scale), by `${prefix}|${inFeatures}`. */
  private readonly parts = new Map<string, StoredLinear>();
  private newQuantizedBytes = 0;

  constructor(
    private readonly values: WeightValues,
    options: QuantizationOptions,
    /** Where converted weights go; in memory when absent. */
    private readonly file?: WeightFile,
  ) {
    this.options = {
      blockSize: DEFAULT_QUANT_BLOCK_SIZE,
      symmetric: false,
      accuracyLevel: DEFAULT_ACCURACY_LEVEL,
      ...options,
    };
    checkBlockQuantOptions({ ...this.options });
  }

  /** Bytes of quantized data, scales and zero points made so far (each Linear once, however many graphs bind it). */
  get quantizedBytes(): number {
    return this.newQuantizedBytes;
  }

  /** A binding for `graph`: weight() gives float32 initializers, linear() MatMulNBits where included. */
  bind(graph: Graph): WeightBinding {
    return new QuantizingBinding(graph, this);
  }

  private keep<T extends Float32Array | Uint8Array>(data: T): Stored<T> {
    return this.file ? { file: this.file.append(data) } : { data };
  }

  floatWeight(name: string, shape: readonly number[]): Stored<Float32Array> {
    let stored = this.floats.get(name);
    if (!stored) {
      const data = this.values(name, shape);
      const expected = shape.reduce((a, b) => a * b, 1);
      if (!(data instanceof Float32Array) || data.length !== expected) {
        throw new Error(`weight ${name}: expected ${expected} float32 values, got ${data.length}`);
      }
      stored = this.keep(data);
      this.floats.set(name, stored);
    }
    return stored;
  }

  includes(weightName: string): boolean {
    return (this.options.include ?? NOT_VISION_TOWER)(weightName);
  }

  /**
   * The stacked quantized weights of `parts` (one HF Linear, or a fused projection such as the cached
   * decoder's q/k/v). Each Linear is quantized once per store, unscaled, whatever graph asks first: the
   * training graph's separate q_proj and the cached decoder's fused [q/sqrt(d); k; v] share its data and
   * zero points (a fused request quantizes its missing parts together, so their rows are adjacent and the
   * stack is a view; parts quantized apart are copied, not re-quantized). Only scales and biases of
   * scaled parts are new values.
   */
  linearWeight(parts: readonly LinearPart[], inFeatures: number, bias: boolean): StoredLinear {
    const key = `${parts.map((p) => `${p.prefix}*${p.scale ?? 1}`).join("+")}|${inFeatures}|${bias}`;
    let stored = this.linears.get(key);
    if (stored) return stored;
    const quantizedParts = this.quantizedParts(parts, inFeatures);
    const factors = parts.map((p) => p.scale ?? 1);
    const first = quantizedParts[0]!;
    const { bits, blockSize, symmetric } = first.q;
    const scaled = (values: Stored<Float32Array>[]) =>
      factors.every((f) => f === 1)
        ? this.stacked(values, asFloats)
        : this.keep(
            asFloats(
              concatBytes(
                values.map((v, i) => {
                  const f = scaleBy(asFloats(storedBytes(v)), factors[i]!);
                  return new Uint8Array(f.buffer, f.byteOffset, f.byteLength);
                }),
              ),
            ),
          );
    const zeroPoints = first.zeroPoints
      ? this.stacked(
          quantizedParts.map((p) => p.zeroPoints!),
          asBytes,
        )
      : undefined;
    stored = {
      q: { n: quantizedParts.reduce((a, p) => a + p.q.n, 0), k: inFeatures, bits, blockSize, symmetric },
      data: this.stacked(
        quantizedParts.map((p) => p.data),
        asBytes,
      ),
      scales: scaled(quantizedParts.map((p) => p.scales)),
      ...(zeroPoints ? { zeroPoints } : {}),
      ...(bias
        ? {
            bias: scaled(parts.map((p) => this.floatWeight(`${p.prefix}.bias`, [p.outFeatures]))),
          }
        : {}),
    };
    this.linears.set(key, stored);
    return stored;
  }

  /** Each part quantized (unscaled), once per store; missing parts are quantized and written together. */
  private quantizedParts(parts: readonly LinearPart[], inFeatures: number): StoredLinear[] {
    const partKey = (p: LinearPart) => `${p.prefix}|${inFeatures}`;
    const missing = parts.filter(
      (p, i) => !this.parts.has(partKey(p)) && parts.findIndex((o) => o.prefix === p.prefix) === i,
    );
    if (missing.length > 0) {
      const { bits, blockSize, symmetric } = this.options;
      const quantized = missing.map((p) => {
        const w = this.values(`${p.prefix}.weight`, [p.outFeatures, inFeatures]) as Float32Array;
        return quantizeBlockwise(w, p.outFeatures, inFeatures, { bits, blockSize, symmetric });
      });
      const { data, scales, zeroPoints, ...shape } = concatQuantized(quantized);
      quantized.length = 0; // the parts' arrays are garbage from here
      this.newQuantizedBytes += data.byteLength + scales.byteLength + (zeroPoints?.byteLength ?? 0);
      const all = {
        data: this.keep(data),
        scales: this.keep(scales),
        zeroPoints: zeroPoints ? this.keep(zeroPoints) : undefined,
      };
      const kBlocks = kBlocksOf(inFeatures, blockSize);
      let row = 0;
      for (const p of missing) {
        const rows = (from: number, perRow: number) => ({
          from: from * perRow,
          length: p.outFeatures * perRow,
        });
        const slice = <T extends Uint8Array | Float32Array>(s: Stored<T>, perRow: number, bytes: number) => {
          const r = rows(row, perRow);
          return sliceStored(s, r.from, r.length, bytes);
        };
        this.parts.set(partKey(p), {
          q: { ...shape, n: p.outFeatures },
          data: slice(all.data, kBlocks * blobSizeOf(bits, blockSize), 1),
          scales: slice(all.scales, kBlocks, 4),
          ...(all.zeroPoints
            ? { zeroPoints: slice(all.zeroPoints, zeroPointBytesPerRow(bits, kBlocks), 1) }
            : {}),
        });
        row += p.outFeatures;
      }
    }
    return parts.map((p) => this.parts.get(partKey(p))!);
  }

  /** Stored ranges stacked: a view when they are adjacent (and aligned for memory-mapping), else a copy. */
  private stacked<T extends Uint8Array | Float32Array>(
    values: Stored<T>[],
    wrap: (bytes: Uint8Array) => T,
  ): Stored<T> {
    const joined = joinStored(values);
    if (joined) return joined;
    return this.keep(wrap(concatBytes(values.map(storedBytes))));
  }
}

const asFloats = (bytes: Uint8Array) =>
  new Float32Array(bytes.buffer, bytes.byteOffset, bytes.byteLength / 4);
const asBytes = (bytes: Uint8Array) => bytes;

/** The bytes of a stored range (read back from the weight file when it is there). */
function storedBytes(s: Stored<Uint8Array | Float32Array>): Uint8Array {
  if ("data" in s) return new Uint8Array(s.data.buffer, s.data.byteOffset, s.data.byteLength);
  const bytes = new Uint8Array(s.file.length);
  const fd = openSync(s.file.file, "r");
  try {
    for (let read = 0; read < bytes.length; ) {
      const n = readSync(fd, bytes, read, bytes.length - read, s.file.offset + read);
      if (n === 0) throw new Error(`${s.file.file}: short read at ${s.file.offset + read}`);
      read += n;
    }
  } finally {
    closeSync(fd);
  }
  return bytes;
}

function concatBytes(arrays: Uint8Array[]): Uint8Array {
  const out = new Uint8Array(arrays.reduce((a, x) => a + x.length, 0));
  let at = 0;
  for (const a of arrays) {
    out.set(a, at);
    at += a.length;
  }
  return out;
}

function scaleBy(values: Float32Array, factor: number): Float32Array {
  return factor === 1 ? values : values.map((v) => v * factor);
}

/** Elements [from, from + length) of a stored range (element size `bytes`). */
function sliceStored<T extends Uint8Array | Float32Array>(
  s: Stored<T>,
  from: number,
  length: number,
  bytes: number,
): Stored<T> {
  if ("data" in s) return { data: s.data.subarray(from, from + length) as T };
  return { file: { file: s.file.file, offset: s.file.offset + from * bytes, length: length * bytes } };
}

/**
 * Adjacent ranges as one (same buffer or file, each starting where the previous ends), or undefined. A
 * file range must start at an aligned offset: onnxruntime memory-maps external data from there.
 */
function joinStored<T extends Uint8Array | Float32Array>(values: Stored<T>[]): Stored<T> | undefined {
  const first = values[0]!;
  if ("data" in first) {
    if (values.length === 1) return first;
    let end = first.data.byteOffset + first.data.byteLength;
    for (const v of values.slice(1)) {
      if (!("data" in v) || v.data.buffer !== first.data.buffer || v.data.byteOffset !== end)
        return undefined;
      end += v.data.byteLength;
    }
    const bytesPer = first.data.BYTES_PER_ELEMENT;
    const all = new (first.data.constructor as new (b: ArrayBufferLike, o: number, n: number) => T)(
      first.data.buffer,
      first.data.byteOffset,
      (end - first.data.byteOffset) / bytesPer,
    );
    return { data: all };
  }
  if (first.file.offset % EXTERNAL_DATA_ALIGNMENT !== 0) return undefined;
  let end = first.file.offset + first.file.length;
  for (const v of values.slice(1)) {
    if (!("file" in v) || v.file.file !== first.file.file || v.file.offset !== end) return undefined;
    end += v.file.length;
  }
  return { file: { file: first.file.file, offset: first.file.offset, length: end - first.file.offset } };
}

class QuantizingBinding implements WeightBinding {
  readonly dtype = "float32" as const;
  private readonly bound = new Map<string, Tensor>();
  private readonly boundLinears = new Map<string, MatMulNBitsWeight>();
  private readonly asked: string[] = [];

  constructor(
    private readonly graph: Graph,
    private readonly store: QuantizedWeightStore,
  ) {}

  get names(): string[] {
    return this.asked;
  }

  private tensor<T extends Float32Array | Uint8Array>(
    name: string,
    dtype: "float32" | "uint8",
    shape: readonly number[],
    stored: Stored<T>,
  ): Tensor {
    return "file" in stored
      ? this.graph.fileInitializer(name, dtype, shape, stored.file)
      : this.graph.initializer(name, dtype, shape, stored.data);
  }

  weight(name: string, shape: readonly number[]): Tensor {
    let t = this.bound.get(name);
    if (t) {
      if (t.shape.join() !== shape.join()) {
        throw new Error(`weight ${name} bound as [${t.shape.join(", ")}], asked [${shape.join(", ")}]`);
      }
      return t;
    }
    t = this.tensor(name, "float32", shape, this.store.floatWeight(name, shape));
    this.bound.set(name, t);
    this.asked.push(name);
    return t;
  }

  linear(x: Tensor, parts: readonly LinearPart[], bias: boolean): Tensor {
    if (!parts.every((p) => this.store.includes(`${p.prefix}.weight`))) {
      return denseProjection(this, x, parts, bias);
    }
    const inFeatures = x.shape[x.rank - 1] as number;
    const name = fusedName(parts.map((p) => p.prefix));
    const key = `${name}|${parts.map((p) => p.scale ?? 1).join(",")}|${bias}`;
    let w = this.boundLinears.get(key);
    if (!w) {
      const s = this.store.linearWeight(parts, inFeatures, bias);
      const { n, k, bits, blockSize } = s.q;
      const kBlocks = kBlocksOf(k, blockSize);
      // The same projection with other scales in one graph (unusual) gets its own tensors.
      let base = name;
      for (let i = 1; this.graph.hasTensor(`${base}.weight_quantized`); i++) base = `${name}_${i}`;
      w = {
        data: this.tensor(`${base}.weight_quantized`, "uint8", [n, kBlocks, (blockSize * bits) / 8], s.data),
        scales: this.tensor(`${base}.weight_scales`, "float32", [n, kBlocks], s.scales),
        ...(s.zeroPoints
          ? {
              zeroPoints: this.tensor(
                `${base}.weight_zero_points`,
                "uint8",
                [n, Math.ceil((kBlocks * bits) / 8)],
                s.zeroPoints,
              ),
            }
          : {}),
        ...(s.bias ? { bias: this.tensor(`${base}.bias`, "float32", [n], s.bias) } : {}),
        bits,
        blockSize,
        n,
        k,
        accuracyLevel: this.store.options.accuracyLevel,
      };
      this.boundLinears.set(key, w);
      for (const p of parts) {
        this.asked.push(`${p.prefix}.weight`);
        if (bias) this.asked.push(`${p.prefix}.bias`);
      }
    }
    return matmulNBits(x, w);
  }
}
