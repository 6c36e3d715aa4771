// Movement and shape ops (Transpose, Reshape, Unsqueeze, Squeeze, Concat, Split, Slice, Expand) with
// their VJPs, plus the non-differentiable shape helpers (Shape, Size, Range, ConstantOfShape, Trilu).

import { typedArrayOf } from "../dtype";
import { attr, type Graph, graphOf, type Node, type Shape, type Tensor } from "../graph";
import { broadcastShapes, type Dim, dimQuotient, isStatic, normalizeAxis } from "../shape";
import { constantInts, int64s, only, type VjpRule } from "./common";
import { sub } from "./elementwise";
import { gather, scatterND } from "./gather";
import { sumToShape } from "./reduce";

const INT64_MAX = 2 ** 63 - 1;
let freshDimCount = 0;
/** A new symbolic dim for sizes only known at run time. */
export function freshDim(prefix: string): string {
  return `${prefix}_${freshDimCount++}`;
}

export function shape(x: Tensor, name?: string): Tensor {
  const out = only(x.graph.addNode("Shape", [x], [{ dtype: "int64", shape: [x.rank] }], {}, { name }));
  out.dimValues = x.shape;
  return out;
}

export function size(x: Tensor, name?: string): Tensor {
  return only(x.graph.addNode("Size", [x], [{ dtype: "int64", shape: [] }], {}, { name }));
}

/** Carries known dim values through ops that only rearrange an int64 shape tensor. */
function withDimValues(t: Tensor, values: readonly Dim[] | undefined): Tensor {
  t.dimValues = values;
  return t;
}

/** The shape of `x` as an int64 tensor: a constant when static, else a Shape node. */
export function shapeTensor(x: Tensor): Tensor {
  return isStatic(x.shape) ? int64s(x.graph, x.shape) : shape(x);
}

export function transpose(x: Tensor, perm?: readonly number[], name?: string): Tensor {
  const p = perm ?? x.shape.map((_, i) => x.rank - 1 - i);
  if (p.length !== x.rank) throw new Error(`Transpose: perm ${p} for ${x}`);
  const out = p.map((i) => x.shape[i]!);
  return only(
    x.graph.addNode("Transpose", [x], [{ dtype: x.dtype, shape: out }], { perm: attr.ints(p) }, { name }),
  );
}

const transposeVjp: VjpRule = (node, [dy]) => {
  const perm = node.attrs.perm!.value as number[];
  const inverse: number[] = [];
  perm.forEach((p, i) => {
    inverse[p] = i;
  });
  return [transpose(dy!, inverse)];
};

export interface ReshapeOptions {
  name?: string;
  /** Output shape, required when `spec` is a runtime tensor. */
  shape?: Shape;
}

/**
 * Reshape to `spec`: numbers with ONNX meaning (0 copies the input dim, -1 is inferred), or symbolic names
 * found in the input shape (taken from Shape(x) at run time), or an int64 shape tensor with `options.shape`.
 */
export function reshape(x: Tensor, spec: readonly Dim[] | Tensor, options: ReshapeOptions = {}): Tensor {
  const g = x.graph;
  let shapeInput: Tensor;
  let out: Dim[];
  if (!Array.isArray(spec)) {
    shapeInput = spec as Tensor;
    const known = options.shape ?? shapeInput.dimValues?.map((d, i) => (d === 0 ? x.shape[i]! : d));
    if (!known || known.includes(-1)) throw new Error("Reshape: a runtime shape tensor needs options.shape");
    out = [...known];
  } else {
    const dims = spec as readonly Dim[];
    out = dims.map((d, i) => (d === 0 ? x.shape[i]! : d));
    const inferred = out.indexOf(-1);
    if (inferred >= 0) {
      const q = dimQuotient(
        x.shape,
        out.filter((_, i) => i !== inferred),
      );
      out[inferred] = q ?? freshDim("reshape");
    }
    if (dims.every((d) => typeof d === "number")) {
      shapeInput = int64s(g, dims as number[]);
    } else {
      const parts = dims.map((d, i) => {
        if (typeof d === "number") return int64s(g, [d]);
        if (x.shape[i] === d) return int64s(g, [0]);
        const j = x.shape.indexOf(d);
        if (j < 0) throw new Error(`Reshape: symbolic dim ${d} is not in ${x}`);
        return gather(shape(x), int64s(g, [j]), 0);
      });
      shapeInput = concat(parts, 0);
    }
  }
  if (options.shape) out = [...options.shape];
  const result = g.addNode(
    "Reshape",
    [x, shapeInput],
    [{ dtype: x.dtype, shape: out }],
    {},
    { name: options.name },
  );
  return withDimValues(only(result), x.dimValues);
}

/** Reshape `x` to the (possibly symbolic) shape of `like`. */
export function reshapeLike(x: Tensor, like: Tensor | Shape, name?: string): Tensor {
  const target = Array.isArray(like) ? (like as Shape) : (like as Tensor).shape;
  if (target.length === x.rank && target.every((d, i) => d === x.shape[i])) return x;
  if (isStatic(target)) return reshape(x, target, { name });
  if (Array.isArray(like)) {
    // Symbolic target given as dims: copy matching positions, take the rest from the input's Shape.
    return reshape(x, target, { name });
  }
  return reshape(x, shape(like as Tensor), { name, shape: target });
}

const reshapeVjp: VjpRule = (node, [dy]) => [reshapeLike(dy!, node.inputs[0]!)];

export function unsqueeze(x: Tensor, axes: readonly number[], name?: string): Tensor {
  const rank = x.rank + axes.length;
  const norm = axes.map((a) => normalizeAxis(a, rank)).sort((a, b) => a - b);
  const out: Dim[] = [];
  let src = 0;
  for (let i = 0; i < rank; i++) out.push(norm.includes(i) ? 1 : x.shape[src++]!);
  const result = x.graph.addNode(
    "Unsqueeze",
    [x, int64s(x.graph, norm)],
    [{ dtype: x.dtype, shape: out }],
    {},
    { name },
  );
  return withDimValues(only(result), x.dimValues);
}

export function squeeze(x: Tensor, axes: readonly number[], name?: string): Tensor {
  const norm = axes.map((a) => normalizeAxis(a, x.rank));
  for (const a of norm) {
    if (x.shape[a] !== 1 && typeof x.shape[a] === "number")
      throw new Error(`Squeeze: axis ${a} of ${x} is not 1`);
  }
  const out = x.shape.filter((_, i) => !norm.includes(i));
  const result = x.graph.addNode(
    "Squeeze",
    [x, int64s(x.graph, norm)],
    [{ dtype: x.dtype, shape: out }],
    {},
    { name },
  );
  return withDimValues(only(result), x.dimValues);
}

/** Unsqueeze and Squeeze only insert or drop unit axes, so their VJP is the opposite op. */
const unsqueezeVjp: VjpRule = (node, [dy]) => [squeeze(dy!, constantInts(node.inputs[1])!)];
const squeezeVjp: VjpRule = (node, [dy]) => [unsqueeze(dy!, constantInts(node.inputs[1])!)];

function sumDims(dims: Dim[]): Dim {
  if (dims.every((d) => typeof d === "number")) return (dims as number[]).reduce((a, b) => a + b, 0);
  return dims.join("+");
}

export function concat(xs: readonly Tensor[], axis: number, name?: string): Tensor {
  const first = xs[0]!;
  const ax = normalizeAxis(axis, first.rank);
  for (const x of xs) {
    if (
      x.rank !== first.rank ||
      x.dtype !== first.dtype ||
      x.shape.some((d, i) => i !== ax && d !== first.shape[i])
    ) {
      throw new Error(`Concat: ${x} does not match ${first} outside axis ${ax}`);
    }
  }
  const out = first.shape.map((d, i) => (i === ax ? sumDims(xs.map((x) => x.shape[ax]!)) : d));
  const values =
    first.rank === 1 && xs.every((x) => x.dimValues) ? xs.flatMap((x) => x.dimValues!) : undefined;
  return withDimValues(
    only(
      first.graph.addNode(
        "Concat",
        [...xs],
        [{ dtype: first.dtype, shape: out }],
        { axis: attr.int(ax) },
        { name },
      ),
    ),
    values,
  );
}

/** Sizes of `xs` along `axis` as an int64 tensor (constant when known). */
function sizesAlong(g: Graph, xs: readonly Tensor[], axis: number): Tensor {
  const dims = xs.map((x) => x.shape[axis]!);
  if (dims.every((d) => typeof d === "number")) return int64s(g, dims as number[]);
  return concat(
    xs.map((x) => gather(shape(x), int64s(g, [axis]), 0)),
    0,
  );
}

const concatVjp: VjpRule = (node, [dy]) => {
  const axis = Number(node.attrs.axis!.value);
  const inputs = node.inputs as Tensor[];
  const parts = split(dy!, axis, sizesAlong(node.outputs[0]!.graph, inputs, axis), {
    shapes: inputs.map((x) => x.shape),
  });
  return parts;
};

export interface SplitOptions {
  name?: string;
  /** Output shapes, required when `sizes` is a runtime tensor. */
  shapes?: Shape[];
}

/** Split along `axis` into parts of the given sizes (numbers or an int64 tensor). */
export function split(
  x: Tensor,
  axis: number,
  sizes: readonly number[] | Tensor,
  options: SplitOptions = {},
): Tensor[] {
  const ax = normalizeAxis(axis, x.rank);
  const g = x.graph;
  let sizesInput: Tensor;
  let shapes: Shape[];
  if (Array.isArray(sizes)) {
    const list = sizes as readonly number[];
    sizesInput = int64s(g, list);
    shapes = list.map((s) => x.shape.map((d, i) => (i === ax ? s : d)));
  } else {
    sizesInput = sizes as Tensor;
    if (!options.shapes) throw new Error("Split: runtime sizes need options.shapes");
    shapes = options.shapes;
  }
  if (options.shapes) shapes = options.shapes;
  return g.addNode(
    "Split",
    [x, sizesInput],
    shapes.map((s) => ({ dtype: x.dtype, shape: s })),
    { axis: attr.int(ax) },
    { name: options.name },
  );
}

const splitVjp: VjpRule = (node, dys) => {
  const axis = Number(node.attrs.axis!.value);
  const parts = dys.map((dy, i) => dy ?? zerosLike(node.outputs[i]!));
  return [concat(parts, axis), null];
};

export interface SliceOptions {
  name?: string;
  /** Output shape when it cannot be inferred statically. */
  shape?: Shape;
}

/** ONNX Slice with constant starts/ends/axes/steps (numbers) or runtime int64 tensors for starts/ends. */
export function slice(
  x: Tensor,
  starts: readonly number[] | Tensor,
  ends: readonly number[] | Tensor,
  axes?: readonly number[],
  steps?: readonly number[],
  options: SliceOptions = {},
): Tensor {
  const g = x.graph;
  const startList = Array.isArray(starts) ? (starts as readonly number[]) : undefined;
  const endList = Array.isArray(ends) ? (ends as readonly number[]) : undefined;
  const n = startList?.length ?? endList?.length ?? axes?.length;
  if (n === undefined) throw new Error("Slice: give axes when starts and ends are tensors");
  const axisList = (axes ?? Array.from({ length: n }, (_, i) => i)).map((a) => normalizeAxis(a, x.rank));
  const stepList = steps ?? axisList.map(() => 1);
  const out: Dim[] = [...x.shape];
  axisList.forEach((axis, i) => {
    out[axis] = sliceDim(x.shape[axis]!, startList?.[i], endList?.[i], stepList[i]!);
  });
  const inputs = [
    startList ? int64s(g, startList) : (starts as Tensor),
    endList ? int64s(g, endList) : (ends as Tensor),
    int64s(g, axisList),
    int64s(g, stepList),
  ];
  return only(
    g.addNode("Slice", [x, ...inputs], [{ dtype: x.dtype, shape: options.shape ?? out }], {}, options),
  );
}

function sliceDim(dim: Dim, start: number | undefined, end: number | undefined, step: number): Dim {
  if (start === undefined || end === undefined) return freshDim("slice");
  if (typeof dim !== "number") {
    // Slicing a symbolic dim from 0 to the end keeps it; anything else depends on its value.
    return start === 0 && end >= INT64_MAX / 2 && step === 1 ? dim : freshDim("slice");
  }
  const clamp = (v: number, lo: number, hi: number) => Math.min(Math.max(v, lo), hi);
  const s =
    step > 0
      ? clamp(start < 0 ? start + dim : start, 0, dim)
      : clamp(start < 0 ? start + dim : start, -1, dim - 1);
  const e =
    step > 0 ? clamp(end < 0 ? end + dim : end, 0, dim) : clamp(end < 0 ? end + dim : end, -1, dim - 1);
  return Math.max(0, Math.ceil((e - s) / step));
}

/**
 * Zero padding of the given axes: `begins[i]`/`afters[i]` (int64 [1] tensors) pad `axes[i]`.
 * Emitted as full-rank pads without Pad's optional `axes` input: onnxruntime 1.30's transpose optimizer
 * permutes `pads` as if it covered every axis, which breaks (out-of-range Gather) when `axes` is given.
 */
export function pad(
  x: Tensor,
  axes: readonly number[],
  begins: readonly Tensor[],
  afters: readonly Tensor[],
  outShape: Shape,
  name?: string,
): Tensor {
  const g = x.graph;
  const zero = int64s(g, [0]);
  const full = (amounts: readonly Tensor[]) =>
    x.shape.map((_, axis) => {
      const i = axes.indexOf(axis);
      return i < 0 ? zero : amounts[i]!;
    });
  const pads = concat([...full(begins), ...full(afters)], 0);
  const fill = g.constant(x.dtype, [0], []);
  return only(g.addNode("Pad", [x, pads, fill], [{ dtype: x.dtype, shape: outShape }], {}, { name }));
}

/** Constant-mode Pad with non-negative pads: the gradient is dy cropped back to the input's extent. */
const padVjp: VjpRule = (node, [dy]) => {
  const [x, pads] = node.inputs as Tensor[];
  const mode = String(node.attrs.mode?.value ?? "constant");
  if (mode !== "constant" || node.inputs[3])
    throw new Error(`Pad VJP: only constant mode without axes (${node.name})`);
  const rank = x!.rank;
  const begins = slice(pads!, [0], [rank], [0], [1], { shape: [rank] });
  const afters = slice(pads!, [rank], [2 * rank], [0], [1], { shape: [rank] });
  const ends = sub(shape(dy!), afters);
  const all = Array.from({ length: rank }, (_, i) => i);
  return [slice(dy!, begins, ends, all, undefined, { shape: x!.shape }), null, null];
};

/**
 * Unit-step slices with constant bounds have a cheap VJP: zero-pad dy back to the input size. The pad
 * amounts are constants for static dims, else computed from Shape at run time. Undefined when the
 * bounds are runtime tensors, steps are not 1, or a negative bound meets a symbolic dim it may exceed.
 */
function slicePadVjp(
  x: Tensor,
  dy: Tensor,
  axes: number[],
  starts?: number[],
  ends?: number[],
  steps?: number[],
): Tensor | undefined {
  if (!starts || !ends || !steps || steps.some((s) => s !== 1)) return undefined;
  const g = x.graph;
  const begins: Tensor[] = [];
  const afters: Tensor[] = [];
  for (const [i, axis] of axes.entries()) {
    const dim = x.shape[axis]!;
    const start = starts[i]!;
    const end = ends[i]!;
    const toEnd = end >= INT64_MAX / 2;
    if (typeof dim === "number") {
      const s = Math.min(Math.max(start < 0 ? start + dim : start, 0), dim);
      const e = Math.min(Math.max(end < 0 ? end + dim : end, 0), dim);
      begins.push(int64s(g, [s]));
      afters.push(int64s(g, [dim - Math.max(e, s)]));
      continue;
    }
    // Symbolic dim: dimX - dimY is how much was cut; split it into before and after.
    const cut = sub(axisDim(x, axis), axisDim(dy, axis));
    if (start >= 0) {
      begins.push(int64s(g, [start]));
      afters.push(sub(cut, start));
    } else if (toEnd) {
      begins.push(cut);
      afters.push(int64s(g, [0]));
    } else {
      return undefined;
    }
  }
  return pad(dy, axes, begins, afters, x.shape);
}

/**
 * Slice's VJP: zero padding when the bounds allow it, else scatter dy back one sliced axis at a time (last
 * first): along one axis a slice is a Gather with indices Slice(Range(0, dim)), whose VJP is a scatter-add.
 */
const sliceVjp: VjpRule = (node, [dy]) => {
  const [input, startsT, endsT, axesIn, stepsIn] = node.inputs as Tensor[];
  const padded = slicePadVjp(
    input!,
    dy!,
    constantInts(axesIn)!,
    constantInts(startsT),
    constantInts(endsT),
    constantInts(stepsIn),
  );
  if (padded) return [padded, null, null, null, null];
  return sliceScatterVjp(node, [dy!]);
};

function sliceScatterVjp(node: Node, [dy]: Tensor[]): (Tensor | null)[] {
  const g = dy!.graph;
  const [x, starts, ends, axesT, stepsT] = node.inputs as Tensor[];
  const axes = constantInts(axesT)!;
  const steps = constantInts(stepsT)!;
  // Shapes after slicing the first k axes, k = 0..n, to know what each step scatters into.
  const partial: Tensor[] = [x!];
  const zeros = zerosLike(x!);
  let current = zeros;
  for (let i = 0; i < axes.length - 1; i++) {
    current = slice(current, elementOf(starts!, i), elementOf(ends!, i), [axes[i]!], [steps[i]!], {
      shape: x!.shape.map((d, j) => (axes.slice(0, i + 1).includes(j) ? node.outputs[0]!.shape[j]! : d)),
    });
    partial.push(current);
  }
  let grad = dy!;
  for (let i = axes.length - 1; i >= 0; i--) {
    const into = partial[i]!;
    const axis = axes[i]!;
    const dim = axisDim(into, axis);
    const positions = slice(
      range(int64s(g, [0]), dim, int64s(g, [1])),
      elementOf(starts!, i),
      elementOf(ends!, i),
      [0],
      [steps[i]!],
      { shape: [grad.shape[axis]!] },
    );
    grad = scatterAlongAxis(zerosLike(into), positions, grad, axis);
  }
  return [grad, null, null, null, null];
}

/** Element i of a 1-D int64 tensor as a [1] tensor (a constant when `t` is one). */
function elementOf(t: Tensor, i: number): Tensor {
  const values = constantInts(t);
  return values ? int64s(t.graph, [values[i]!]) : gather(t, int64s(t.graph, [i]), 0);
}

/** Size of `x` along `axis` as an int64 tensor of shape [1]: a constant when static, else from Shape(x). */
export function dim(x: Tensor, axis: number): Tensor {
  const a = normalizeAxis(axis, x.rank);
  const d = x.shape[a]!;
  return typeof d === "number" ? int64s(x.graph, [d]) : gather(shape(x), int64s(x.graph, [a]), 0);
}

const axisDim = dim;

/**
 * zeros.index_add(axis, positions, updates): the data-side VJP of Gather along `axis` with 1-D or N-D
 * indices. Moves `axis` to the front so ScatterND (reduction add) can address whole slices.
 */
export function scatterAlongAxis(zeros: Tensor, positions: Tensor, updates: Tensor, axis: number): Tensor {
  const r = zeros.rank;
  const ir = positions.rank;
  const toFront = [axis, ...Array.from({ length: r }, (_, i) => i).filter((i) => i !== axis)];
  const fromFront: number[] = [];
  toFront.forEach((p, i) => {
    fromFront[p] = i;
  });
  // updates has shape data[:axis] + indices.shape + data[axis+1:]; bring the index axes to the front.
  const updatesPerm = [
    ...Array.from({ length: ir }, (_, i) => axis + i),
    ...Array.from({ length: axis }, (_, i) => i),
    ...Array.from({ length: r - axis - 1 }, (_, i) => axis + ir + i),
  ];
  const frontZeros = axis === 0 ? zeros : transpose(zeros, toFront);
  const frontUpdates = axis === 0 ? updates : transpose(updates, updatesPerm);
  const scattered = scatterND(frontZeros, unsqueeze(positions, [-1]), frontUpdates, "add");
  return axis === 0 ? scattered : transpose(scattered, fromFront);
}

export function expand(x: Tensor, target: readonly Dim[] | Tensor, options: ReshapeOptions = {}): Tensor {
  const g = x.graph;
  let shapeInput: Tensor;
  let out: Dim[];
  if (Array.isArray(target)) {
    const dims = target as readonly Dim[];
    out = broadcastShapes(x.shape, dims);
    // A symbolic target dim is expressed as 1 (keep) where the input already has it.
    const offset = dims.length - x.rank;
    const spec = dims.map((d, i) => {
      if (typeof d === "number") return d;
      if (x.shape[i - offset] === d) return 1;
      throw new Error(`Expand: symbolic dim ${d} must already be in ${x}; pass a shape tensor instead`);
    });
    shapeInput = int64s(g, spec);
  } else {
    shapeInput = target as Tensor;
    const known = options.shape ?? shapeInput.dimValues;
    if (!known) throw new Error("Expand: a runtime shape tensor needs options.shape");
    out = broadcastShapes(x.shape, known);
  }
  return only(
    g.addNode("Expand", [x, shapeInput], [{ dtype: x.dtype, shape: out }], {}, { name: options.name }),
  );
}

/** Expand `x` to the shape of `like` (which must be a broadcast of x's shape). */
export function expandLike(x: Tensor, like: Tensor): Tensor {
  if (x.rank === like.rank && x.shape.every((d, i) => d === like.shape[i])) return x;
  if (isStatic(like.shape)) return expand(x, like.shape);
  return expand(x, shape(like), { shape: like.shape });
}

const expandVjp: VjpRule = (node, [dy]) => [sumToShape(dy!, node.inputs[0]!.shape), null];

/**
 * ConstantOfShape: a tensor filled with the scalar constant `value`, of the runtime shape `shapeInput`.
 * The static shape is `outShape`, else the shape tensor's known dims (e.g. from shape(x)).
 */
export function constantOfShape(shapeInput: Tensor, value: Tensor, outShape?: Shape, name?: string): Tensor {
  const c = value.graph.constantValue(value);
  if (!c) throw new Error("ConstantOfShape: value must be a constant");
  const known = outShape ?? shapeInput.dimValues;
  if (!known) throw new Error("ConstantOfShape: pass outShape when the shape tensor's values are unknown");
  return only(
    value.graph.addNode(
      "ConstantOfShape",
      [shapeInput],
      [{ dtype: value.dtype, shape: known }],
      { value: attr.tensor({ dtype: c.dtype, shape: [1], data: c.data }) },
      { name },
    ),
  );
}

export function zerosLike(x: Tensor): Tensor {
  const g = x.graph;
  return only(
    g.addNode(
      "ConstantOfShape",
      [shapeTensor(x)],
      [{ dtype: x.dtype, shape: x.shape }],
      { value: attr.tensor({ dtype: x.dtype, shape: [1], data: typedArrayOf(x.dtype, [0]) }) },
      { name: "ZerosLike" },
    ),
  );
}

/** Range(start, limit, delta) over scalar or [1]-shaped int64/float tensors. */
export function range(start: Tensor, limit: Tensor, delta: Tensor, name?: string): Tensor {
  const g = graphOf(start, limit, delta);
  const scalarOf = (t: Tensor) => (t.rank === 0 ? t : reshape(t, []));
  const [s, l, d] = [scalarOf(start), scalarOf(limit), scalarOf(delta)];
  const [cs, cl, cd] = [s.dimValues?.[0], l.dimValues?.[0], d.dimValues?.[0]];
  let len: Dim;
  if (typeof cs === "number" && typeof cl === "number" && typeof cd === "number") {
    len = Math.max(0, Math.ceil((cl - cs) / cd));
  } else if (cs === 0 && cd === 1 && cl !== undefined) {
    len = cl;
  } else {
    len = freshDim("range");
  }
  return only(g.addNode("Range", [s, l, d], [{ dtype: s.dtype, shape: [len] }], {}, { name }));
}

/** Lower (upper=false) or upper triangle of the last two dims, offset by k. */
export function trilu(x: Tensor, upper: boolean, k = 0, name?: string): Tensor {
  return only(
    x.graph.addNode(
      "Trilu",
      [x, int64s(x.graph, [k])],
      [{ dtype: x.dtype, shape: x.shape }],
      { upper: attr.int(upper) },
      { name },
    ),
  );
}

/** Trilu is linear and masks the same entries of dy. */
const triluVjp: VjpRule = (node, [dy]) => {
  const k = constantInts(node.inputs[1])?.[0] ?? 0;
  return [trilu(dy!, Number(node.attrs.upper?.value ?? 1) === 1, k), null];
};

export function identity(x: Tensor, name?: string): Tensor {
  return only(x.graph.addNode("Identity", [x], [{ dtype: x.dtype, shape: x.shape }], {}, { name }));
}

const identityVjp: VjpRule = (_node, [dy]) => [dy!];

export function flatten(x: Tensor, axis = 1, name?: string): Tensor {
  const ax = normalizeAxis(axis, x.rank + 1);
  const out = [dimProductOf(x.shape.slice(0, ax)), dimProductOf(x.shape.slice(ax))];
  return only(
    x.graph.addNode("Flatten", [x], [{ dtype: x.dtype, shape: out }], { axis: attr.int(ax) }, { name }),
  );
}

function dimProductOf(dims: Shape): Dim {
  return dimQuotient(dims, []) ?? freshDim("flatten");
}

export const shapeVjps: Record<string, VjpRule> = {
  Transpose: transposeVjp,
  Reshape: (node, dys) => [...reshapeVjp(node, dys, []), null],
  Flatten: reshapeVjp,
  Unsqueeze: (node, dys) => [...unsqueezeVjp(node, dys, []), null],
  Squeeze: (node, dys) => [...squeezeVjp(node, dys, []), null],
  Concat: concatVjp,
  Split: splitVjp,
  Slice: sliceVjp,
  Pad: padVjp,
  Expand: expandVjp,
  Trilu: triluVjp,
  Identity: identityVjp,
};
