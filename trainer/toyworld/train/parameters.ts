// The trained weights as plain Float32Arrays by HF name: bound into training graphs as inputs (so the
// engine differentiates them), initialised the way transformers initialises these families, and written
// as safetensors. AdamW updates the arrays in place, so the feeds always see the current values.

import type * as ort from "onnxruntime-node";
import { type Graph, ortTensor, type Tensor } from "../../engine/index";
import type { WeightBinding } from "../../models/weights";
import { weightsAsInputs } from "../../models/weights";

/** A weightsAsInputs binding that remembers each weight's shape. */
export class ParameterBinding implements WeightBinding {
  readonly dtype = "float32" as const;
  readonly shapes = new Map<string, readonly number[]>();
  readonly tensors = new Map<string, Tensor>();
  private readonly inner: WeightBinding;

  constructor(graph: Graph) {
    this.inner = weightsAsInputs(graph, "float32");
  }

  get names(): readonly string[] {
    return this.inner.names;
  }

  weight(name: string, shape: readonly number[]): Tensor {
    const t = this.inner.weight(name, shape);
    this.shapes.set(name, shape);
    this.tensors.set(name, t);
    return t;
  }
}

/** Deterministic normal draws (mulberry32 + Box-Muller): training is a pure function of its seed. */
export class NormalSampler {
  private state: number;
  constructor(seed: number) {
    this.state = seed >>> 0;
  }
  uniform(): number {
    this.state = (this.state + 0x6d2b79f5) >>> 0;
    let t = this.state;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  normal(): number {
    const u = Math.max(this.uniform(), 1e-12);
    return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * this.uniform());
  }
}

/**
 * HF-style initial values: norms 1 (bias 0), biases 0, CLIP's logit_scale log(1/0.07), everything else
 * N(0, 0.02); projections into the residual stream are scaled by 1/sqrt(2 * layers) (GPT-2's rule), which
 * keeps deep-ish stacks trained from scratch stable at the first steps.
 */
export function initialValue(
  name: string,
  shape: readonly number[],
  rng: NormalSampler,
  layers: number,
): Float32Array {
  const n = shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  if (name === "logit_scale") return out.fill(Math.log(1 / 0.07));
  const isNorm = /norm|layrnorm/i.test(name);
  if (name.endsWith(".bias")) return out;
  if (isNorm) return out.fill(1);
  const residual = /(o_proj|down_proj|out_proj|fc2)\.weight$/.test(name);
  const std = 0.02 / (residual ? Math.sqrt(2 * layers) : 1);
  for (let i = 0; i < n; i++) out[i] = rng.normal() * std;
  return out;
}

export type ParameterValues = Map<string, Float32Array>;

export function initParameters(
  binding: ParameterBinding,
  seed: number,
  layers: number,
  existing?: ReadonlyMap<string, Float32Array>,
): ParameterValues {
  const rng = new NormalSampler(seed);
  const values: ParameterValues = new Map();
  for (const [name, shape] of binding.shapes) {
    values.set(name, existing?.get(name)?.slice() ?? initialValue(name, shape, rng, layers));
  }
  return values;
}

/** Feeds for every bound weight. */
export function parameterFeeds(
  binding: ParameterBinding,
  values: ParameterValues,
): Record<string, ort.Tensor> {
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, shape] of binding.shapes) feeds[name] = ortTensor("float32", values.get(name)!, shape);
  return feeds;
}

export function countParameters(
  values: ReadonlyMap<string, Float32Array>,
  filter: (name: string) => boolean = () => true,
): number {
  let n = 0;
  for (const [name, v] of values) if (filter(name)) n += v.length;
  return n;
}
