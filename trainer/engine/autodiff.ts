// Reverse-mode autodiff over an engine graph. Appends the backward nodes to the same graph, so one
// InferenceSession.run returns the loss and the gradients.

import { isFloat } from "./dtype";
import type { Graph, Node, Tensor } from "./graph";
import { constantOfShape, shapeTensor, sum, VJP_RULES, zerosLike } from "./ops/index";
import { formatShape, isStatic, sameShape } from "./shape";

export interface GradientOptions {
  /** Mark loss and gradients as graph outputs (default true). */
  addOutputs?: boolean;
  /** Name of the loss output (default "loss"). */
  lossName?: string;
  /** Gradient of the loss to start from (default ones); lets a caller chain or scale the backward. */
  seed?: Tensor;
}

/** Output name of the gradient of `t`. */
export function gradientName(t: Tensor): string {
  return `grad/${t.name}`;
}

/**
 * d(loss)/d(wrt) for each tensor in `wrt` (graph inputs or any float tensor). Only nodes on a path from a
 * wrt tensor to the loss get a backward; everything else (shapes, masks, positions, frozen branches) is
 * left alone. A wrt tensor that does not reach the loss gets zeros. Outputs are named `loss` and
 * `grad/<tensor name>`.
 */
export function gradients(
  graph: Graph,
  loss: Tensor,
  wrt: readonly Tensor[],
  options: GradientOptions = {},
): Tensor[] {
  if (!isFloat(loss.dtype)) throw new Error(`loss ${loss} must be a float tensor`);
  for (const t of wrt) {
    if (t.graph !== graph) throw new Error(`${t} belongs to another graph`);
    if (!isFloat(t.dtype)) throw new Error(`cannot differentiate with respect to ${t}`);
  }

  // Forward: float tensors that depend on some wrt tensor.
  const dependsOnWrt = new Set<Tensor>(wrt);
  for (const node of graph.nodes) {
    if (node.inputs.some((i) => i !== null && dependsOnWrt.has(i))) {
      for (const o of node.outputs) if (isFloat(o.dtype)) dependsOnWrt.add(o);
    }
  }
  // Backward: tensors the loss depends on.
  const reachesLoss = new Set<Tensor>([loss]);
  for (let n = graph.nodes.length - 1; n >= 0; n--) {
    const node = graph.nodes[n]!;
    if (node.outputs.some((o) => reachesLoss.has(o))) for (const i of node.inputs) if (i) reachesLoss.add(i);
  }
  const isActive = (t: Tensor | null): t is Tensor => t !== null && dependsOnWrt.has(t) && reachesLoss.has(t);

  const contributions = new Map<Tensor, Tensor[]>();
  const addContribution = (t: Tensor, grad: Tensor, from: Node | null) => {
    if (
      grad.dtype !== t.dtype ||
      grad.rank !== t.rank ||
      (isStatic(grad.shape) && isStatic(t.shape) && !sameShape(grad.shape, t.shape))
    ) {
      throw new Error(
        `VJP of ${from?.opType ?? "seed"} (${from?.name}) gave ${grad.dtype}${formatShape(grad.shape)} for ${t}`,
      );
    }
    const list = contributions.get(t);
    if (list) list.push(grad);
    else contributions.set(t, [grad]);
  };
  // Fan-out: all contributions to one tensor are summed once, when the tensor's gradient is first read.
  const totalGradient = (t: Tensor): Tensor | null => {
    const list = contributions.get(t);
    if (!list) return null;
    if (list.length > 1) {
      const total = graph.atScope(`grad${t.producer?.name ?? `/${t.name}`}/accumulate`, () => sum(list));
      contributions.set(t, [total]);
      return total;
    }
    return list[0]!;
  };

  const seed =
    options.seed ??
    graph.atScope("grad/seed", () =>
      loss.rank === 0
        ? graph.constant(loss.dtype, [1], [])
        : constantOfShape(shapeTensor(loss), graph.constant(loss.dtype, [1], []), loss.shape),
    );
  addContribution(loss, seed, null);

  for (let n = graph.nodes.length - 1; n >= 0; n--) {
    const node = graph.nodes[n]!;
    if (!node.outputs.some(isActive)) continue;
    const needs = node.inputs.map((i) => isActive(i));
    if (!needs.some(Boolean)) continue;
    const gradOutputs = node.outputs.map((o) => (isActive(o) ? totalGradient(o) : null));
    if (gradOutputs.every((g) => g === null)) continue;
    const rule = VJP_RULES[node.domain ? `${node.domain}.${node.opType}` : node.opType];
    if (!rule) {
      throw new Error(`no VJP rule for ${node.domain ? `${node.domain}.` : ""}${node.opType} (${node.name})`);
    }
    const inputGrads = graph.atScope(`grad${node.name}`, () => rule(node, gradOutputs, needs));
    node.inputs.forEach((input, i) => {
      const grad = inputGrads[i];
      if (needs[i] && input && grad) addContribution(input, grad, node);
    });
  }

  const grads = wrt.map((t) => totalGradient(t) ?? graph.atScope(`grad/${t.name}/zeros`, () => zerosLike(t)));
  if (options.addOutputs ?? true) {
    const lossName = options.lossName ?? "loss";
    if (!graph.outputs.some((o) => o.name === lossName)) graph.output(loss, lossName);
    return grads.map((grad, i) => graph.output(grad, gradientName(wrt[i]!)));
  }
  return grads;
}
