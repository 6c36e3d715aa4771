// A minimal protobuf writer: just the wire types ONNX needs (varint, length-delimited, fixed32/64).
// Messages are built bottom-up as byte chunks so large raw tensors are never copied twice.

const textEncoder = new TextEncoder();

export class ProtoWriter {
  private chunks: Uint8Array[] = [];
  // Small writes gather here and become one chunk; `length` counts flushed chunks only.
  private scratch: number[] = [];
  length = 0;

  private flushScratch(): void {
    if (this.scratch.length === 0) return;
    const bytes = Uint8Array.from(this.scratch);
    this.chunks.push(bytes);
    this.length += bytes.length;
    this.scratch = [];
  }

  private pushBytes(bytes: Uint8Array): void {
    if (bytes.length < 64) {
      for (const b of bytes) this.scratch.push(b);
      return;
    }
    this.flushScratch();
    this.chunks.push(bytes);
    this.length += bytes.length;
  }

  private varintRaw(value: number | bigint): void {
    let v = BigInt.asUintN(64, BigInt(value));
    if (typeof value === "number" && value >= 0 && value < 2 ** 31) {
      let n = value;
      while (n > 0x7f) {
        this.scratch.push((n & 0x7f) | 0x80);
        n >>>= 7;
      }
      this.scratch.push(n);
      return;
    }
    while (v > 0x7fn) {
      this.scratch.push(Number(v & 0x7fn) | 0x80);
      v >>= 7n;
    }
    this.scratch.push(Number(v));
  }

  private tag(field: number, wireType: number): void {
    this.varintRaw((field << 3) | wireType);
  }

  /** int32/int64/enum/bool field; negatives are written as 64-bit two's complement, as protobuf requires. */
  varint(field: number, value: number | bigint): this {
    this.tag(field, 0);
    this.varintRaw(value);
    return this;
  }

  float32(field: number, value: number): this {
    this.tag(field, 5);
    const buf = new Uint8Array(4);
    new DataView(buf.buffer).setFloat32(0, value, true);
    for (const b of buf) this.scratch.push(b);
    return this;
  }

  bytes(field: number, value: Uint8Array): this {
    this.tag(field, 2);
    this.varintRaw(value.length);
    this.pushBytes(value);
    return this;
  }

  string(field: number, value: string): this {
    return this.bytes(field, textEncoder.encode(value));
  }

  /** Embedded message. */
  message(field: number, inner: ProtoWriter): this {
    inner.flushScratch();
    this.tag(field, 2);
    this.varintRaw(inner.length);
    this.flushScratch();
    for (const c of inner.chunks) this.chunks.push(c);
    this.length += inner.length;
    return this;
  }

  finish(): Uint8Array {
    this.flushScratch();
    if (this.chunks.length === 1) return this.chunks[0]!;
    const out = new Uint8Array(this.length);
    let offset = 0;
    for (const c of this.chunks) {
      out.set(c, offset);
      offset += c.length;
    }
    return out;
  }
}
