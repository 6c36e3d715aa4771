// How a model builder gets its weights into the graph. Builders ask for weights by their HF checkpoint
// name and shape; a binding decides whether that becomes a frozen initializer (inference, soft-prompt
// training) or a graph input (training the weights themselves, gradient checks).

import type { DType, Graph, Tensor, TensorData } from "../engine/index";
import { add, concat, formatShape, matmul, mul, transpose } from "../engine/index";

/** One HF Linear of a projection: weight `${prefix}.weight` [outFeatures, in] (and `${prefix}.bias`). */
export interface LinearPart {
  prefix: string;
  outFeatures: number;
  /** Multiplies this part's weight and bias (e.g. 1/sqrt(d) folded into q_proj); default 1. */
  scale?: number;
}

export interface WeightBinding {
  readonly dtype: DType;
  /** The tensor for checkpoint weight `name`; asking twice returns the same tensor (tied weights). */
  weight(name: string, shape: readonly number[]): Tensor;
  /** Names bound so far, in first-use order. */
  readonly names: readonly string[];
  /**
   * x @ [scale_i * W_i]^T (+ [scale_i * b_i]) for the parts stacked along the output axis. Only bindings
   * that store Linear weights in another form implement it (quantizedWeights: MatMulNBits); builders
   * call projection(), which falls back to MatMul over weight() tensors.
   */
  linear?(x: Tensor, parts: readonly LinearPart[], bias: boolean): Tensor;
}

/**
 * HF Linear layers applied to `x` (several parts: one fused projection, whose output the caller splits).
 * The weights' form is the binding's business; the node names are the caller's scope + MatMul/Add.
 */
export function projection(
  weights: WeightBinding,
  x: Tensor,
  parts: readonly LinearPart[],
  bias: boolean,
): Tensor {
  if (weights.linear) return weights.linear(x, parts, bias);
  return denseProjection(weights, x, parts, bias);
}

/** projection() as float MatMul (+ Add); a fused projection concatenates its weights (onnxruntime folds that). */
export function denseProjection(
  weights: WeightBinding,
  x: Tensor,
  parts: readonly LinearPart[],
  bias: boolean,
): Tensor {
  const inFeatures = x.shape[x.rank - 1] as number;
  const scaled = (t: Tensor, p: LinearPart) => (p.scale === undefined || p.scale === 1 ? t : mul(t, p.scale));
  const stacked = (suffix: string, shape: (p: LinearPart) => number[]) => {
    const ts = parts.map((p) => scaled(weights.weight(`${p.prefix}.${suffix}`, shape(p)), p));
    return ts.length === 1 ? ts[0]! : concat(ts, 0);
  };
  const y = matmul(
    x,
    transpose(
      stacked("weight", (p) => [p.outFeatures, inFeatures]),
      [1, 0],
    ),
  );
  return bias
    ? add(
        y,
        stacked("bias", (p) => [p.outFeatures]),
      )
    : y;
}

/** A source of weight values by HF name (a checkpoint, random init, a test fixture). */
export type WeightValues = (name: string, shape: readonly number[]) => TensorData;

class Binding implements WeightBinding {
  private readonly bound = new Map<string, Tensor>();

  constructor(
    readonly dtype: DType,
    private readonly make: (name: string, shape: readonly number[]) => Tensor,
  ) {}

  get names(): string[] {
    return [...this.bound.keys()];
  }

  weight(name: string, shape: readonly number[]): Tensor {
    const existing = this.bound.get(name);
    if (existing) {
      const same = existing.shape.length === shape.length && existing.shape.every((d, i) => d === shape[i]);
      if (!same)
        throw new Error(
          `weight ${name} bound as ${formatShape(existing.shape)}, asked ${formatShape(shape)}`,
        );
      return existing;
    }
    const t = this.make(name, shape);
    this.bound.set(name, t);
    return t;
  }
}

/** Frozen weights: initializers holding `values(name)`. */
export function frozenWeights(graph: Graph, dtype: DType, values: WeightValues): WeightBinding {
  return new Binding(dtype, (name, shape) => {
    const data = values(name, shape);
    const expected = shape.reduce((a, b) => a * b, 1);
    if (data.length !== expected) {
      throw new Error(`weight ${name}: ${data.length} values for shape ${formatShape(shape)}`);
    }
    return graph.initializer(name, dtype, shape, data);
  });
}

/** Weights as graph inputs, fed on every run, so they can be differentiated. */
export function weightsAsInputs(graph: Graph, dtype: DType): WeightBinding {
  return new Binding(dtype, (name, shape) => graph.input(name, dtype, shape));
}

/**
 * A view of `inner` under other names: a builder asks for `name`, `inner` binds `rename(name)`. Lets a
 * family reuse another's builder inside a composite checkpoint (LLaVA's decoder asks for
 * `model.layers.0...`, the checkpoint holds `model.language_model.layers.0...`).
 */
export function renamedWeights(inner: WeightBinding, rename: (name: string) => string): WeightBinding {
  const asked: string[] = [];
  const note = (name: string) => {
    if (!asked.includes(name)) asked.push(name);
  };
  const view: WeightBinding = {
    dtype: inner.dtype,
    get names() {
      return asked;
    },
    weight(name: string, shape: readonly number[]): Tensor {
      const t = inner.weight(rename(name), shape);
      note(name);
      return t;
    },
  };
  const innerLinear = inner.linear?.bind(inner);
  if (innerLinear) {
    view.linear = (x, parts, bias) => {
      const renamed = parts.map((p) => ({
        ...p,
        prefix: rename(`${p.prefix}.weight`).replace(/\.weight$/, ""),
      }));
      const y = innerLinear(x, renamed, bias);
      for (const p of parts) {
        note(`${p.prefix}.weight`);
        if (bias) note(`${p.prefix}.bias`);
      }
      return y;
    };
  }
  return view;
}
