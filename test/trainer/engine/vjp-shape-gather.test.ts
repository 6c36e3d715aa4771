import { afterAll, describe, it } from "vitest";
import {
  add,
  concat,
  conv,
  expand,
  flatten,
  gather,
  gatherElements,
  gatherND,
  identity,
  int64s,
  mul,
  pad,
  reshape,
  scatterElements,
  scatterND,
  slice,
  split,
  squeeze,
  sum,
  transpose,
  trilu,
  unsqueeze,
} from "../../../trainer/engine/index";
import { checkGradients, worstErrors } from "./gradcheck";

const f64 = (dims: number[], range?: [number, number]) => ({ dtype: "float64" as const, dims, range });
const f32 = (dims: number[], range?: [number, number]) => ({ dtype: "float32" as const, dims, range });
const i64 = (dims: number[], values: number[]) => ({ dtype: "int64" as const, dims, values });

afterAll(() => console.log(JSON.stringify({ family: "shape-gather-conv", worstErrors })));

describe("movement VJPs (float64)", () => {
  it("Transpose", () => checkGradients({ x: f64([2, 3, 4]) }, ({ x }) => transpose(x!, [2, 0, 1])));
  it("Reshape with 0 and -1", () =>
    checkGradients({ x: f64([2, 3, 4]) }, ({ x }) => reshape(x!, [0, -1, 2])));
  it("Flatten", () => checkGradients({ x: f64([2, 3, 2]) }, ({ x }) => flatten(x!, 1)));
  it("Unsqueeze and Squeeze", () =>
    checkGradients({ x: f64([3, 1, 2]) }, ({ x }) => unsqueeze(mul(squeeze(x!, [1]), 2), [0, 3])));
  it("Concat along axis 1, one operand not differentiated", () =>
    checkGradients({ a: f64([2, 2]), b: f64([2, 3]), c: { ...f64([2, 1]), wrt: false } }, ({ a, b, c }) =>
      concat([a!, b!, c!, a!], 1),
    ));
  it("Split with an unused part", () =>
    checkGradients({ x: f64([2, 6]) }, ({ x }) => {
      const [p, , r] = split(x!, 1, [2, 3, 1]);
      return concat([mul(p!, 3), r!], 1);
    }));
  it("Slice on two axes with a step and negative indices", () =>
    checkGradients({ x: f64([4, 6, 3]) }, ({ x }) => slice(x!, [1, -1], [4, 0], [0, 1], [2, -2])));
  it("Slice with starts/ends as runtime tensors", () =>
    checkGradients({ x: f64([5, 3]), s: i64([1], [1]), e: i64([1], [4]) }, ({ x, s, e }) =>
      slice(x!, s!, e!, [0], [1], { shape: [3, 3] }),
    ));
  it("Slice with unit steps and static dims (zero-pad VJP)", () =>
    checkGradients({ x: f64([4, 6]) }, ({ x }) => slice(x!, [1, -4], [3, 1000], [0, 1])));
  it("Slice on symbolic dims: from a start, a negative start to the end, a finite range", () =>
    checkGradients({ x: { ...f64([2, 5, 6]), declared: ["B", "T", 6] } }, ({ x }) =>
      concat([slice(x!, [1], [2 ** 62], [1]), slice(x!, [-4], [2 ** 62], [1]), slice(x!, [0], [4], [1])], 1),
    ));
  it("Pad (constant zeros) on two axes", () =>
    checkGradients({ x: f64([2, 3, 2]) }, ({ x }, g) =>
      pad(x!, [1, 2], [int64s(g, [1]), int64s(g, [0])], [int64s(g, [2]), int64s(g, [3])], [2, 6, 5]),
    ));
  it("Expand [3,1] to [2,3,4]", () => checkGradients({ x: f64([3, 1]) }, ({ x }) => expand(x!, [2, 3, 4])));
  it("Trilu lower and upper", () =>
    checkGradients({ x: f64([2, 3, 3]) }, ({ x }) => sum([trilu(x!, false), mul(trilu(x!, true, 1), 3)])));
  it("Identity", () => checkGradients({ x: f64([3]) }, ({ x }) => identity(x!)));
});

describe("indexing VJPs (float64)", () => {
  it("Gather rows with repeated indices (embedding table scatter-add)", () =>
    checkGradients({ table: f64([5, 3]), ids: i64([2, 3], [4, 0, 4, 2, 2, 4]) }, ({ table, ids }) =>
      gather(table!, ids!, 0),
    ));
  it("Gather along axis 1 with 2-D indices", () =>
    checkGradients({ x: f64([2, 4, 3]), idx: i64([2, 2], [3, 0, 0, 1]) }, ({ x, idx }) =>
      gather(x!, idx!, 1),
    ));
  it("Gather along the last axis with a negative index", () =>
    checkGradients({ x: f64([2, 4]), idx: i64([3], [-1, 0, -1]) }, ({ x, idx }) => gather(x!, idx!, 1)));
  it("GatherElements along axis 1", () =>
    checkGradients({ x: f64([3, 4]), idx: i64([3, 2], [0, 3, 1, 1, 2, 0]) }, ({ x, idx }) =>
      gatherElements(x!, idx!, 1),
    ));
});

describe("splicing VJPs (float64)", () => {
  it("GatherND", () =>
    checkGradients({ x: f64([3, 4, 2]), idx: i64([2, 2], [2, 1, 0, 3]) }, ({ x, idx }) =>
      gatherND(x!, idx!),
    ));
  it("ScatterND: concept rows spliced into embeddings (data and updates)", () =>
    checkGradients(
      { embeds: f64([2, 5, 3]), rows: f64([2, 3]), idx: i64([2, 2], [0, 1, 1, 4]) },
      ({ embeds, rows, idx }) => scatterND(embeds!, idx!, rows!),
    ));
  it("ScatterND with reduction add", () =>
    checkGradients({ x: f64([4, 2]), u: f64([3, 2]), idx: i64([3, 1], [1, 3, 1]) }, ({ x, u, idx }) =>
      scatterND(x!, idx!, u!, "add"),
    ));
  it("ScatterElements (none and add)", () =>
    checkGradients({ x: f64([3, 4]), u: f64([3, 1]), idx: i64([3, 1], [2, 0, 3]) }, ({ x, u, idx }) =>
      add(scatterElements(x!, idx!, u!, 1), scatterElements(x!, idx!, u!, 1, "add")),
    ));
});

describe("Conv VJP (float32: ORT has no float64 Conv), tolerance 5e-3", () => {
  it("2-D, stride 2, padding 1, bias", () =>
    checkGradients({ x: f32([2, 2, 5, 5]), w: f32([3, 2, 3, 3]), b: f32([3]) }, ({ x, w, b }) =>
      conv(x!, w!, b!, { strides: [2, 2], pads: [1, 1, 1, 1] }),
    ));
  it("2-D, dilation 2, asymmetric padding", () =>
    checkGradients({ x: f32([1, 2, 6, 5]), w: f32([2, 2, 2, 2]) }, ({ x, w }) =>
      conv(x!, w!, null, { dilations: [2, 2], pads: [0, 1, 1, 0] }),
    ));
  it("patch embedding: kernel = stride", () =>
    checkGradients({ x: f32([1, 3, 4, 4]), w: f32([4, 3, 2, 2]) }, ({ x, w }) =>
      conv(x!, w!, null, { strides: [2, 2] }),
    ));
  it("1-D", () =>
    checkGradients({ x: f32([2, 2, 7]), w: f32([3, 2, 3]) }, ({ x, w }) =>
      conv(x!, w!, null, { strides: [2], pads: [1, 0] }),
    ));
});
