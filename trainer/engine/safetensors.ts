// Safetensors I/O (https://github.com/huggingface/safetensors, format of the HF Hub checkpoints).
//
// Layout: u64 little-endian header length N, N bytes of UTF-8 JSON, then the data section. The JSON maps
// tensor names to {dtype, shape, data_offsets: [begin, end]} (offsets relative to the data section) and may
// hold "__metadata__": {string: string}. Whole-buffer decoding returns zero-copy views when the bytes are
// aligned for the element type and copies otherwise; the checkpoint reader reads only headers up front and
// each tensor's byte range on demand, so a multi-gigabyte checkpoint is never fully in memory.

import { closeSync, promises as fsp, openSync, readSync } from "node:fs";
import type { FileHandle } from "node:fs/promises";
import { endianness } from "node:os";
import { join } from "node:path";

export const SAFETENSORS_DTYPES = [
  "F64",
  "F32",
  "F16",
  "BF16",
  "I64",
  "I32",
  "I16",
  "I8",
  "U8",
  "BOOL",
] as const;
export type SafetensorsDtype = (typeof SAFETENSORS_DTYPES)[number];

export const DTYPE_BYTES: Readonly<Record<SafetensorsDtype, number>> = {
  F64: 8,
  F32: 4,
  F16: 2,
  BF16: 2,
  I64: 8,
  I32: 4,
  I16: 2,
  I8: 1,
  U8: 1,
  BOOL: 1,
};

/** Element storage per dtype. F16 and BF16 hold raw bits; BOOL holds 0 or 1 bytes. */
export interface DtypeArrays {
  F64: Float64Array;
  F32: Float32Array;
  F16: Uint16Array;
  BF16: Uint16Array;
  I64: BigInt64Array;
  I32: Int32Array;
  I16: Int16Array;
  I8: Int8Array;
  U8: Uint8Array;
  BOOL: Uint8Array;
}
export type TensorData = DtypeArrays[SafetensorsDtype];

export interface Tensor<D extends SafetensorsDtype = SafetensorsDtype> {
  dtype: D;
  shape: number[];
  data: DtypeArrays[D];
}

export interface TensorInfo {
  dtype: SafetensorsDtype;
  shape: number[];
  /** [begin, end) in bytes, relative to the start of the data section. */
  dataOffsets: [number, number];
}

export interface SafetensorsHeader {
  metadata: Record<string, string>;
  tensors: Map<string, TensorInfo>;
  /** Absolute byte offset of the data section in the file (8 + header length). */
  dataStart: number;
}

export type SafetensorsErrorCode =
  | "TRUNCATED"
  | "BAD_HEADER"
  | "BAD_OFFSETS"
  | "UNKNOWN_DTYPE"
  | "BAD_TENSOR"
  | "BAD_INDEX"
  | "MISSING_SHARD"
  | "MISSING_TENSOR"
  | "NO_CHECKPOINT";

export class SafetensorsError extends Error {
  override readonly name: string = "SafetensorsError";
  constructor(
    readonly code: SafetensorsErrorCode,
    message: string,
  ) {
    super(message);
  }
}
export class SafetensorsTruncatedError extends SafetensorsError {
  override readonly name = "SafetensorsTruncatedError";
  constructor(message: string) {
    super("TRUNCATED", message);
  }
}
export class SafetensorsHeaderError extends SafetensorsError {
  override readonly name = "SafetensorsHeaderError";
  constructor(message: string) {
    super("BAD_HEADER", message);
  }
}
export class SafetensorsOffsetError extends SafetensorsError {
  override readonly name = "SafetensorsOffsetError";
  constructor(message: string) {
    super("BAD_OFFSETS", message);
  }
}
export class SafetensorsDtypeError extends SafetensorsError {
  override readonly name = "SafetensorsDtypeError";
  constructor(message: string) {
    super("UNKNOWN_DTYPE", message);
  }
}
export class SafetensorsShardError extends SafetensorsError {
  override readonly name = "SafetensorsShardError";
  constructor(message: string) {
    super("MISSING_SHARD", message);
  }
}

/** The reference implementation refuses headers above 100 MB; so do we. */
export const MAX_HEADER_BYTES = 100_000_000;
export const SHARD_INDEX_FILE = "model.safetensors.index.json";
export const SINGLE_FILE = "model.safetensors";
const METADATA_KEY = "__metadata__";

if (endianness() !== "LE") {
  // Typed-array views use host byte order; safetensors is little-endian.
  throw new Error("safetensors.ts assumes a little-endian host");
}

export function isSafetensorsDtype(value: unknown): value is SafetensorsDtype {
  return typeof value === "string" && (SAFETENSORS_DTYPES as readonly string[]).includes(value);
}

export function numelOf(shape: readonly number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

// ---------------------------------------------------------------------------------------------------------
// Header

/** Reads the header length prefix; `available` is the total byte length of the file or buffer. */
export function readHeaderLength(prefix: Uint8Array, available: number): number {
  if (prefix.byteLength < 8 || available < 8) {
    throw new SafetensorsTruncatedError(`file has ${available} bytes, fewer than the 8-byte header length`);
  }
  const n = new DataView(prefix.buffer, prefix.byteOffset, 8).getBigUint64(0, true);
  if (n > BigInt(MAX_HEADER_BYTES)) {
    throw new SafetensorsHeaderError(`header length ${n} exceeds the limit of ${MAX_HEADER_BYTES} bytes`);
  }
  const len = Number(n);
  if (8 + len > available) {
    throw new SafetensorsTruncatedError(`header claims ${len} bytes but only ${available - 8} follow`);
  }
  return len;
}

/**
 * Parses and validates the JSON header. `headerBytes` are the N bytes after the length prefix and
 * `dataBytes` is the size of the data section (file size - 8 - N).
 */
export function parseHeaderJson(headerBytes: Uint8Array, dataBytes: number): SafetensorsHeader {
  let raw: unknown;
  try {
    raw = JSON.parse(new TextDecoder("utf-8", { fatal: true }).decode(headerBytes));
  } catch (e) {
    throw new SafetensorsHeaderError(`header is not UTF-8 JSON: ${(e as Error).message}`);
  }
  if (typeof raw !== "object" || raw === null || Array.isArray(raw)) {
    throw new SafetensorsHeaderError("header is not a JSON object");
  }
  const metadata: Record<string, string> = {};
  const tensors = new Map<string, TensorInfo>();
  for (const [name, entry] of Object.entries(raw as Record<string, unknown>)) {
    if (name === METADATA_KEY) {
      if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
        throw new SafetensorsHeaderError("__metadata__ is not an object");
      }
      for (const [k, v] of Object.entries(entry as Record<string, unknown>)) {
        if (typeof v !== "string") throw new SafetensorsHeaderError(`__metadata__.${k} is not a string`);
        metadata[k] = v;
      }
      continue;
    }
    tensors.set(name, parseTensorEntry(name, entry));
  }
  checkRanges(tensors, dataBytes);
  return { metadata, tensors, dataStart: 8 + headerBytes.byteLength };
}

function parseTensorEntry(name: string, entry: unknown): TensorInfo {
  if (typeof entry !== "object" || entry === null || Array.isArray(entry)) {
    throw new SafetensorsHeaderError(`tensor ${name}: entry is not an object`);
  }
  const { dtype, shape, data_offsets: offsets } = entry as Record<string, unknown>;
  if (typeof dtype !== "string") throw new SafetensorsHeaderError(`tensor ${name}: dtype missing`);
  if (!isSafetensorsDtype(dtype)) throw new SafetensorsDtypeError(`tensor ${name}: unknown dtype ${dtype}`);
  if (!Array.isArray(shape) || !shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsHeaderError(`tensor ${name}: shape must be an array of non-negative integers`);
  }
  if (
    !Array.isArray(offsets) ||
    offsets.length !== 2 ||
    !offsets.every((o) => Number.isSafeInteger(o) && o >= 0)
  ) {
    throw new SafetensorsHeaderError(`tensor ${name}: data_offsets must be two non-negative integers`);
  }
  const [begin, end] = offsets as [number, number];
  if (end < begin)
    throw new SafetensorsOffsetError(`tensor ${name}: data_offsets end ${end} < begin ${begin}`);
  const expected = numelOf(shape) * DTYPE_BYTES[dtype];
  if (end - begin !== expected) {
    throw new SafetensorsOffsetError(
      `tensor ${name}: ${end - begin} bytes for ${dtype}${JSON.stringify(shape)}, expected ${expected}`,
    );
  }
  return { dtype, shape: [...shape], dataOffsets: [begin, end] };
}

/**
 * Rejects overlapping ranges and ranges past the data section. When the ranges tile the data section from 0
 * without holes (as every writer lays them out) and only the file is too short, the file was truncated;
 * otherwise the header points outside the file.
 */
function checkRanges(tensors: Map<string, TensorInfo>, dataBytes: number): void {
  const ranges = [...tensors.entries()].sort(
    (a, b) => a[1].dataOffsets[0] - b[1].dataOffsets[0] || a[1].dataOffsets[1] - b[1].dataOffsets[1],
  );
  let end = 0;
  let contiguous = true;
  let last = "";
  for (const [name, { dataOffsets }] of ranges) {
    const [b, e] = dataOffsets;
    if (b < end && e > b) throw new SafetensorsOffsetError(`tensors ${last} and ${name} overlap`);
    if (b > end) contiguous = false;
    if (e > end) {
      end = e;
      last = name;
    }
  }
  if (end <= dataBytes) return;
  if (contiguous) {
    throw new SafetensorsTruncatedError(`data section has ${dataBytes} bytes, the header describes ${end}`);
  }
  throw new SafetensorsOffsetError(
    `tensor ${last}: data_offsets end ${end} beyond the ${dataBytes}-byte data section`,
  );
}

/** Parses the header of a complete safetensors buffer. */
export function parseSafetensorsHeader(bytes: Uint8Array): SafetensorsHeader {
  const n = readHeaderLength(bytes, bytes.byteLength);
  return parseHeaderJson(bytes.subarray(8, 8 + n), bytes.byteLength - 8 - n);
}

// ---------------------------------------------------------------------------------------------------------
// Decoding

type ArrayCtor = {
  new (buffer: ArrayBufferLike, byteOffset: number, length: number): TensorData;
};
const ARRAY_CTORS: Record<SafetensorsDtype, ArrayCtor> = {
  F64: Float64Array,
  F32: Float32Array,
  F16: Uint16Array,
  BF16: Uint16Array,
  I64: BigInt64Array,
  I32: Int32Array,
  I16: Int16Array,
  I8: Int8Array,
  U8: Uint8Array,
  BOOL: Uint8Array,
};

/**
 * Views `bytes` as the typed array for `dtype`: zero-copy when `bytes.byteOffset` is a multiple of the
 * element size, otherwise a copy into fresh (aligned) memory.
 */
export function viewAs<D extends SafetensorsDtype>(dtype: D, bytes: Uint8Array): DtypeArrays[D] {
  const size = DTYPE_BYTES[dtype];
  const src = bytes.byteOffset % size === 0 ? bytes : bytes.slice();
  return new ARRAY_CTORS[dtype](src.buffer, src.byteOffset, src.byteLength / size) as DtypeArrays[D];
}

export interface DecodedSafetensors {
  metadata: Record<string, string>;
  tensors: Map<string, Tensor>;
}

/** Decodes a whole safetensors buffer; tensors share memory with `bytes` where alignment allows. */
export function decodeSafetensors(bytes: Uint8Array): DecodedSafetensors {
  const header = parseSafetensorsHeader(bytes);
  const tensors = new Map<string, Tensor>();
  for (const [name, info] of header.tensors) {
    const [begin, end] = info.dataOffsets;
    const slice = bytes.subarray(header.dataStart + begin, header.dataStart + end);
    tensors.set(name, { dtype: info.dtype, shape: [...info.shape], data: viewAs(info.dtype, slice) });
  }
  return { metadata: header.metadata, tensors };
}

export async function readSafetensorsFile(path: string): Promise<DecodedSafetensors> {
  const buf = await fsp.readFile(path);
  // readFile returns a Buffer that owns its whole ArrayBuffer at offset 0, so aligned tensors stay views.
  return decodeSafetensors(new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength));
}

// ---------------------------------------------------------------------------------------------------------
// Encoding

export type TensorRecord = Record<string, Tensor> | Map<string, Tensor>;

function entriesOf(tensors: TensorRecord): [string, Tensor][] {
  return tensors instanceof Map ? [...tensors.entries()] : Object.entries(tensors);
}

function checkTensor(name: string, t: Tensor): void {
  if (!isSafetensorsDtype(t.dtype))
    throw new SafetensorsDtypeError(`tensor ${name}: unknown dtype ${t.dtype}`);
  if (name === METADATA_KEY) throw new SafetensorsError("BAD_TENSOR", "__metadata__ is not a tensor name");
  if (!t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
    throw new SafetensorsError("BAD_TENSOR", `tensor ${name}: bad shape ${JSON.stringify(t.shape)}`);
  }
  if (!(t.data instanceof ARRAY_CTORS[t.dtype])) {
    throw new SafetensorsError("BAD_TENSOR", `tensor ${name}: data is not a ${ARRAY_CTORS[t.dtype].name}`);
  }
  if (t.data.length !== numelOf(t.shape)) {
    throw new SafetensorsError(
      "BAD_TENSOR",
      `tensor ${name}: ${t.data.length} elements for shape ${JSON.stringify(t.shape)}`,
    );
  }
}

interface EncodedLayout {
  header: Uint8Array;
  order: [string, Tensor][];
  dataBytes: number;
}

// The reference writer orders tensors by its dtype enum, highest first, then by name; following it makes our
// files byte-identical to Python's. The order is also by element size, so every tensor is aligned.
const DTYPE_RANK: Readonly<Record<SafetensorsDtype, number>> = {
  BOOL: 0,
  U8: 1,
  I8: 2,
  I16: 3,
  F16: 4,
  BF16: 5,
  I32: 6,
  F32: 7,
  F64: 8,
  I64: 9,
};

/** Tensor order and header bytes; the header is padded with spaces to a multiple of 8 bytes. */
function layout(tensors: TensorRecord, metadata?: Record<string, string>): EncodedLayout {
  const order = entriesOf(tensors);
  for (const [name, t] of order) checkTensor(name, t);
  order.sort(
    ([an, a], [bn, b]) => DTYPE_RANK[b.dtype] - DTYPE_RANK[a.dtype] || (an < bn ? -1 : an > bn ? 1 : 0),
  );
  const json: Record<string, unknown> = {};
  if (metadata && Object.keys(metadata).length > 0) {
    for (const [k, v] of Object.entries(metadata)) {
      if (typeof v !== "string") throw new SafetensorsHeaderError(`metadata ${k} is not a string`);
    }
    json[METADATA_KEY] = metadata;
  }
  let offset = 0;
  for (const [name, t] of order) {
    const end = offset + t.data.byteLength;
    json[name] = { dtype: t.dtype, shape: t.shape, data_offsets: [offset, end] };
    offset = end;
  }
  const text = new TextEncoder().encode(JSON.stringify(json));
  const padded = Math.ceil(text.byteLength / 8) * 8;
  const header = new Uint8Array(8 + padded).fill(0x20);
  new DataView(header.buffer).setBigUint64(0, BigInt(padded), true);
  header.set(text, 8);
  return { header, order, dataBytes: offset };
}

function bytesOf(data: TensorData): Uint8Array {
  return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
}

export function encodeSafetensors(tensors: TensorRecord, metadata?: Record<string, string>): Uint8Array {
  const { header, order, dataBytes } = layout(tensors, metadata);
  const out = new Uint8Array(header.byteLength + dataBytes);
  out.set(header, 0);
  let offset = header.byteLength;
  for (const [, t] of order) {
    out.set(bytesOf(t.data), offset);
    offset += t.data.byteLength;
  }
  return out;
}

/** Writes tensor by tensor, so the file is never assembled in memory. */
export async function writeSafetensorsFile(
  path: string,
  tensors: TensorRecord,
  metadata?: Record<string, string>,
): Promise<void> {
  const { header, order } = layout(tensors, metadata);
  const fh = await fsp.open(path, "w");
  try {
    await fh.write(header);
    for (const [, t] of order) if (t.data.byteLength > 0) await fh.write(bytesOf(t.data));
  } finally {
    await fh.close();
  }
}

export interface ShardIndex {
  metadata: { total_size: number; [key: string]: unknown };
  weight_map: Record<string, string>;
}

/**
 * Writes `model-0000i-of-0000n.safetensors` shards of at most `maxShardBytes` of tensor data (a tensor larger
 * than that gets a shard of its own) plus `model.safetensors.index.json`, in the layout HF save_pretrained uses.
 */
export async function writeShardedSafetensors(
  dir: string,
  tensors: TensorRecord,
  maxShardBytes: number,
  metadata?: Record<string, string>,
): Promise<ShardIndex> {
  const shards: [string, Tensor][][] = [];
  let current: [string, Tensor][] = [];
  let currentBytes = 0;
  let total = 0;
  for (const entry of entriesOf(tensors)) {
    const size = entry[1].data.byteLength;
    if (current.length > 0 && currentBytes + size > maxShardBytes) {
      shards.push(current);
      current = [];
      currentBytes = 0;
    }
    current.push(entry);
    currentBytes += size;
    total += size;
  }
  if (current.length > 0) shards.push(current);
  await fsp.mkdir(dir, { recursive: true });
  const n = String(shards.length).padStart(5, "0");
  const index: ShardIndex = { metadata: { total_size: total }, weight_map: {} };
  for (const [i, shard] of shards.entries()) {
    const file = `model-${String(i + 1).padStart(5, "0")}-of-${n}.safetensors`;
    await writeSafetensorsFile(join(dir, file), new Map(shard), metadata);
    for (const [name] of shard) index.weight_map[name] = file;
  }
  await fsp.writeFile(join(dir, SHARD_INDEX_FILE), `${JSON.stringify(index, null, 2)}\n`);
  return index;
}

// ---------------------------------------------------------------------------------------------------------
// Lazy checkpoint reading

export interface ShardHeader extends SafetensorsHeader {
  file: string;
  fileSize: number;
}

async function readExactly(fh: FileHandle, length: number, position: number): Promise<Uint8Array> {
  // A fresh Uint8Array starts at byteOffset 0 of its own ArrayBuffer, so any dtype can view it.
  const out = new Uint8Array(length);
  let done = 0;
  while (done < length) {
    const { bytesRead } = await fh.read(out, done, length - done, position + done);
    if (bytesRead === 0)
      throw new SafetensorsTruncatedError(`unexpected end of file at byte ${position + done}`);
    done += bytesRead;
  }
  return out;
}

/** Reads only the header of a safetensors file. */
export async function readSafetensorsHeader(file: string): Promise<ShardHeader> {
  const fh = await fsp.open(file, "r");
  try {
    return await readHeaderFrom(fh, file);
  } finally {
    await fh.close();
  }
}

async function readHeaderFrom(fh: FileHandle, file: string): Promise<ShardHeader> {
  const { size } = await fh.stat();
  const prefix = size >= 8 ? await readExactly(fh, 8, 0) : new Uint8Array(0);
  const n = readHeaderLength(prefix, size);
  const header = parseHeaderJson(await readExactly(fh, n, 8), size - 8 - n);
  return { ...header, file, fileSize: size };
}

async function exists(path: string): Promise<boolean> {
  try {
    await fsp.access(path);
    return true;
  } catch {
    return false;
  }
}

/**
 * Tensors of a checkpoint by name, read on demand. Opened from a directory holding
 * `model.safetensors.index.json` (sharded) or `model.safetensors`, or from a single `.safetensors` file.
 * Only the headers are read when opening; `read(name)` reads that tensor's byte range.
 */
export class SafetensorsCheckpoint {
  private readonly handles = new Map<string, Promise<FileHandle>>();
  private readonly syncFds = new Map<string, number>();

  private constructor(
    /** Metadata of the first shard (HF writes the same `{format: "pt"}` into every shard). */
    readonly metadata: Record<string, string>,
    private readonly shards: Map<string, ShardHeader>,
    private readonly location: Map<string, string>,
  ) {}

  static async open(path: string): Promise<SafetensorsCheckpoint> {
    const stat = await fsp.stat(path).catch(() => null);
    if (!stat) throw new SafetensorsError("NO_CHECKPOINT", `no such file or directory: ${path}`);
    if (stat.isFile()) return SafetensorsCheckpoint.fromFiles(new Map(), [path]);
    const indexPath = join(path, SHARD_INDEX_FILE);
    if (await exists(indexPath)) return SafetensorsCheckpoint.fromIndex(path, indexPath);
    const single = join(path, SINGLE_FILE);
    if (await exists(single)) return SafetensorsCheckpoint.fromFiles(new Map(), [single]);
    throw new SafetensorsError("NO_CHECKPOINT", `${path} has neither ${SHARD_INDEX_FILE} nor ${SINGLE_FILE}`);
  }

  private static async fromIndex(dir: string, indexPath: string): Promise<SafetensorsCheckpoint> {
    let weightMap: unknown;
    try {
      weightMap = (JSON.parse(await fsp.readFile(indexPath, "utf8")) as { weight_map?: unknown }).weight_map;
    } catch (e) {
      throw new SafetensorsError("BAD_INDEX", `${indexPath}: ${(e as Error).message}`);
    }
    if (typeof weightMap !== "object" || weightMap === null || Array.isArray(weightMap)) {
      throw new SafetensorsError("BAD_INDEX", `${indexPath}: weight_map is not an object`);
    }
    const wanted = new Map<string, string>();
    for (const [name, file] of Object.entries(weightMap as Record<string, unknown>)) {
      if (typeof file !== "string" || file.includes("/") || file.includes("\\") || file.startsWith(".")) {
        throw new SafetensorsError("BAD_INDEX", `${indexPath}: bad shard file name for ${name}`);
      }
      wanted.set(name, join(dir, file));
    }
    const files = [...new Set(wanted.values())];
    for (const file of files) {
      if (!(await exists(file)))
        throw new SafetensorsShardError(`shard ${file} listed in ${indexPath} is missing`);
    }
    return SafetensorsCheckpoint.fromFiles(wanted, files);
  }

  private static async fromFiles(
    wanted: Map<string, string>,
    files: string[],
  ): Promise<SafetensorsCheckpoint> {
    const shards = new Map<string, ShardHeader>();
    for (const file of files) shards.set(file, await readSafetensorsHeader(file));
    const location = new Map<string, string>();
    if (wanted.size === 0) {
      for (const [file, h] of shards) for (const name of h.tensors.keys()) location.set(name, file);
    } else {
      for (const [name, file] of wanted) {
        if (!shards.get(file)?.tensors.has(name)) {
          throw new SafetensorsError(
            "MISSING_TENSOR",
            `${name} is mapped to ${file} but that shard lacks it`,
          );
        }
        location.set(name, file);
      }
    }
    const first = shards.values().next().value as ShardHeader | undefined;
    return new SafetensorsCheckpoint(first?.metadata ?? {}, shards, location);
  }

  names(): string[] {
    return [...this.location.keys()];
  }

  has(name: string): boolean {
    return this.location.has(name);
  }

  info(name: string): TensorInfo {
    const file = this.location.get(name);
    const info = file === undefined ? undefined : this.shards.get(file)?.tensors.get(name);
    if (!info) throw new SafetensorsError("MISSING_TENSOR", `no tensor named ${name}`);
    return info;
  }

  /** The shard file that holds `name`. */
  fileOf(name: string): string {
    const file = this.location.get(name);
    if (file === undefined) throw new SafetensorsError("MISSING_TENSOR", `no tensor named ${name}`);
    return file;
  }

  /**
   * Where the tensor's bytes lie: absolute offset and length in its shard file (for ONNX external-data
   * references straight into the checkpoint).
   */
  byteRange(name: string): { file: string; offset: number; length: number } {
    const info = this.info(name);
    const file = this.fileOf(name);
    const [begin, end] = info.dataOffsets;
    return { file, offset: this.shards.get(file)!.dataStart + begin, length: end - begin };
  }

  /** Reads one tensor into fresh memory. */
  async read(name: string): Promise<Tensor> {
    const info = this.info(name);
    const { file, offset, length } = this.byteRange(name);
    const bytes = await readExactly(await this.handle(file), length, offset);
    return { dtype: info.dtype, shape: [...info.shape], data: viewAs(info.dtype, bytes) };
  }

  /** Reads one floating-point tensor (F32, F16, BF16 or F64) as float32. */
  async readFloat32(name: string): Promise<Float32Array> {
    return toFloat32(await this.read(name));
  }

  /**
   * read(), synchronously: for graph builders, which ask for weights one at a time while building (so a
   * loader can convert or quantize each weight as it is bound instead of holding them all).
   */
  readSync(name: string): Tensor {
    const info = this.info(name);
    const { file, offset, length } = this.byteRange(name);
    let fd = this.syncFds.get(file);
    if (fd === undefined) {
      fd = openSync(file, "r");
      this.syncFds.set(file, fd);
    }
    const bytes = new Uint8Array(length);
    for (let done = 0; done < length; ) {
      const n = readSync(fd, bytes, done, length - done, offset + done);
      if (n === 0) throw new SafetensorsTruncatedError(`${file}: ${name} runs past the end of the file`);
      done += n;
    }
    return { dtype: info.dtype, shape: [...info.shape], data: viewAs(info.dtype, bytes) };
  }

  readFloat32Sync(name: string): Float32Array {
    return toFloat32(this.readSync(name));
  }

  private handle(file: string): Promise<FileHandle> {
    let h = this.handles.get(file);
    if (!h) {
      h = fsp.open(file, "r");
      // A failed open is not cached, so a later read tries again.
      h.catch(() => this.handles.delete(file));
      this.handles.set(file, h);
    }
    return h;
  }

  async close(): Promise<void> {
    const handles = [...this.handles.values()];
    this.handles.clear();
    for (const fd of this.syncFds.values()) closeSync(fd);
    this.syncFds.clear();
    await Promise.all(handles.map((h) => h.then((fh) => fh.close()).catch(() => undefined)));
  }
}

// ---------------------------------------------------------------------------------------------------------
// Half-precision conversions

const f32Scratch = new Float32Array(1);
const u32Scratch = new Uint32Array(f32Scratch.buffer);

/** IEEE 754 binary16 bits -> float32 (exact). */
export function f16BitsToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

let f16Table: Float32Array | undefined;

/** Through a 65536-entry table (256 KiB, built on first use): ~10x faster on multi-gigabyte checkpoints. */
export function f16ToF32(bits: Uint16Array): Float32Array {
  if (!f16Table) {
    f16Table = new Float32Array(65536);
    for (let h = 0; h < 65536; h++) f16Table[h] = f16BitsToNumber(h);
  }
  const table = f16Table;
  const out = new Float32Array(bits.length);
  for (let i = 0; i < bits.length; i++) out[i] = table[bits[i]!]!;
  return out;
}

/** bfloat16 bits are the top half of the float32 bits. */
export function bf16ToF32(bits: Uint16Array): Float32Array {
  const out = new Float32Array(bits.length);
  const u = new Uint32Array(out.buffer);
  for (let i = 0; i < bits.length; i++) u[i] = bits[i]! << 16;
  return out;
}

/** Number -> binary16 bits, rounding to nearest even; overflow -> infinity; NaN -> 0x7e00. */
export function numberToF16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7e00;
  // Round to float32 first, as a float32 -> float16 cast does.
  f32Scratch[0] = x;
  const f = u32Scratch[0]!;
  const sign = (f >>> 16) & 0x8000;
  const exp = (f >>> 23) & 0xff;
  const mant = f & 0x7fffff;
  if (exp === 0xff) return sign | 0x7c00; // infinity (NaN handled above)
  const e = exp - 127 + 15;
  if (e >= 0x1f) return sign | 0x7c00;
  if (e <= 0) {
    // Subnormal half (or zero): value = m * 2^-24 with m = round(|x| * 2^24).
    if (e < -10) return sign;
    const m = mant | 0x800000;
    const shift = 14 - e;
    let half = m >>> shift;
    const rem = m & ((1 << shift) - 1);
    const mid = 1 << (shift - 1);
    if (rem > mid || (rem === mid && half & 1)) half++;
    return sign | half;
  }
  let half = (e << 10) | (mant >>> 13);
  const rem = mant & 0x1fff;
  if (rem > 0x1000 || (rem === 0x1000 && half & 1)) half++; // may carry into the exponent, up to infinity
  return sign | half;
}

export function f32ToF16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = numberToF16Bits(values[i]!);
  return out;
}

/** Number -> bfloat16 bits, rounding to nearest even (as torch does); NaN stays a quiet NaN. */
export function numberToBf16Bits(x: number): number {
  if (Number.isNaN(x)) return 0x7fc0;
  f32Scratch[0] = x;
  const f = u32Scratch[0]!;
  return ((f + 0x7fff + ((f >>> 16) & 1)) >>> 16) & 0xffff;
}

export function f32ToBf16(values: ArrayLike<number>): Uint16Array {
  const out = new Uint16Array(values.length);
  for (let i = 0; i < values.length; i++) out[i] = numberToBf16Bits(values[i]!);
  return out;
}

/** Any floating-point tensor as float32 (F32 is returned as is, not copied; F64 is rounded). */
export function toFloat32(t: Tensor): Float32Array {
  switch (t.dtype) {
    case "F32":
      return t.data as Float32Array;
    case "F16":
      return f16ToF32(t.data as Uint16Array);
    case "BF16":
      return bf16ToF32(t.data as Uint16Array);
    case "F64":
      return Float32Array.from(t.data as Float64Array);
    default:
      throw new SafetensorsError("BAD_TENSOR", `cannot convert ${t.dtype} to float32`);
  }
}
