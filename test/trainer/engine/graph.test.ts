import { existsSync, mkdtempSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { dirname, join } from "node:path";
import * as ort from "onnxruntime-node";
import { afterAll, describe, expect, it } from "vitest";
import {
  add,
  argMax,
  cast,
  compile,
  concat,
  type DType,
  EXTERNAL_DATA_ALIGNMENT,
  Graph,
  gather,
  matmul,
  mul,
  ortTensor,
  Runtime,
  reduceSum,
  reshape,
  runGraph,
  serializeModel,
  slice,
  softmax,
  transpose,
  typedArrayOf,
} from "../../../trainer/engine/index";

const createdDirectories: string[] = [];
function temporaryDirectory(prefix: string): string {
  const dir = mkdtempSync(join(tmpdir(), prefix));
  createdDirectories.push(dir);
  return dir;
}
afterAll(() => {
  for (const dir of createdDirectories) rmSync(dir, { recursive: true, force: true });
});

function seededRandom(seed: number): () => number {
  let s = seed >>> 0;
  return () => {
    s = (s * 1664525 + 1013904223) >>> 0;
    return s / 2 ** 32 - 0.5;
  };
}

describe("graph builder", () => {
  it("names nodes hierarchically and uniquely", () => {
    const g = new Graph();
    const x = g.input("x", "float32", ["B", 4]);
    const w = g.input("w", "float32", [4, 4]);
    const y = g.scope("model/layers.3/self_attn", () => g.scope("q_proj", () => matmul(x, w)));
    const y2 = g.scope("model/layers.3/self_attn/q_proj", () => matmul(y, w));
    expect(y.producer!.name).toBe("/model/layers.3/self_attn/q_proj/MatMul");
    expect(y2.producer!.name).toBe("/model/layers.3/self_attn/q_proj/MatMul_1");
    expect(y.name).toBe("/model/layers.3/self_attn/q_proj/MatMul/output_0");
    expect(y.shape).toEqual(["B", 4]);
  });

  it("infers broadcast shapes statically and rejects mismatches", () => {
    const g = new Graph();
    const a = g.input("a", "float32", ["B", 1, 8]);
    const b = g.input("b", "float32", ["T", 8]);
    expect(add(a, b).shape).toEqual(["B", "T", 8]);
    const c = g.input("c", "float32", ["S", 8]);
    expect(() => add(b, c)).toThrow(/broadcast/);
    expect(reshape(a, [0, -1]).shape).toEqual(["B", 8]);
    const bt = reshape(add(a, b), [-1, 8]);
    expect(bt.shape).toEqual(["B*T", 8]);
  });

  it("deduplicates small constants", () => {
    const g = new Graph();
    const x = g.input("x", "float32", [2]);
    mul(x, 2);
    mul(x, 2);
    expect(g.initializers.size).toBe(1);
  });
});

describe("serialization and forward runs through onnxruntime", () => {
  it("runs a small attention-like block and matches a direct computation", async () => {
    const g = new Graph("block");
    const x = g.input("x", "float32", ["B", "T", 4]);
    const rand = seededRandom(1);
    const wData = Float32Array.from({ length: 16 }, rand);
    const w = g.initializer("model.w", "float32", [4, 4], wData);
    const h = g.scope("block", () => matmul(x, w));
    const scores = matmul(h, transpose(h, [0, 2, 1]));
    const probs = softmax(scores, -1);
    const out = reduceSum(probs, [-1], { keepdims: false });
    g.output(out, "row_sums");
    g.output(h, "hidden");

    const xData = Float32Array.from({ length: 2 * 3 * 4 }, rand);
    const result = await runGraph(g, { x: ortTensor("float32", xData, [2, 3, 4]) });
    const sums = result.row_sums!.data as Float32Array;
    expect(result.row_sums!.dims).toEqual([2, 3]);
    for (const s of sums) expect(s).toBeCloseTo(1, 5);
    const hidden = result.hidden!.data as Float32Array;
    for (let r = 0; r < 6; r++) {
      for (let j = 0; j < 4; j++) {
        let acc = 0;
        for (let k = 0; k < 4; k++) acc += xData[r * 4 + k]! * wData[k * 4 + j]!;
        expect(hidden[r * 4 + j]).toBeCloseTo(acc, 5);
      }
    }
  });

  it("picks the arg max along an axis", async () => {
    const g = new Graph("argmax");
    const x = g.input("x", "float32", [2, 3]);
    const best = argMax(x, -1, { keepdims: false });
    expect(best.shape).toEqual([2]);
    g.output(best, "best");
    const out = await runGraph(g, { x: ortTensor("float32", Float32Array.from([1, 5, 2, 9, 0, 3]), [2, 3]) });
    expect(Array.from(out.best!.data as BigInt64Array)).toEqual([1n, 0n]);
  });

  it("round-trips int64 indices, slices and concats", async () => {
    const g = new Graph("indexing");
    const table = g.input("table", "float64", [5, 3]);
    const ids = g.input("ids", "int64", ["N"]);
    const rows = gather(table, ids, 0);
    const firstTwo = slice(rows, [0], [2], [1]);
    g.output(concat([firstTwo, rows], 1), "out");
    const tableData = Float64Array.from({ length: 15 }, (_, i) => i);
    const result = await runGraph(g, {
      table: ortTensor("float64", tableData, [5, 3]),
      ids: ortTensor("int64", BigInt64Array.from([4n, 0n, 4n]), [3]),
    });
    expect(result.out!.dims).toEqual([3, 5]);
    expect(Array.from(result.out!.data as Float64Array)).toEqual([
      12, 13, 12, 13, 14, 0, 1, 0, 1, 2, 12, 13, 12, 13, 14,
    ]);
  });

  it("serializes every dtype's initializers (read back through Cast to float32)", async () => {
    const g = new Graph("dtypes");
    const values = [0, 1, -2, 3.5, 100];
    const cases: [DType, number[]][] = [
      ["float32", values],
      ["float64", values],
      ["float16", values],
      ["bfloat16", values],
      ["int64", [0, 1, -2, 3, 100]],
      ["int32", [0, 1, -2, 3, 100]],
      ["int8", [0, 1, -2, 3, 100]],
      ["uint8", [0, 1, 2, 3, 200]],
      ["bool", [0, 1, 1, 0, 1]],
    ];
    for (const [dtype, v] of cases) {
      g.output(cast(g.initializer(`w_${dtype}`, dtype, [5], typedArrayOf(dtype, v)), "float32"), dtype);
    }
    const out = await runGraph(g, {});
    for (const [dtype, v] of cases) expect(Array.from(out[dtype]!.data as Float32Array), dtype).toEqual(v);
  });

  it("imports the opset of contrib-domain nodes", async () => {
    const g = new Graph("contrib");
    const x = g.input("x", "float32", [2, 3]);
    const [y] = g.addNode(
      "FastGelu",
      [x],
      [{ dtype: "float32", shape: [2, 3] }],
      {},
      { domain: "com.microsoft" },
    );
    g.output(y!, "y");
    const out = await runGraph(g, {
      x: ortTensor("float32", Float32Array.from([0, 1, -1, 2, 0.5, 3]), [2, 3]),
    });
    expect((out.y!.data as Float32Array)[1]).toBeCloseTo(0.8412, 3);
  });

  it("writes a ModelProto that onnxruntime reports with symbolic dims", async () => {
    const g = new Graph("io");
    const x = g.input("x", "float32", ["batch", 2]);
    g.output(mul(x, 3), "y");
    const { bytes } = serializeModel(g);
    const session = await ort.InferenceSession.create(bytes);
    expect(session.inputNames).toEqual(["x"]);
    expect(session.outputNames).toEqual(["y"]);
    const meta = session.inputMetadata[0] as { shape: readonly (number | string)[] };
    expect(meta.shape).toEqual(["batch", 2]);
    await session.release();
  });

  it("loads large weights from an external, aligned data file by path", async () => {
    const g = new Graph("external");
    const x = g.input("x", "float32", [1, 256]);
    const wData = Float32Array.from({ length: 256 * 300 }, (_, i) => ((i % 17) - 8) / 64);
    const bData = Float32Array.from({ length: 300 }, (_, i) => i / 300);
    const w = g.initializer("lm.weight", "float32", [256, 300], wData);
    const w2 = g.initializer("lm.weight2", "float32", [256, 300], wData);
    const b = g.initializer("lm.bias", "float32", [300], bData);
    g.output(add(add(matmul(x, w), matmul(x, w2)), b), "y");
    const dir = temporaryDirectory("engine-ext-");
    const model = compile(g, { directory: dir });
    expect(model.path).toBe(join(dir, "external.onnx"));
    // Weights live only in the data file, each at an aligned offset.
    expect(statSync(model.path!).size).toBeLessThan(10_000);
    const dataSize = statSync(`${model.path}.data`).size;
    // w at 0, w2 and the bias each at the next aligned offset (256*300*4 is a multiple of 4096).
    const wBytes = 256 * 300 * 4;
    expect(wBytes % EXTERNAL_DATA_ALIGNMENT).toBe(0);
    expect(dataSize).toBe(2 * wBytes + 300 * 4);
    const data = new Float32Array(readFileSync(`${model.path}.data`).buffer.slice(0, 16));
    expect(data[1]).toBe(wData[1]);

    const xData = Float32Array.from({ length: 256 }, (_, i) => (i % 5) - 2);
    const runtime = new Runtime();
    const result = await runtime.run(model, { x: ortTensor("float32", xData, [1, 256]) });
    const y = result.y!.data as Float32Array;
    for (const j of [0, 7, 299]) {
      let acc = 0;
      for (let k = 0; k < 256; k++) acc += xData[k]! * wData[k * 300 + j]!;
      expect(y[j]).toBeCloseTo(2 * acc + bData[j]!, 3);
    }
    await runtime.release();
  });

  it("reuses a data file written for the same weights and replaces it safely under a live session", async () => {
    const dir = temporaryDirectory("engine-reuse-");
    const build = (fill: number) => {
      const g = new Graph("reuse");
      const x = g.input("x", "float32", [1, 512]);
      g.output(matmul(x, g.initializer("w", "float32", [512, 4], new Float32Array(2048).fill(fill))), "y");
      return g;
    };
    const runtime = new Runtime();
    const x = { x: ortTensor("float32", new Float32Array(512).fill(1), [1, 512]) };
    const first = compile(build(1), { directory: dir });
    expect(first.dataReused).toBe(false);
    const y1 = await runtime.run(first, x);
    expect((y1.y!.data as Float32Array)[0]).toBe(512);
    const inode = statSync(`${first.path}.data`).ino;

    const same = compile(build(1), { directory: dir });
    expect(same.dataReused).toBe(true);
    expect(same.hash).toBe(first.hash);
    expect(statSync(`${first.path}.data`).ino).toBe(inode);

    const changed = compile(build(2), { directory: dir });
    expect(changed.dataReused).toBe(false);
    expect(changed.hash).not.toBe(first.hash);
    expect(((await runtime.run(changed, x)).y!.data as Float32Array)[0]).toBe(1024);
    // The first session still reads its own (replaced, not truncated) mapping.
    expect(((await runtime.run(first, x)).y!.data as Float32Array)[0]).toBe(512);

    // A caller-supplied fingerprint vouches for the weights: same fingerprint, file kept.
    const tagged = compile(build(3), { directory: dir, weightsFingerprint: "ckpt@rev1" });
    expect(tagged.dataReused).toBe(false);
    expect(compile(build(3), { directory: dir, weightsFingerprint: "ckpt@rev1" }).dataReused).toBe(true);
    await runtime.release();
  });

  it("references weights in place inside an existing file (e.g. a safetensors shard)", async () => {
    const checkpointDir = temporaryDirectory("engine-ckpt-");
    const weights = Float32Array.from({ length: 4 * 300 }, (_, i) => (i % 7) - 3);
    const headerBytes = 13; // an unaligned offset, as in safetensors files
    const file = join(checkpointDir, "model.safetensors");
    const bytes = new Uint8Array(headerBytes + weights.byteLength);
    bytes.set(new Uint8Array(weights.buffer), headerBytes);
    writeFileSync(file, bytes);

    const build = () => {
      const g = new Graph("referenced");
      const x = g.input("x", "float32", [1, 4]);
      const w = g.fileInitializer("w", "float32", [4, 300], {
        file,
        offset: headerBytes,
        length: weights.byteLength,
      });
      g.output(matmul(x, w), "y");
      return g;
    };
    expect(() => compile(build())).toThrow(/needs the model saved to a directory/);
    const model = compile(build(), { directory: checkpointDir });
    // Hard-linked next to the model (onnxruntime refuses paths leading out of the model's directory).
    expect(statSync(`${model.path}.weights0`).ino).toBe(statSync(file).ino);
    expect(existsSync(`${model.path}.data`)).toBe(false);
    const runtime = new Runtime();
    const out = await runtime.run(model, {
      x: ortTensor("float32", Float32Array.from([0, 1, 0, 0]), [1, 4]),
    });
    expect(Array.from(out.y!.data as Float32Array)).toEqual(Array.from(weights.subarray(300, 600)));
    await runtime.release();
  });

  const otherFilesystem = existsSync("/dev/shm") && statSync("/dev/shm").dev !== statSync(tmpdir()).dev;
  it.skipIf(!otherFilesystem)(
    "copies referenced ranges into the data file when a hard link is impossible",
    async () => {
      const checkpointDir = mkdtempSync("/dev/shm/engine-ckpt-");
      createdDirectories.push(checkpointDir);
      const weights = Float32Array.from({ length: 2 * 600 }, (_, i) => i);
      const file = join(checkpointDir, "model.safetensors");
      const bytes = new Uint8Array(8 + weights.byteLength);
      bytes.set(new Uint8Array(weights.buffer), 8);
      writeFileSync(file, bytes);
      const g = new Graph("copied");
      const x = g.input("x", "float32", [1, 2]);
      g.output(
        matmul(
          x,
          g.fileInitializer("w", "float32", [2, 600], { file, offset: 8, length: weights.byteLength }),
        ),
        "y",
      );
      const model = compile(g, { directory: temporaryDirectory("engine-model-") });
      expect(existsSync(`${model.path}.weights0`)).toBe(false);
      expect(statSync(`${model.path}.data`).size).toBe(weights.byteLength);
      const runtime = new Runtime();
      const out = await runtime.run(model, { x: ortTensor("float32", Float32Array.from([1, 0]), [1, 2]) });
      expect(Array.from(out.y!.data as Float32Array)).toEqual(Array.from(weights.subarray(0, 600)));
      await runtime.release();
    },
  );

  it.skipIf(!existsSync("/proc/self/smaps_rollup"))(
    "memory-maps external weights instead of copying them (keepWeightsMapped)",
    async () => {
      const memory = () => {
        const text = readFileSync("/proc/self/smaps_rollup", "utf8");
        const kib = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+)`, "m").exec(text)![1]);
        return { anonymous: kib("Anonymous") * 1024, fileBacked: (kib("Rss") - kib("Anonymous")) * 1024 };
      };
      const n = 4096;
      const weightBytes = n * n * 4;
      const g = new Graph("mapped");
      const x = g.input("x", "float32", [1, n]);
      g.output(matmul(x, g.initializer("w", "float32", [n, n], new Float32Array(n * n).fill(0.5))), "y");
      const model = compile(g, { externalData: true });
      createdDirectories.push(dirname(model.path!));
      const runtime = new Runtime({ intraOpNumThreads: 1, keepWeightsMapped: true });
      const before = memory();
      const out = await runtime.run(model, { x: ortTensor("float32", new Float32Array(n).fill(1), [1, n]) });
      const after = memory();
      expect((out.y!.data as Float32Array)[7]).toBe(0.5 * n);
      // The weight pages come from the data file (page cache), not from a private copy.
      expect(after.fileBacked - before.fileBacked).toBeGreaterThan(0.8 * weightBytes);
      expect(after.anonymous - before.anonymous).toBeLessThan(0.25 * weightBytes);
      await runtime.release();
    },
  );
});
