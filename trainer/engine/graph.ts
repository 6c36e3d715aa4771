// The symbolic graph: typed tensors with static shapes, ONNX nodes with hierarchical names,
// graph inputs/outputs and initializers. Ops (ops/*.ts) are plain functions that append nodes here.

import { BYTES_PER_ELEMENT, type DType, type TensorData, typedArrayOf } from "./dtype";
import { type Dim, formatShape, isStatic, type Shape } from "./shape";

export type AttrValue =
  | { type: "int"; value: number | bigint }
  | { type: "float"; value: number }
  | { type: "string"; value: string }
  | { type: "ints"; value: readonly (number | bigint)[] }
  | { type: "floats"; value: readonly number[] }
  | { type: "tensor"; value: ConstantValue };

/** Attribute constructors: ONNX distinguishes int from float attributes, JS numbers do not. */
export const attr = {
  int: (value: number | bigint | boolean): AttrValue => ({
    type: "int",
    value: typeof value === "boolean" ? Number(value) : value,
  }),
  float: (value: number): AttrValue => ({ type: "float", value }),
  string: (value: string): AttrValue => ({ type: "string", value }),
  ints: (value: readonly (number | bigint)[]): AttrValue => ({ type: "ints", value }),
  floats: (value: readonly number[]): AttrValue => ({ type: "floats", value }),
  tensor: (value: ConstantValue): AttrValue => ({ type: "tensor", value }),
};

/** A tensor whose values are known at build time. */
export interface ConstantValue {
  dtype: DType;
  shape: readonly number[];
  data: TensorData;
}

export interface Node {
  name: string;
  opType: string;
  domain: string;
  /** null marks an omitted optional input (serialized as ""). */
  inputs: (Tensor | null)[];
  outputs: Tensor[];
  attrs: Record<string, AttrValue>;
}

export interface Initializer extends ConstantValue {
  name: string;
}

/** A weight whose bytes stay in an existing file (e.g. a safetensors shard), little-endian, row-major. */
export interface FileReference {
  /** Absolute path of the file holding the bytes. */
  file: string;
  offset: number;
  length: number;
}

export interface ExternalInitializer extends FileReference {
  name: string;
  dtype: DType;
  shape: readonly number[];
}

export class Tensor {
  constructor(
    readonly graph: Graph,
    readonly name: string,
    readonly dtype: DType,
    readonly shape: Shape,
    /** The node computing this tensor; null for graph inputs and initializers. */
    readonly producer: Node | null,
  ) {}

  /**
   * For small int64 tensors holding dims (Shape outputs, gathered dims, constants): their values as
   * Dims, so ops fed by them (Range, Reshape, Expand, ConstantOfShape) can still infer static shapes.
   */
  dimValues: readonly Dim[] | undefined = undefined;

  get rank(): number {
    return this.shape.length;
  }

  toString(): string {
    return `${this.name}: ${this.dtype}${formatShape(this.shape)}`;
  }
}

export interface OutputSpec {
  dtype: DType;
  shape: Shape;
}

export interface NodeOptions {
  /** Last path component of the node name; defaults to the op type. */
  name?: string;
  domain?: string;
}

/** Small constants (axes, shapes, scalars) are deduplicated by value. */
const DEDUP_MAX_ELEMENTS = 64;

export class Graph {
  readonly nodes: Node[] = [];
  readonly inputs: Tensor[] = [];
  readonly outputs: { name: string; tensor: Tensor }[] = [];
  readonly initializers = new Map<string, Initializer>();
  /** Weights referenced in place in existing files; they need a model saved to a directory. */
  readonly fileInitializers = new Map<string, ExternalInitializer>();
  private readonly tensors = new Map<string, Tensor>();
  private readonly usedNodeNames = new Set<string>();
  private readonly constantsByKey = new Map<string, Tensor>();
  private scopePath: string[] = [];
  private constantCount = 0;

  constructor(readonly name = "graph") {}

  /**
   * Runs `build` with `path` appended to the current name scope, so nodes get names like
   * `/model/layers.3/self_attn/q_proj/MatMul`.
   */
  scope<T>(path: string, build: () => T): T {
    const saved = this.scopePath;
    this.scopePath = [...saved, ...path.split("/").filter((p) => p.length > 0)];
    try {
      return build();
    } finally {
      this.scopePath = saved;
    }
  }

  /** Like scope(), but replacing the current scope instead of nesting in it. */
  atScope<T>(path: string, build: () => T): T {
    const saved = this.scopePath;
    this.scopePath = path.split("/").filter((p) => p.length > 0);
    try {
      return build();
    } finally {
      this.scopePath = saved;
    }
  }

  get currentScope(): string {
    return `/${this.scopePath.join("/")}`;
  }

  /** A graph input (activations, ids, or weights that should be differentiated). */
  input(name: string, dtype: DType, shape: Shape): Tensor {
    const t = this.register(new Tensor(this, name, dtype, shape, null));
    this.inputs.push(t);
    return t;
  }

  /** A named initializer (a weight), stored inline or in the external data file when serialized. */
  initializer(name: string, dtype: DType, shape: readonly number[], data: TensorData): Tensor {
    const expected = shape.reduce((a, b) => a * b, 1);
    if (data.length !== expected) {
      throw new Error(`initializer ${name}: ${data.length} values for shape ${formatShape(shape)}`);
    }
    const t = this.register(new Tensor(this, name, dtype, shape, null));
    this.initializers.set(name, { name, dtype, shape, data });
    return t;
  }

  /**
   * A weight read in place from an existing file (e.g. `SafetensorsCheckpoint.byteRange(name)`), so
   * neither JS nor the model's data file holds a copy; onnxruntime maps it from that file.
   */
  fileInitializer(name: string, dtype: DType, shape: readonly number[], reference: FileReference): Tensor {
    const expected = shape.reduce((a, b) => a * b, 1) * BYTES_PER_ELEMENT[dtype];
    if (reference.length !== expected) {
      throw new Error(
        `file initializer ${name}: ${reference.length} bytes for ${dtype}${formatShape(shape)}`,
      );
    }
    const t = this.register(new Tensor(this, name, dtype, shape, null));
    this.fileInitializers.set(name, { name, dtype, shape, ...reference });
    return t;
  }

  /** A constant tensor of `dtype` from plain numbers (scalar when shape is []). */
  constant(
    dtype: DType,
    values: ArrayLike<number | bigint>,
    shape: readonly number[] = [values.length],
  ): Tensor {
    const small = values.length <= DEDUP_MAX_ELEMENTS;
    const key = small ? `${dtype}|${shape.join(",")}|${Array.from(values).join(",")}` : "";
    if (small) {
      const existing = this.constantsByKey.get(key);
      if (existing) return existing;
    }
    const t = this.initializer(`const_${this.constantCount++}`, dtype, shape, typedArrayOf(dtype, values));
    if (small) this.constantsByKey.set(key, t);
    if (dtype === "int64" && shape.length <= 1) t.dimValues = Array.from(values, Number);
    return t;
  }

  /** Build-time value of a tensor if it is an initializer (used by VJPs to read static axes). */
  constantValue(t: Tensor): ConstantValue | undefined {
    return this.initializers.get(t.name);
  }

  isInitializer(t: Tensor): boolean {
    return this.initializers.has(t.name);
  }

  /** Marks `tensor` as a graph output named `name` (an Identity node renames it when needed). */
  output(tensor: Tensor, name: string = tensor.name): Tensor {
    let out = tensor;
    if (name !== tensor.name || tensor.producer === null || this.outputs.some((o) => o.tensor === tensor)) {
      out = this.addNode(
        "Identity",
        [tensor],
        [{ dtype: tensor.dtype, shape: tensor.shape }],
        {},
        { name: "Identity" },
      )[0]!;
      this.renameTensor(out, name);
    }
    this.outputs.push({ name, tensor: out });
    return out;
  }

  tensor(name: string): Tensor {
    const t = this.tensors.get(name);
    if (!t) throw new Error(`no tensor named ${name}`);
    return t;
  }

  hasTensor(name: string): boolean {
    return this.tensors.has(name);
  }

  /** Appends a node; returns its output tensors named `<node name>/output_<i>`. */
  addNode(
    opType: string,
    inputs: (Tensor | null)[],
    outputs: OutputSpec[],
    attrs: Record<string, AttrValue> = {},
    options: NodeOptions = {},
  ): Tensor[] {
    for (const t of inputs) {
      if (t && t.graph !== this) throw new Error(`${opType}: input ${t.name} belongs to another graph`);
    }
    const name = this.uniqueNodeName(
      `${this.currentScope === "/" ? "" : this.currentScope}/${options.name ?? opType}`,
    );
    const node: Node = { name, opType, domain: options.domain ?? "", inputs, outputs: [], attrs };
    node.outputs = outputs.map((o, i) =>
      this.register(new Tensor(this, `${name}/output_${i}`, o.dtype, o.shape, node)),
    );
    this.nodes.push(node);
    return node.outputs;
  }

  private uniqueNodeName(base: string): string {
    let name = base;
    for (let i = 1; this.usedNodeNames.has(name); i++) name = `${base}_${i}`;
    this.usedNodeNames.add(name);
    return name;
  }

  private register(t: Tensor): Tensor {
    if (this.tensors.has(t.name)) throw new Error(`duplicate tensor name ${t.name}`);
    this.tensors.set(t.name, t);
    return t;
  }

  private renameTensor(t: Tensor, name: string): void {
    if (this.tensors.has(name)) throw new Error(`duplicate tensor name ${name}`);
    this.tensors.delete(t.name);
    (t as { name: string }).name = name;
    this.tensors.set(name, t);
  }
}

/** The graph a set of op arguments belongs to. */
export function graphOf(...xs: (Tensor | number | null | undefined)[]): Graph {
  for (const x of xs) if (x instanceof Tensor) return x.graph;
  throw new Error("op needs at least one tensor argument");
}

export function staticShape(t: Tensor, what: string): number[] {
  if (!isStatic(t.shape)) throw new Error(`${what}: ${t} needs a static shape`);
  return [...t.shape];
}

export type { Dim, Shape };
