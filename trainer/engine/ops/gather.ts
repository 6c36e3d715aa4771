// Indexing ops: Gather, GatherElements (differentiable in data) and the scatters used by their VJPs.

import { attr, graphOf, type Tensor } from "../graph";
import { normalizeAxis } from "../shape";
import { only, type VjpRule } from "./common";
import { scatterAlongAxis, zerosLike } from "./shape";

/** Gather(data, indices, axis): output shape data[:axis] + indices.shape + data[axis+1:]. */
export function gather(data: Tensor, indices: Tensor, axis = 0, name?: string): Tensor {
  const ax = normalizeAxis(axis, data.rank);
  const out = [...data.shape.slice(0, ax), ...indices.shape, ...data.shape.slice(ax + 1)];
  const result = only(
    data.graph.addNode(
      "Gather",
      [data, indices],
      [{ dtype: data.dtype, shape: out }],
      { axis: attr.int(ax) },
      { name },
    ),
  );
  // Picking dims out of a Shape keeps them known.
  const dims = data.dimValues;
  const picks = indices.rank <= 1 ? indices.dimValues : undefined;
  if (dims && picks && data.rank === 1 && picks.every((p) => typeof p === "number")) {
    result.dimValues = (picks as number[]).map((p) => dims[p < 0 ? p + dims.length : p]!);
  }
  return result;
}

/** Rows picked by Gather get their gradient back by scatter-add (repeated indices accumulate). */
const gatherVjp: VjpRule = (node, [dy]) => {
  const [data, indices] = node.inputs as Tensor[];
  const axis = Number(node.attrs.axis!.value);
  return [scatterAlongAxis(zerosLike(data!), indices!, dy!, axis), null];
};

export function gatherElements(data: Tensor, indices: Tensor, axis: number, name?: string): Tensor {
  const ax = normalizeAxis(axis, data.rank);
  return only(
    data.graph.addNode(
      "GatherElements",
      [data, indices],
      [{ dtype: data.dtype, shape: indices.shape }],
      { axis: attr.int(ax) },
      { name },
    ),
  );
}

const gatherElementsVjp: VjpRule = (node, [dy]) => {
  const [data, indices] = node.inputs as Tensor[];
  const axis = Number(node.attrs.axis!.value);
  return [scatterElements(zerosLike(data!), indices!, dy!, axis, "add"), null];
};

export type ScatterReduction = "none" | "add" | "mul" | "max" | "min";

export function scatterND(
  data: Tensor,
  indices: Tensor,
  updates: Tensor,
  reduction: ScatterReduction = "none",
  name?: string,
): Tensor {
  const g = graphOf(data, indices, updates);
  return only(
    g.addNode(
      "ScatterND",
      [data, indices, updates],
      [{ dtype: data.dtype, shape: data.shape }],
      { reduction: attr.string(reduction) },
      { name },
    ),
  );
}

export function scatterElements(
  data: Tensor,
  indices: Tensor,
  updates: Tensor,
  axis: number,
  reduction: ScatterReduction = "none",
  name?: string,
): Tensor {
  const ax = normalizeAxis(axis, data.rank);
  return only(
    data.graph.addNode(
      "ScatterElements",
      [data, indices, updates],
      [{ dtype: data.dtype, shape: data.shape }],
      { axis: attr.int(ax), reduction: attr.string(reduction) },
      { name },
    ),
  );
}

/** GatherND (batch_dims 0): indices [..., k] address the first k axes of data. */
export function gatherND(data: Tensor, indices: Tensor, name?: string): Tensor {
  const k = indices.shape[indices.rank - 1];
  if (typeof k !== "number") throw new Error(`GatherND: the last dim of ${indices} must be static`);
  const out = [...indices.shape.slice(0, -1), ...data.shape.slice(k)];
  return only(
    data.graph.addNode("GatherND", [data, indices], [{ dtype: data.dtype, shape: out }], {}, { name }),
  );
}

/** The data side of GatherND is the scatter-add of dy into zeros. */
const gatherNDVjp: VjpRule = (node, [dy]) => {
  const [data, indices] = node.inputs as Tensor[];
  return [scatterND(zerosLike(data!), indices!, dy!, "add"), null];
};

function reductionOf(node: { attrs: Record<string, { value: unknown }> }): string {
  return String(node.attrs.reduction?.value ?? "none");
}

/**
 * Splicing rows in (reduction none): overwritten entries of data get no gradient, updates get dy at their
 * positions. With reduction add, data passes dy through unchanged. (Duplicate indices under "none" have
 * no well-defined gradient.)
 */
const scatterNDVjp: VjpRule = (node, [dy], needs) => {
  const [, indices, updates] = node.inputs as Tensor[];
  const reduction = reductionOf(node);
  if (reduction !== "none" && reduction !== "add")
    throw new Error(`ScatterND VJP: reduction ${reduction} is not supported`);
  return [
    needs[0] ? (reduction === "add" ? dy! : scatterND(dy!, indices!, zerosLike(updates!))) : null,
    null,
    needs[2] ? gatherND(dy!, indices!) : null,
  ];
};

const scatterElementsVjp: VjpRule = (node, [dy], needs) => {
  const [, indices, updates] = node.inputs as Tensor[];
  const axis = Number(node.attrs.axis!.value);
  const reduction = reductionOf(node);
  if (reduction !== "none" && reduction !== "add") {
    throw new Error(`ScatterElements VJP: reduction ${reduction} is not supported`);
  }
  return [
    needs[0] ? (reduction === "add" ? dy! : scatterElements(dy!, indices!, zerosLike(updates!), axis)) : null,
    null,
    needs[2] ? gatherElements(dy!, indices!, axis) : null,
  ];
};

export const gatherVjps: Record<string, VjpRule> = {
  Gather: gatherVjp,
  GatherElements: gatherElementsVjp,
  GatherND: gatherNDVjp,
  ScatterND: scatterNDVjp,
  ScatterElements: scatterElementsVjp,
};
