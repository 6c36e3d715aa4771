// Conv (explicit pads, any spatial rank) and ConvTranspose, with Conv's VJP for group = 1.

import { attr, type Tensor } from "../graph";
import type { Dim } from "../shape";
import { only, type VjpRule } from "./common";
import { reduceSum } from "./reduce";
import { slice, transpose } from "./shape";

export interface ConvOptions {
  strides?: readonly number[];
  /** [begin_0, begin_1, ..., end_0, end_1, ...] as in ONNX. */
  pads?: readonly number[];
  dilations?: readonly number[];
  group?: number;
  name?: string;
}

interface ConvParams {
  strides: number[];
  pads: number[];
  dilations: number[];
  group: number;
  kernel: number[];
}

function convParams(w: Tensor, options: ConvOptions): ConvParams {
  const spatial = w.rank - 2;
  const kernel = w.shape.slice(2).map((d) => {
    if (typeof d !== "number") throw new Error(`Conv: kernel dims must be static, got ${w}`);
    return d;
  });
  return {
    strides: [...(options.strides ?? Array(spatial).fill(1))],
    pads: [...(options.pads ?? Array(spatial * 2).fill(0))],
    dilations: [...(options.dilations ?? Array(spatial).fill(1))],
    group: options.group ?? 1,
    kernel,
  };
}

function convOutDim(size: Dim, p: ConvParams, i: number): Dim {
  const spatial = p.kernel.length;
  if (typeof size !== "number") return `conv(${size})`;
  const span = p.dilations[i]! * (p.kernel[i]! - 1) + 1;
  return Math.floor((size + p.pads[i]! + p.pads[i + spatial]! - span) / p.strides[i]!) + 1;
}

function convAttrs(p: ConvParams) {
  return {
    kernel_shape: attr.ints(p.kernel),
    strides: attr.ints(p.strides),
    pads: attr.ints(p.pads),
    dilations: attr.ints(p.dilations),
    group: attr.int(p.group),
  };
}

/** x [N, C, ...spatial], w [O, C/group, ...kernel], bias [O]. */
export function conv(x: Tensor, w: Tensor, bias: Tensor | null = null, options: ConvOptions = {}): Tensor {
  const p = convParams(w, options);
  const out: Dim[] = [x.shape[0]!, w.shape[0]!, ...x.shape.slice(2).map((d, i) => convOutDim(d, p, i))];
  const inputs = bias ? [x, w, bias] : [x, w];
  return only(
    x.graph.addNode("Conv", inputs, [{ dtype: x.dtype, shape: out }], convAttrs(p), { name: options.name }),
  );
}

export interface ConvTransposeOptions extends ConvOptions {
  outputPadding?: readonly number[];
}

/** x [N, C, ...], w [C, O/group, ...kernel]. */
export function convTranspose(x: Tensor, w: Tensor, options: ConvTransposeOptions = {}): Tensor {
  const p = convParams(w, options);
  const spatial = p.kernel.length;
  const outputPadding = [...(options.outputPadding ?? Array(spatial).fill(0))];
  const out: Dim[] = [
    x.shape[0]!,
    typeof w.shape[1] === "number" ? w.shape[1] * p.group : w.shape[1]!,
    ...x.shape
      .slice(2)
      .map((d, i) =>
        typeof d === "number"
          ? p.strides[i]! * (d - 1) +
            outputPadding[i]! +
            (p.kernel[i]! - 1) * p.dilations[i]! +
            1 -
            p.pads[i]! -
            p.pads[i + spatial]!
          : `convT(${d})`,
      ),
  ];
  return only(
    x.graph.addNode(
      "ConvTranspose",
      [x, w],
      [{ dtype: x.dtype, shape: out }],
      { ...convAttrs(p), output_padding: attr.ints(outputPadding) },
      {
        name: options.name,
      },
    ),
  );
}

function attrInts(node: { attrs: Record<string, { value: unknown }> }, key: string): number[] {
  return (node.attrs[key]!.value as (number | bigint)[]).map(Number);
}

/**
 * dx is a ConvTranspose of dy with the same weights; dw is a Conv of x (channels and batch swapped) with dy
 * as the kernel, strides and dilations exchanged, cropped to the kernel size; dbias sums dy.
 */
const convVjp: VjpRule = (node, [dy], needs) => {
  const [x, w, bias] = node.inputs as [Tensor, Tensor, Tensor | undefined];
  const p: ConvParams = {
    kernel: attrInts(node, "kernel_shape"),
    strides: attrInts(node, "strides"),
    pads: attrInts(node, "pads"),
    dilations: attrInts(node, "dilations"),
    group: Number(node.attrs.group!.value),
  };
  if (p.group !== 1) throw new Error(`Conv VJP: group ${p.group} is not supported (only group = 1)`);
  const spatial = p.kernel.length;
  const grads: (Tensor | null)[] = [null, null, null];
  if (needs[0]) {
    // output_padding restores the input size that the forward stride rounded away.
    const outputPadding = x.shape.slice(2).map((d, i) => {
      const o = dy!.shape[i + 2];
      if (typeof d !== "number" || typeof o !== "number") return 0;
      return (
        d -
        (p.strides[i]! * (o - 1) +
          (p.kernel[i]! - 1) * p.dilations[i]! +
          1 -
          p.pads[i]! -
          p.pads[i + spatial]!)
      );
    });
    grads[0] = convTranspose(dy!, w, { ...p, outputPadding });
  }
  if (needs[1]) {
    const swap = [1, 0, ...Array.from({ length: spatial }, (_, i) => i + 2)];
    const raw = conv(transpose(x, swap), transpose(dy!, swap), null, {
      strides: p.dilations,
      dilations: p.strides,
      pads: p.pads,
    });
    const cropped = slice(
      raw,
      p.kernel.map(() => 0),
      p.kernel,
      p.kernel.map((_, i) => i + 2),
    );
    grads[1] = transpose(cropped, swap);
  }
  if (needs[2] && bias) {
    grads[2] = reduceSum(dy!, [0, ...Array.from({ length: spatial }, (_, i) => i + 2)], { keepdims: false });
  }
  return grads.slice(0, node.inputs.length);
};

export const convVjps: Record<string, VjpRule> = { Conv: convVjp };
