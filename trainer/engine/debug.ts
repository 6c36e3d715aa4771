// Human-readable graph dumps: one line per node with its inputs' and outputs' types, so a failing model
// build or an ORT error message can be traced to the builder code that made the node.

import type { Graph, Tensor } from "./graph";
import { formatShape } from "./shape";

function describeTensor(t: Tensor | null): string {
  return t ? `${t.name}: ${t.dtype}${formatShape(t.shape)}` : "(none)";
}

/** e.g. `/model/layers.0/mlp/down_proj/MatMul  MatMul(a: float32[B,T,64], ...) -> ...: float32[B,T,16]` */
export function describeGraph(graph: Graph, options: { filter?: (name: string) => boolean } = {}): string {
  const lines = [
    `graph ${graph.name}: ${graph.nodes.length} nodes, ${graph.initializers.size} initializers`,
    ...graph.inputs.map((t) => `input  ${describeTensor(t)}`),
  ];
  for (const node of graph.nodes) {
    if (options.filter && !options.filter(node.name)) continue;
    const ins = node.inputs.map(describeTensor).join(", ");
    const outs = node.outputs.map((o) => `${o.dtype}${formatShape(o.shape)}`).join(", ");
    lines.push(`${node.name}  ${node.opType}(${ins}) -> ${outs}`);
  }
  lines.push(
    ...graph.outputs.map((o) => `output ${o.name}: ${o.tensor.dtype}${formatShape(o.tensor.shape)}`),
  );
  return lines.join("\n");
}
