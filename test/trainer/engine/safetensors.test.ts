import { promises as fsp } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import {
  bf16ToF32,
  DTYPE_BYTES,
  decodeSafetensors,
  encodeSafetensors,
  f16ToF32,
  f32ToBf16,
  f32ToF16,
  numberToF16Bits,
  readSafetensorsFile,
  readSafetensorsHeader,
  SAFETENSORS_DTYPES,
  SafetensorsCheckpoint,
  SafetensorsError,
  type SafetensorsErrorCode,
  SafetensorsOffsetError,
  SafetensorsShardError,
  SafetensorsTruncatedError,
  type Tensor,
  toFloat32,
  writeSafetensorsFile,
  writeShardedSafetensors,
} from "../../../trainer/engine/safetensors";

const FIXTURES = join(import.meta.dirname, "../../fixtures/safetensors");

type JsonFloat = number | "nan" | "inf" | "-inf";
const fromJson = (x: JsonFloat): number =>
  x === "nan" ? Number.NaN : x === "inf" ? Infinity : x === "-inf" ? -Infinity : x;

interface ExpectedTensor {
  dtype: string;
  shape: number[];
  values?: (JsonFloat | string)[];
  bits?: number[];
  as_f32?: JsonFloat[];
}
interface ExpectedAllDtypes {
  metadata: Record<string, string>;
  half_sources_f32: JsonFloat[];
  tensors: Record<string, ExpectedTensor>;
}

let tmp: string;
beforeAll(async () => {
  tmp = await fsp.mkdtemp(join(tmpdir(), "safetensors-test-"));
});
afterAll(async () => {
  await fsp.rm(tmp, { recursive: true, force: true });
});

/** One small tensor of every dtype, with awkward values (negative, extremes, odd lengths). */
function everyDtype(): Map<string, Tensor> {
  return new Map<string, Tensor>([
    ["f64", { dtype: "F64", shape: [2, 2], data: Float64Array.from([1.5, -2.25, Math.PI, -0]) }],
    ["f32", { dtype: "F32", shape: [3], data: Float32Array.from([0.1, -1e30, 7]) }],
    ["f16", { dtype: "F16", shape: [3], data: f32ToF16([1, -0.5, 65504]) }],
    ["bf16", { dtype: "BF16", shape: [1, 3], data: f32ToBf16([1, -3.5, 1e38]) }],
    ["i64", { dtype: "I64", shape: [2], data: BigInt64Array.from([-(2n ** 63n), 2n ** 63n - 1n]) }],
    ["i32", { dtype: "I32", shape: [3], data: Int32Array.from([-(2 ** 31), 0, 2 ** 31 - 1]) }],
    ["i16", { dtype: "I16", shape: [3], data: Int16Array.from([-32768, 1, 32767]) }],
    ["i8", { dtype: "I8", shape: [3], data: Int8Array.from([-128, 0, 127]) }],
    ["u8", { dtype: "U8", shape: [3], data: Uint8Array.from([0, 128, 255]) }],
    ["bool", { dtype: "BOOL", shape: [5], data: Uint8Array.from([1, 0, 0, 1, 1]) }],
    ["scalar", { dtype: "F32", shape: [], data: Float32Array.from([42]) }],
    ["empty", { dtype: "I32", shape: [0, 4], data: new Int32Array(0) }],
  ]);
}

function expectSameTensors(actual: Map<string, Tensor>, expected: Map<string, Tensor>): void {
  expect([...actual.keys()].sort()).toEqual([...expected.keys()].sort());
  for (const [name, t] of expected) {
    const a = actual.get(name)!;
    expect(a.dtype, name).toBe(t.dtype);
    expect(a.shape, name).toEqual(t.shape);
    expect(a.data.constructor, name).toBe(t.data.constructor);
    expect(Array.from(a.data as ArrayLike<number | bigint>), name).toEqual(
      Array.from(t.data as ArrayLike<number | bigint>),
    );
  }
}

/** A safetensors buffer with a hand-written header (for corruption cases). */
function rawFile(header: unknown, dataBytes: number): Uint8Array {
  const text = new TextEncoder().encode(typeof header === "string" ? header : JSON.stringify(header));
  const out = new Uint8Array(8 + text.byteLength + dataBytes);
  new DataView(out.buffer).setBigUint64(0, BigInt(text.byteLength), true);
  out.set(text, 8);
  return out;
}

function expectCode(fn: () => unknown, code: SafetensorsErrorCode): SafetensorsError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(SafetensorsError);
    expect((e as SafetensorsError).code).toBe(code);
    return e as SafetensorsError;
  }
  throw new Error(`expected a SafetensorsError with code ${code}`);
}

async function expectCodeAsync(p: Promise<unknown>, code: SafetensorsErrorCode): Promise<void> {
  const e = await p.then(
    () => null,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(SafetensorsError);
  expect((e as SafetensorsError).code).toBe(code);
}

describe("round trip", () => {
  it("covers every dtype", () => {
    const dtypes = new Set([...everyDtype().values()].map((t) => t.dtype));
    expect([...dtypes].sort()).toEqual([...SAFETENSORS_DTYPES].sort());
  });

  it("encode -> decode keeps every dtype, shape, value and the metadata", () => {
    const tensors = everyDtype();
    const bytes = encodeSafetensors(tensors, { format: "pt", note: "round trip" });
    const decoded = decodeSafetensors(bytes);
    expect(decoded.metadata).toEqual({ format: "pt", note: "round trip" });
    expectSameTensors(decoded.tensors, tensors);
  });

  it("writes a file, reads it whole, and reads it lazily", async () => {
    const tensors = everyDtype();
    const path = join(tmp, "round.safetensors");
    await writeSafetensorsFile(path, tensors, { format: "pt" });
    expect(await fsp.readFile(path)).toEqual(Buffer.from(encodeSafetensors(tensors, { format: "pt" })));
    expectSameTensors((await readSafetensorsFile(path)).tensors, tensors);
    const ckpt = await SafetensorsCheckpoint.open(path);
    try {
      const lazy = new Map<string, Tensor>();
      for (const name of ckpt.names()) lazy.set(name, await ckpt.read(name));
      expectSameTensors(lazy, tensors);
      expect(ckpt.metadata).toEqual({ format: "pt" });
    } finally {
      await ckpt.close();
    }
  });

  it("aligns every tensor in the file (header padded to 8, larger elements first)", () => {
    const bytes = encodeSafetensors(everyDtype());
    const header = decodeSafetensors(bytes);
    const dataStart = 8 + Number(new DataView(bytes.buffer).getBigUint64(0, true));
    expect(dataStart % 8).toBe(0);
    for (const t of header.tensors.values()) {
      expect(t.data.buffer).toBe(bytes.buffer);
      expect(t.data.byteOffset % DTYPE_BYTES[t.dtype]).toBe(0);
    }
  });
});

describe("zero-copy views", () => {
  it("views the input buffer when aligned and copies when not", () => {
    const tensors = everyDtype();
    const aligned = encodeSafetensors(tensors);
    const shifted = new Uint8Array(aligned.byteLength + 1).subarray(1);
    shifted.set(aligned);
    const a = decodeSafetensors(aligned).tensors;
    const s = decodeSafetensors(shifted).tensors;
    expectSameTensors(s, tensors);
    for (const [name, t] of a) expect(t.data.buffer, name).toBe(aligned.buffer);
    // Shifted by one byte: one-byte types are still views, wider ones had to be copied.
    for (const [name, t] of s) {
      if (t.data.byteLength > 0)
        expect(t.data.buffer === shifted.buffer, name).toBe(DTYPE_BYTES[t.dtype] === 1);
    }
    // A view shares memory: writing through it changes the buffer.
    (a.get("f32")!.data as Float32Array)[0] = 5;
    expect((decodeSafetensors(aligned).tensors.get("f32")!.data as Float32Array)[0]).toBe(5);
  });
});

describe("fixture written by Python's safetensors library", () => {
  let expected: ExpectedAllDtypes;
  let fileBytes: Uint8Array;
  beforeAll(async () => {
    expected = JSON.parse(await fsp.readFile(join(FIXTURES, "all_dtypes.json"), "utf8")) as ExpectedAllDtypes;
    fileBytes = new Uint8Array(await fsp.readFile(join(FIXTURES, "all_dtypes.safetensors")));
  });

  it("decodes every tensor to the values Python wrote", () => {
    const { metadata, tensors } = decodeSafetensors(fileBytes);
    expect(metadata).toEqual(expected.metadata);
    expect([...tensors.keys()].sort()).toEqual(Object.keys(expected.tensors).sort());
    for (const [name, exp] of Object.entries(expected.tensors)) {
      const t = tensors.get(name)!;
      expect(t.dtype, name).toBe(exp.dtype);
      expect(t.shape, name).toEqual(exp.shape);
      if (exp.bits) {
        expect(Array.from(t.data as Uint16Array), name).toEqual(exp.bits);
        expect(Array.from(toFloat32(t)), name).toEqual(exp.as_f32!.map(fromJson));
      } else if (t.dtype === "I64") {
        expect(Array.from(t.data as BigInt64Array), name).toEqual(
          exp.values!.map((v) => BigInt(v as string)),
        );
      } else {
        expect(Array.from(t.data as ArrayLike<number>), name).toEqual(
          exp.values!.map((v) => fromJson(v as JsonFloat)),
        );
      }
    }
  });

  it("re-encodes to the same bytes as Python", () => {
    const { metadata, tensors } = decodeSafetensors(fileBytes);
    expect(Buffer.from(encodeSafetensors(tensors, metadata)).equals(Buffer.from(fileBytes))).toBe(true);
  });

  it("rounds float32 to f16 and bf16 exactly as torch does (nearest even, overflow, subnormals)", () => {
    const sources = expected.half_sources_f32.map(fromJson);
    const f16 = expected.tensors.f16!;
    const bf16 = expected.tensors.bf16!;
    // NaN payloads may differ between implementations; compare NaN-ness there, bits elsewhere.
    const sameBits = (ours: Uint16Array, theirs: number[], isNanBits: (b: number) => boolean) => {
      for (const [i, b] of theirs.entries()) {
        if (isNanBits(b)) expect(isNanBits(ours[i]!), `index ${i}`).toBe(true);
        else expect(ours[i], `index ${i} (${sources[i]})`).toBe(b);
      }
    };
    sameBits(f32ToF16(sources), f16.bits!, (b) => (b & 0x7c00) === 0x7c00 && (b & 0x3ff) !== 0);
    sameBits(f32ToBf16(sources), bf16.bits!, (b) => (b & 0x7f80) === 0x7f80 && (b & 0x7f) !== 0);
    expect(Array.from(f16ToF32(Uint16Array.from(f16.bits!)))).toEqual(f16.as_f32!.map(fromJson));
    expect(Array.from(bf16ToF32(Uint16Array.from(bf16.bits!)))).toEqual(bf16.as_f32!.map(fromJson));
  });
});

describe("half-precision helpers", () => {
  it("decode every finite f16 bit pattern and re-encode it to the same bits", () => {
    for (let b = 0; b < 0x10000; b++) {
      if ((b & 0x7c00) === 0x7c00 && (b & 0x3ff) !== 0) continue; // NaN
      const x = f16ToF32(Uint16Array.of(b))[0]!;
      expect(numberToF16Bits(x)).toBe(b);
    }
  });

  it("map bf16 to the top half of the float32 bits", () => {
    const bits = Uint16Array.from([0x3f80, 0xc040, 0x7f80, 0x0001]);
    expect(Array.from(bf16ToF32(bits))).toEqual([1, -3, Infinity, 2 ** -133]);
    expect(Array.from(f32ToBf16(bf16ToF32(bits)))).toEqual(Array.from(bits));
  });

  it("convert F64 to float32 and refuse integers", () => {
    expect(Array.from(toFloat32({ dtype: "F64", shape: [2], data: Float64Array.from([0.1, 2]) }))).toEqual([
      Math.fround(0.1),
      2,
    ]);
    expectCode(() => toFloat32({ dtype: "I32", shape: [1], data: Int32Array.of(1) }), "BAD_TENSOR");
  });
});

interface ExpectedShard {
  shape: number[];
  as_f64: number[];
}

describe("sharded checkpoints", () => {
  it("reads a checkpoint sharded by huggingface_hub through model.safetensors.index.json", async () => {
    const dir = join(FIXTURES, "sharded");
    const expected = JSON.parse(await fsp.readFile(join(FIXTURES, "sharded.json"), "utf8")) as Record<
      string,
      ExpectedShard
    >;
    const ckpt = await SafetensorsCheckpoint.open(dir);
    try {
      expect(ckpt.names().sort()).toEqual(Object.keys(expected).sort());
      expect(ckpt.fileOf("embed.weight")).toBe(join(dir, "model-00001-of-00002.safetensors"));
      expect(ckpt.fileOf("head.weight")).toBe(join(dir, "model-00002-of-00002.safetensors"));
      expect(ckpt.info("layers.1.weight").dtype).toBe("BF16");
      for (const [name, exp] of Object.entries(expected)) {
        const t = await ckpt.read(name);
        expect(t.shape, name).toEqual(exp.shape);
        const values =
          t.dtype === "I64" ? Array.from(t.data as BigInt64Array, Number) : Array.from(toFloat32(t));
        expect(values, name).toEqual(exp.as_f64.map(Math.fround));
      }
      const range = ckpt.byteRange("layers.0.bias");
      const raw = (await fsp.readFile(range.file)).subarray(range.offset, range.offset + range.length);
      expect(
        Array.from(new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.byteLength))),
      ).toEqual(expected["layers.0.bias"]!.as_f64.map(Math.fround));
      expect(Array.from(await ckpt.readFloat32("head.weight"))).toEqual(
        expected["head.weight"]!.as_f64.map(Math.fround),
      );
    } finally {
      await ckpt.close();
    }
  });

  it("writes shards and an index that read back", async () => {
    const dir = join(tmp, "sharded-out");
    const tensors = everyDtype();
    const index = await writeShardedSafetensors(dir, tensors, 24, { format: "pt" });
    const files = new Set(Object.values(index.weight_map));
    expect(files.size).toBeGreaterThan(2);
    expect(index.metadata.total_size).toBe([...tensors.values()].reduce((s, t) => s + t.data.byteLength, 0));
    const ckpt = await SafetensorsCheckpoint.open(dir);
    try {
      const lazy = new Map<string, Tensor>();
      for (const name of ckpt.names()) lazy.set(name, await ckpt.read(name));
      expectSameTensors(lazy, tensors);
    } finally {
      await ckpt.close();
    }
  });

  it("opens a directory with only model.safetensors", async () => {
    const dir = join(tmp, "single");
    await fsp.mkdir(dir);
    await writeSafetensorsFile(join(dir, "model.safetensors"), everyDtype());
    const ckpt = await SafetensorsCheckpoint.open(dir);
    expect(ckpt.names().length).toBe(everyDtype().size);
    await ckpt.close();
  });

  it("reads one tensor of a file far larger than what it reads (headers and byte ranges only)", async () => {
    // A sparse 2 GiB file: the header describes a huge tensor that is never read.
    const huge = 2 ** 29; // float32 elements = 2 GiB
    const small = Float32Array.from([1, 2, 3]);
    const header = {
      big: { dtype: "F32", shape: [huge], data_offsets: [0, huge * 4] },
      small: { dtype: "F32", shape: [3], data_offsets: [huge * 4, huge * 4 + 12] },
    };
    const text = new TextEncoder().encode(JSON.stringify(header));
    const prefix = new Uint8Array(8);
    new DataView(prefix.buffer).setBigUint64(0, BigInt(text.byteLength), true);
    const path = join(tmp, "huge.safetensors");
    const fh = await fsp.open(path, "w");
    await fh.write(prefix, 0, 8, 0);
    await fh.write(text, 0, text.byteLength, 8);
    const dataStart = 8 + text.byteLength;
    await fh.write(new Uint8Array(small.buffer), 0, 12, dataStart + huge * 4);
    await fh.close();
    const before = process.memoryUsage().rss;
    const ckpt = await SafetensorsCheckpoint.open(path);
    try {
      expect(ckpt.info("big").shape).toEqual([huge]);
      expect(Array.from((await ckpt.read("small")).data as Float32Array)).toEqual([1, 2, 3]);
      expect(process.memoryUsage().rss - before).toBeLessThan(256 * 2 ** 20);
    } finally {
      await ckpt.close();
    }
  });
});

describe("tiny-llama fixture written by transformers save_pretrained", () => {
  for (const variant of ["untied", "tied"] as const) {
    it(`${variant}: every parameter is F32 with its config shape, and the golden has a gradient for each`, async () => {
      const dir = join(import.meta.dirname, "../../fixtures/tiny-llama", variant);
      const config = JSON.parse(await fsp.readFile(join(dir, "config.json"), "utf8")) as {
        hidden_size: number;
        vocab_size: number;
        num_hidden_layers: number;
        tie_word_embeddings: boolean;
      };
      const ckpt = await SafetensorsCheckpoint.open(dir);
      const golden = await SafetensorsCheckpoint.open(join(dir, "golden.safetensors"));
      try {
        expect(ckpt.metadata).toEqual({ format: "pt" });
        expect(ckpt.has("lm_head.weight")).toBe(!config.tie_word_embeddings);
        expect(ckpt.names().length).toBe(9 * config.num_hidden_layers + (config.tie_word_embeddings ? 2 : 3));
        expect(ckpt.info("model.embed_tokens.weight").shape).toEqual([config.vocab_size, config.hidden_size]);
        const names = JSON.parse(golden.metadata.parameter_names!) as string[];
        expect(names.sort()).toEqual(ckpt.names().sort());
        for (const name of names) {
          expect(ckpt.info(name).dtype, name).toBe("F32");
          expect(golden.info(`grad.${name}`).shape, name).toEqual(ckpt.info(name).shape);
        }
        expect(golden.info("loss_f64")).toMatchObject({ dtype: "F64", shape: [] });
        const loss = (await golden.read("loss_f64")).data as Float64Array;
        expect(loss[0]).toBeGreaterThan(0);
      } finally {
        await ckpt.close();
        await golden.close();
      }
    });
  }
});

describe("corrupt input gives typed errors", () => {
  const good = () => encodeSafetensors(everyDtype());

  it("truncated: fewer than 8 bytes, header cut, data cut", async () => {
    const bytes = good();
    const e = expectCode(() => decodeSafetensors(bytes.subarray(0, 5)), "TRUNCATED");
    expect(e).toBeInstanceOf(SafetensorsTruncatedError);
    expectCode(() => decodeSafetensors(bytes.subarray(0, 40)), "TRUNCATED");
    expectCode(() => decodeSafetensors(bytes.subarray(0, bytes.byteLength - 1)), "TRUNCATED");
    const path = join(tmp, "cut.safetensors");
    await fsp.writeFile(path, bytes.subarray(0, bytes.byteLength - 3));
    await expectCodeAsync(readSafetensorsHeader(path), "TRUNCATED");
    await expectCodeAsync(SafetensorsCheckpoint.open(path), "TRUNCATED");
  });

  it("bad headers: not JSON, not UTF-8, not an object, absurd length, bad fields", () => {
    expectCode(() => decodeSafetensors(rawFile("{not json", 0)), "BAD_HEADER");
    expectCode(() => decodeSafetensors(rawFile("[1,2]", 0)), "BAD_HEADER");
    const notUtf8 = rawFile('{"a":1}', 0);
    notUtf8[10] = 0xff;
    expectCode(() => decodeSafetensors(notUtf8), "BAD_HEADER");
    const absurd = new Uint8Array(16);
    new DataView(absurd.buffer).setBigUint64(0, 2n ** 63n, true);
    expectCode(() => decodeSafetensors(absurd), "BAD_HEADER");
    expectCode(() => decodeSafetensors(rawFile({ __metadata__: { n: 1 } }, 0)), "BAD_HEADER");
    expectCode(
      () => decodeSafetensors(rawFile({ x: { dtype: "F32", shape: [-1], data_offsets: [0, 4] } }, 4)),
      "BAD_HEADER",
    );
    expectCode(() => decodeSafetensors(rawFile({ x: { dtype: "F32", shape: [1] } }, 4)), "BAD_HEADER");
    expectCode(() => decodeSafetensors(rawFile({ x: [1] }, 4)), "BAD_HEADER");
  });

  it("unknown dtype", () => {
    const e = expectCode(
      () => decodeSafetensors(rawFile({ x: { dtype: "F8_E4M3", shape: [2], data_offsets: [0, 2] } }, 2)),
      "UNKNOWN_DTYPE",
    );
    expect(e.message).toContain("F8_E4M3");
  });

  it("overlapping, inconsistent and out-of-bounds offsets", () => {
    const overlap = rawFile(
      {
        a: { dtype: "F32", shape: [2], data_offsets: [0, 8] },
        b: { dtype: "F32", shape: [2], data_offsets: [4, 12] },
      },
      12,
    );
    expect(expectCode(() => decodeSafetensors(overlap), "BAD_OFFSETS")).toBeInstanceOf(
      SafetensorsOffsetError,
    );
    const wrongSize = rawFile({ a: { dtype: "F32", shape: [3], data_offsets: [0, 8] } }, 8);
    expectCode(() => decodeSafetensors(wrongSize), "BAD_OFFSETS");
    const reversed = rawFile({ a: { dtype: "F32", shape: [0], data_offsets: [8, 0] } }, 8);
    expectCode(() => decodeSafetensors(reversed), "BAD_OFFSETS");
    // A range far past the data section, leaving a hole: the header is wrong, not the file short.
    const outside = rawFile(
      {
        a: { dtype: "F32", shape: [1], data_offsets: [0, 4] },
        b: { dtype: "F32", shape: [1], data_offsets: [100, 104] },
      },
      8,
    );
    expectCode(() => decodeSafetensors(outside), "BAD_OFFSETS");
  });

  it("encoding refuses data that does not match dtype or shape", () => {
    expectCode(
      () => encodeSafetensors({ x: { dtype: "F32", shape: [3], data: new Float32Array(2) } }),
      "BAD_TENSOR",
    );
    expectCode(
      () =>
        encodeSafetensors({
          x: { dtype: "F32", shape: [2], data: new Float64Array(2) } as unknown as Tensor,
        }),
      "BAD_TENSOR",
    );
    expectCode(
      () => encodeSafetensors({ x: { dtype: "F8" as "F32", shape: [1], data: new Float32Array(1) } }),
      "UNKNOWN_DTYPE",
    );
  });

  it("missing shard, tensor absent from its shard, bad index, no checkpoint", async () => {
    const dir = join(tmp, "broken-shards");
    await writeShardedSafetensors(dir, everyDtype(), 24);
    const indexPath = join(dir, "model.safetensors.index.json");
    const index = JSON.parse(await fsp.readFile(indexPath, "utf8")) as { weight_map: Record<string, string> };
    const victim = index.weight_map.i8!;
    await fsp.rename(join(dir, victim), join(dir, `${victim}.gone`));
    const err = await SafetensorsCheckpoint.open(dir).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SafetensorsShardError);
    expect((err as SafetensorsError).code).toBe("MISSING_SHARD");
    await fsp.rename(join(dir, `${victim}.gone`), join(dir, victim));

    const moved = { ...index.weight_map, i8: index.weight_map.f64! };
    await fsp.writeFile(indexPath, JSON.stringify({ weight_map: moved }));
    await expectCodeAsync(SafetensorsCheckpoint.open(dir), "MISSING_TENSOR");

    await fsp.writeFile(indexPath, JSON.stringify({ weight_map: { x: "../../etc/passwd" } }));
    await expectCodeAsync(SafetensorsCheckpoint.open(dir), "BAD_INDEX");
    await fsp.writeFile(indexPath, "{");
    await expectCodeAsync(SafetensorsCheckpoint.open(dir), "BAD_INDEX");

    const empty = join(tmp, "empty-dir");
    await fsp.mkdir(empty);
    await expectCodeAsync(SafetensorsCheckpoint.open(empty), "NO_CHECKPOINT");
    await expectCodeAsync(SafetensorsCheckpoint.open(join(tmp, "nope")), "NO_CHECKPOINT");

    const ckpt = await SafetensorsCheckpoint.open(join(FIXTURES, "sharded"));
    await expectCodeAsync(ckpt.read("no.such.tensor"), "MISSING_TENSOR");
    await ckpt.close();
  });
});
