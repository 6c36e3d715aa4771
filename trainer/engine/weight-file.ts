// An append-only file of weights in the form a graph wants them (converted to float32, quantized), each at
// a 4096-aligned offset, referenced from graphs with `graph.fileInitializer`. A loader writes each weight
// as it converts it and drops it, so a model far larger than memory as float32 is never held in JS; graphs
// built later reuse the same ranges, and onnxruntime memory-maps them (compile with { directory }).

import { closeSync, openSync, writeSync } from "node:fs";
import { resolve } from "node:path";
import type { TensorData } from "./dtype";
import type { FileReference } from "./graph";
import { EXTERNAL_DATA_ALIGNMENT } from "./onnx";

export class WeightFile {
  readonly path: string;
  private fd: number | null;
  private end = 0;

  /** Creates (truncates) `path`. */
  constructor(path: string) {
    this.path = resolve(path);
    this.fd = openSync(this.path, "w");
  }

  /** Bytes written so far (with alignment padding). */
  get size(): number {
    return this.end;
  }

  /** Writes `data` at the next aligned offset; the returned range is valid for `fileInitializer`. */
  append(data: TensorData): FileReference {
    if (this.fd === null) throw new Error(`${this.path} is closed`);
    const bytes = new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
    const offset = Math.ceil(this.end / EXTERNAL_DATA_ALIGNMENT) * EXTERNAL_DATA_ALIGNMENT;
    for (let written = 0; written < bytes.length; ) {
      written += writeSync(this.fd, bytes, written, bytes.length - written, offset + written);
    }
    this.end = offset + bytes.length;
    return { file: this.path, offset, length: bytes.length };
  }

  close(): void {
    if (this.fd !== null) closeSync(this.fd);
    this.fd = null;
  }
}
