// How a model builder gets its weights into the graph. Builders ask for weights by their HF checkpoint
// name and shape; a binding decides whether that becomes a frozen initializer (inference, soft-prompt
// training) or a graph input (training the weights themselves, gradient checks).

import type { DType, Graph, Tensor, TensorData } from "../engine/index";
import { formatShape } from "../engine/index";

export interface WeightBinding {
  readonly dtype: DType;
  /** The tensor for checkpoint weight `name`; asking twice returns the same tensor (tied weights). */
  weight(name: string, shape: readonly number[]): Tensor;
  /** Names bound so far, in first-use order. */
  readonly names: readonly string[];
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
  return {
    dtype: inner.dtype,
    get names() {
      return asked;
    },
    weight(name: string, shape: readonly number[]): Tensor {
      const t = inner.weight(rename(name), shape);
      if (!asked.includes(name)) asked.push(name);
      return t;
    },
  };
}
