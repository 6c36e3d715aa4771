// Graph -> ONNX ModelProto bytes (opset 21, IR 10), with large initializers optionally written once to an
// external data file that onnxruntime memory-maps when the model is loaded from its path.

import { createHash } from "node:crypto";
import {
  closeSync,
  existsSync,
  linkSync,
  openSync,
  readFileSync,
  readSync,
  renameSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { basename, dirname, join } from "node:path";
import { BYTES_PER_ELEMENT, bytesOf, ONNX_DTYPE_CODE } from "./dtype";
import type { AttrValue, ConstantValue, FileReference, Graph, Tensor } from "./graph";
import { ProtoWriter } from "./protobuf";

export const ONNX_IR_VERSION = 10;
export const ONNX_OPSET = 21;
/** Initializers at least this large go to the external data file. */
export const EXTERNAL_DATA_THRESHOLD_BYTES = 1024;
/** Page alignment lets onnxruntime map each tensor straight from the file. */
export const EXTERNAL_DATA_ALIGNMENT = 4096;

/** protobuf messages cannot exceed 2 GiB; keep some room for the graph itself. */
const MAX_INLINE_BYTES = 2 ** 31 - 2 ** 24;

const ATTR_TYPE = { float: 1, int: 2, string: 3, tensor: 4, floats: 6, ints: 7 } as const;
const DATA_LOCATION_EXTERNAL = 1;

export interface ExternalPlacement {
  offset: number;
  length: number;
}

export interface SerializeOptions {
  /** Location (relative to the model file) for each file that file initializers point into. */
  fileLocations?: ReadonlyMap<string, string>;
  /** Files whose referenced ranges are copied into the external data file instead. */
  copiedFiles?: ReadonlySet<string>;
  /** File name (relative to the model file) of the external data file; inline raw_data when omitted. */
  externalDataLocation?: string;
  externalDataThreshold?: number;
}

export interface SerializedModel {
  bytes: Uint8Array;
  /** Where each external initializer goes in the data file; empty when everything is inline. */
  external: Map<string, ExternalPlacement>;
  /** saveModel only: the existing data file already held these weights and was kept. */
  dataReused?: boolean;
}

export interface SaveOptions {
  externalDataThreshold?: number;
  /**
   * Identifies the weights (e.g. checkpoint repo + revision). When the data file next to the model was
   * written for the same fingerprint and layout it is kept instead of rewritten.
   */
  weightsFingerprint?: string;
}

function tensorProto(
  name: string,
  value: Omit<ConstantValue, "data"> & { data?: ConstantValue["data"] },
  placement?: ExternalPlacement,
  location?: string,
): ProtoWriter {
  const w = new ProtoWriter();
  for (const d of value.shape) w.varint(1, d);
  w.varint(2, ONNX_DTYPE_CODE[value.dtype]);
  if (name) w.string(8, name);
  if (placement && location) {
    const entry = (key: string, v: string) => new ProtoWriter().string(1, key).string(2, v);
    w.message(13, entry("location", location));
    w.message(13, entry("offset", String(placement.offset)));
    w.message(13, entry("length", String(placement.length)));
    w.varint(14, DATA_LOCATION_EXTERNAL);
  } else {
    w.bytes(9, bytesOf(value.data!));
  }
  return w;
}

function attributeProto(name: string, a: AttrValue): ProtoWriter {
  const w = new ProtoWriter().string(1, name).varint(20, ATTR_TYPE[a.type]);
  switch (a.type) {
    case "float":
      w.float32(2, a.value);
      break;
    case "int":
      w.varint(3, a.value);
      break;
    case "string":
      w.string(4, a.value);
      break;
    case "tensor":
      w.message(5, tensorProto("", a.value));
      break;
    case "floats":
      for (const f of a.value) w.float32(7, f);
      break;
    case "ints":
      for (const i of a.value) w.varint(8, i);
      break;
  }
  return w;
}

function valueInfo(name: string, t: Tensor): ProtoWriter {
  const shape = new ProtoWriter();
  for (const d of t.shape) {
    const dim = new ProtoWriter();
    if (typeof d === "number") dim.varint(1, d);
    else dim.string(2, d);
    shape.message(1, dim);
  }
  const tensorType = new ProtoWriter().varint(1, ONNX_DTYPE_CODE[t.dtype]).message(2, shape);
  const type = new ProtoWriter().message(1, tensorType);
  return new ProtoWriter().string(1, name).message(2, type);
}

/** Decides external placements: tensors over the threshold, each at an aligned offset. */
export function planExternalData(
  graph: Graph,
  threshold = EXTERNAL_DATA_THRESHOLD_BYTES,
  copiedFiles: ReadonlySet<string> = new Set(),
): Map<string, ExternalPlacement> {
  const plan = new Map<string, ExternalPlacement>();
  let offset = 0;
  const place = (name: string, length: number) => {
    offset = Math.ceil(offset / EXTERNAL_DATA_ALIGNMENT) * EXTERNAL_DATA_ALIGNMENT;
    plan.set(name, { offset, length });
    offset += length;
  };
  for (const init of graph.initializers.values()) {
    const length = init.data.length * BYTES_PER_ELEMENT[init.dtype];
    if (length >= threshold) place(init.name, length);
  }
  // File initializers that could not be linked next to the model are copied into its data file.
  for (const ref of graph.fileInitializers.values())
    if (copiedFiles.has(ref.file)) place(ref.name, ref.length);
  return plan;
}

export function serializeModel(graph: Graph, options: SerializeOptions = {}): SerializedModel {
  const external = options.externalDataLocation
    ? planExternalData(graph, options.externalDataThreshold, options.copiedFiles)
    : new Map<string, ExternalPlacement>();
  const g = new ProtoWriter();
  for (const node of graph.nodes) {
    const n = new ProtoWriter();
    for (const i of node.inputs) n.string(1, i ? i.name : "");
    for (const o of node.outputs) n.string(2, o.name);
    n.string(3, node.name).string(4, node.opType);
    for (const [key, value] of Object.entries(node.attrs)) n.message(5, attributeProto(key, value));
    if (node.domain) n.string(7, node.domain);
    g.message(1, n);
  }
  g.string(2, graph.name);
  for (const init of graph.initializers.values()) {
    g.message(5, tensorProto(init.name, init, external.get(init.name), options.externalDataLocation));
  }
  for (const ref of graph.fileInitializers.values()) {
    const location = options.fileLocations?.get(ref.file);
    const copied = external.get(ref.name);
    if (location) g.message(5, tensorProto(ref.name, ref, ref, location));
    else if (copied) g.message(5, tensorProto(ref.name, ref, copied, options.externalDataLocation));
    else
      throw new Error(
        `file initializer ${ref.name} needs the model saved to a directory (compile with { directory })`,
      );
  }
  for (const input of graph.inputs) g.message(11, valueInfo(input.name, input));
  for (const output of graph.outputs) g.message(12, valueInfo(output.name, output.tensor));

  const model = new ProtoWriter()
    .varint(1, ONNX_IR_VERSION)
    .string(2, "yo-edge")
    .string(3, "0.1.0")
    .message(7, g)
    .message(8, new ProtoWriter().string(1, "").varint(2, ONNX_OPSET));
  // Contrib ops (e.g. com.microsoft) need their domain imported too; they are all at version 1.
  for (const domain of new Set(graph.nodes.map((n) => n.domain).filter((d) => d !== ""))) {
    model.message(8, new ProtoWriter().string(1, domain).varint(2, 1));
  }
  const inlineBytes = [...graph.initializers.values()]
    .filter((init) => !external.has(init.name))
    .reduce((total, init) => total + init.data.byteLength, 0);
  if (inlineBytes > MAX_INLINE_BYTES) {
    throw new Error(
      `graph ${graph.name} has ${inlineBytes} bytes of inline weights, over protobuf's 2 GiB limit: ` +
        "compile it with { directory } or { externalData: true }",
    );
  }
  return { bytes: model.finish(), external };
}

/**
 * Writes `<modelPath>` and, when any initializer is large, `<modelPath>.data` next to it. Load the
 * model from its path so onnxruntime resolves (and memory-maps) the data file.
 */
export function saveModel(graph: Graph, modelPath: string, options: SaveOptions = {}): SerializedModel {
  const dataFile = `${basename(modelPath)}.data`;
  const { fileLocations, copiedFiles } = linkReferencedFiles(graph, modelPath);
  const serialized = serializeModel(graph, {
    externalDataLocation: dataFile,
    externalDataThreshold: options.externalDataThreshold,
    fileLocations,
    copiedFiles,
  });
  writeReplacing(modelPath, [{ offset: 0, bytes: serialized.bytes }]);
  if (serialized.external.size === 0) return serialized;

  const dataPath = `${modelPath}.data`;
  const stampPath = `${modelPath}.data.fingerprint`;
  const layout = [...serialized.external].map(([name, p]) => `${name}@${p.offset}+${p.length}`).join(";");
  const stamp = options.weightsFingerprint
    ? createHash("sha256").update(options.weightsFingerprint).update(layout).digest("hex")
    : undefined;
  const last = [...serialized.external.values()].at(-1)!;
  if (stamp && existsSync(stampPath) && readFileSync(stampPath, "utf8") === stamp) {
    if (existsSync(dataPath) && statSync(dataPath).size === last.offset + last.length) {
      return { ...serialized, dataReused: true };
    }
  }
  const chunks = [...serialized.external].map(([name, placement]) => {
    const init = graph.initializers.get(name);
    return {
      offset: placement.offset,
      bytes: init ? bytesOf(init.data) : readRange(graph.fileInitializers.get(name)!),
    };
  });
  writeReplacing(dataPath, chunks);
  if (stamp) writeFileSync(stampPath, stamp);
  else rmSync(stampPath, { force: true });
  return { ...serialized, dataReused: false };
}

/**
 * onnxruntime only reads external data inside the model's directory (no absolute paths, no "..", no
 * symlinks leading out), so each referenced file is hard-linked next to the model. Where that fails
 * (another filesystem), its ranges are copied into the model's data file instead.
 */
function linkReferencedFiles(
  graph: Graph,
  modelPath: string,
): { fileLocations: Map<string, string>; copiedFiles: Set<string> } {
  const fileLocations = new Map<string, string>();
  const copiedFiles = new Set<string>();
  const files = [...new Set([...graph.fileInitializers.values()].map((r) => r.file))];
  files.forEach((file, k) => {
    const location = `${basename(modelPath)}.weights${k}`;
    const linkPath = join(dirname(modelPath), location);
    try {
      const source = statSync(file);
      const existing = existsSync(linkPath) ? statSync(linkPath) : undefined;
      if (!existing || existing.ino !== source.ino || existing.dev !== source.dev) {
        rmSync(linkPath, { force: true });
        linkSync(file, linkPath);
      }
      fileLocations.set(file, location);
    } catch {
      copiedFiles.add(file);
    }
  });
  return { fileLocations, copiedFiles };
}

function readRange(ref: FileReference): Uint8Array {
  const bytes = new Uint8Array(ref.length);
  const fd = openSync(ref.file, "r");
  try {
    let done = 0;
    while (done < ref.length) {
      const n = readSync(fd, bytes, done, ref.length - done, ref.offset + done);
      if (n === 0) throw new Error(`${ref.file}: ${ref.length} bytes at ${ref.offset} run past the end`);
      done += n;
    }
  } finally {
    closeSync(fd);
  }
  return bytes;
}

/**
 * Writes a new file and renames it over `path`: a session that memory-mapped the old file keeps its
 * pages (truncating a mapped file in place would crash it with SIGBUS).
 */
function writeReplacing(path: string, chunks: { offset: number; bytes: Uint8Array }[]): void {
  const temporary = `${path}.${process.pid}.tmp`;
  writeWhole(temporary, chunks);
  renameSync(temporary, path);
}

function writeWhole(path: string, chunks: { offset: number; bytes: Uint8Array }[]): void {
  const fd = openSync(path, "w");
  try {
    for (const { offset, bytes } of chunks) {
      let written = 0;
      while (written < bytes.length) {
        written += writeSync(fd, bytes, written, bytes.length - written, offset + written);
      }
    }
  } finally {
    closeSync(fd);
  }
}
