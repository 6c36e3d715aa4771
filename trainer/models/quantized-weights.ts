// Weight-only quantization of Linear layers at load time, the way onnxruntime-genai's model builder does it:
// each Linear weight the builders use through projection() is read (one tensor at a time), quantized
// block-wise to 4 or 8 bits and bound as a com.microsoft.MatMulNBits; everything else (embeddings, norms,
// lm_head, and by default the vision tower) stays float32. The store keeps the converted weights for every
// graph the loader builds, in memory or, for checkpoints that do not fit as float32, in a WeightFile that
// onnxruntime memory-maps (graphs then reference file ranges, and JS never holds more than one tensor).

import {
  type FileReference,
  type Graph,
  type MatMulNBitsWeight,
  matmulNBits,
  type Tensor,
  type WeightFile,
} from "../engine/index";
import {
  type BlockQuantized,
  checkBlockQuantOptions,
  concatQuantized,
  kBlocksOf,
  type QuantBits,
  quantizeBlockwise,
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

  /** Bytes of quantized data, scales and zero points so far (the MatMulNBits weights). */
  get quantizedBytes(): number {
    let total = 0;
    const size = (s?: Stored<Uint8Array | Float32Array>) =>
      s ? ("file" in s ? s.file.length : s.data.byteLength) : 0;
    for (const l of this.linears.values()) total += size(l.data) + size(l.scales) + size(l.zeroPoints);
    return total;
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

  linearWeight(parts: readonly LinearPart[], inFeatures: number, bias: boolean): StoredLinear {
    const key = `${parts.map((p) => `${p.prefix}*${p.scale ?? 1}`).join("+")}|${inFeatures}|${bias}`;
    let stored = this.linears.get(key);
    if (!stored) {
      const { bits, blockSize, symmetric } = this.options;
      const quantized = parts.map((p) => {
        const w = this.values(`${p.prefix}.weight`, [p.outFeatures, inFeatures]) as Float32Array;
        return quantizeBlockwise(w, p.outFeatures, inFeatures, { bits, blockSize, symmetric });
      });
      const q = concatQuantized(
        quantized,
        parts.map((p) => p.scale ?? 1),
      );
      quantized.length = 0; // the parts' arrays are garbage from here
      let biasValues: Float32Array | undefined;
      if (bias) {
        biasValues = new Float32Array(q.n);
        let at = 0;
        for (const p of parts) {
          const b = this.values(`${p.prefix}.bias`, [p.outFeatures]) as Float32Array;
          for (let i = 0; i < b.length; i++) biasValues[at + i] = b[i]! * (p.scale ?? 1);
          at += p.outFeatures;
        }
      }
      const { data, scales, zeroPoints, ...shape } = q;
      stored = {
        q: shape,
        data: this.keep(data),
        scales: this.keep(scales),
        ...(zeroPoints ? { zeroPoints: this.keep(zeroPoints) } : {}),
        ...(biasValues ? { bias: this.keep(biasValues) } : {}),
      };
      this.linears.set(key, stored);
    }
    return stored;
  }
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
