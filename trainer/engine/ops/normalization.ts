// LayerNormalization (opset 17) with its VJP. RMSNorm has no ONNX op before opset 23, so model code
// composes it from elementwise ops and reductions.

import { isFloat, ONNX_DTYPE_CODE } from "../dtype";
import { attr, type Tensor } from "../graph";
import { normalizeAxis } from "../shape";
import { only, type VjpRule } from "./common";
import { add, cast, mul, reciprocal, sqrt, sub } from "./elementwise";
import { reduceMean, sumToShape } from "./reduce";

export interface LayerNormOptions {
  /** First normalized axis; all axes from it to the last are normalized. Default -1. */
  axis?: number;
  epsilon?: number;
  name?: string;
}

/**
 * (x - mean) / sqrt(var + eps) * scale + bias over axes [axis, rank). The node also returns Mean and
 * InvStdDev (float32), which the VJP reuses for float32/16-bit inputs instead of recomputing.
 */
export function layerNormalization(
  x: Tensor,
  scale: Tensor,
  bias: Tensor | null = null,
  options: LayerNormOptions = {},
): Tensor {
  const axis = normalizeAxis(options.axis ?? -1, x.rank);
  // ORT implements only stash_type float32 (also for float64 inputs, whose Y is still computed in float64).
  const statsDtype = "float32";
  if (!isFloat(x.dtype)) throw new Error(`LayerNormalization: ${x} must be a float tensor`);
  const statsShape = x.shape.map((d, i) => (i < axis ? d : 1));
  const outputs = x.graph.addNode(
    "LayerNormalization",
    bias ? [x, scale, bias] : [x, scale],
    [
      { dtype: x.dtype, shape: x.shape },
      { dtype: statsDtype, shape: statsShape },
      { dtype: statsDtype, shape: statsShape },
    ],
    {
      axis: attr.int(axis),
      epsilon: attr.float(options.epsilon ?? 1e-5),
      stash_type: attr.int(ONNX_DTYPE_CODE.float32),
    },
    { name: options.name },
  );
  return only(outputs);
}

/**
 * With xhat = (x - mean) * invStd and g = dy * scale over the N normalized elements:
 * dx = invStd * (g - mean(g) - xhat * mean(g * xhat)); dscale = sum(dy * xhat); dbias = sum(dy).
 */
const layerNormVjp: VjpRule = (node, [dy, dMean, dInvStd], needs) => {
  if (dMean || dInvStd) throw new Error(`LayerNormalization VJP: ${node.name} uses Mean/InvStdDev outputs`);
  if (!dy) return [null, null, null].slice(0, node.inputs.length);
  const [x, scale, bias] = node.inputs as [Tensor, Tensor, Tensor | undefined];
  const [, meanOut, invStdOut] = node.outputs as [Tensor, Tensor, Tensor];
  const axis = Number(node.attrs.axis!.value);
  const axes = x.shape.map((_, i) => i).filter((i) => i >= axis);
  let mean: Tensor;
  let invStd: Tensor;
  if (x.dtype === "float64") {
    // The node's stats are float32; recompute them so float64 gradients keep float64 precision.
    mean = reduceMean(x, axes);
    const centered = sub(x, mean);
    const epsilon = Number(node.attrs.epsilon!.value);
    invStd = reciprocal(sqrt(add(reduceMean(mul(centered, centered), axes), epsilon)));
  } else {
    mean = meanOut.dtype === x.dtype ? meanOut : cast(meanOut, x.dtype);
    invStd = invStdOut.dtype === x.dtype ? invStdOut : cast(invStdOut, x.dtype);
  }
  const xhat = mul(sub(x, mean), invStd);
  const grads: (Tensor | null)[] = [null, null, null];
  if (needs[0]) {
    const g = mul(dy!, scale);
    grads[0] = mul(invStd, sub(sub(g, reduceMean(g, axes)), mul(xhat, reduceMean(mul(g, xhat), axes))));
  }
  if (needs[1]) grads[1] = sumToShape(mul(dy!, xhat), scale.shape);
  if (needs[2] && bias) grads[2] = sumToShape(dy!, bias.shape);
  return grads.slice(0, node.inputs.length);
};

export const normalizationVjps: Record<string, VjpRule> = { LayerNormalization: layerNormVjp };
