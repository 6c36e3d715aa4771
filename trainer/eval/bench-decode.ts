// npm run bench:decode — SmolVLM-256M-sized inference with random weights: image encode, time to first
// token (one image + 64 text tokens), greedy decode tokens/s (64 new tokens, batch 1) with the KV-cached
// decoder of trainer/generate, and in the same run the same model in transformers
// (tools/reference/bench_decode.py). Also measures memory copy bandwidth and reports decode tokens/s as a
// fraction of the bandwidth bound (bandwidth / bytes of weights read per token). Prints one JSON line.
//
// Vision: trainer/models/idefics3.ts (SigLIP tower + pixel-shuffle connector), as the model zoo builds it.
//
// Threads sleep between ops on both sides (onnxruntime: DECODE_SESSION_OPTIONS, no spinning; PyTorch:
// OMP_WAIT_POLICY=PASSIVE): on a shared 2-core machine spinning threads of either runtime lose most of
// their time to other processes (PyTorch decode measured 4-8x slower with spinning OpenMP threads).
// --spin keeps both runtimes' defaults (spinning).
//
// Flags: --threads N (2) --new-tokens N (64) --text-tokens N (64) --repeats N (3) --layers N (30)
//        --no-torch --spin

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { compile, Graph, ortTensor, Runtime } from "../engine/index";
import { CachedDecoder, DECODE_SESSION_OPTIONS } from "../generate/decoder";
import { ArrayEmbeddingTable, assembleEmbeddings, GatherEmbeddingTable } from "../generate/embeddings";
import { generate, prefill } from "../generate/generate";
import { argmax } from "../generate/sampling";
import { Idefics3Model } from "../models/idefics3";
import type { LlamaConfig } from "../models/llama";
import { frozenWeights } from "../models/weights";
import { randomWeights, SMOLVLM_256M_TEXT, smolvlm256m } from "./smolvlm-256m";

const { values: flags } = parseArgs({
  options: {
    threads: { type: "string", default: "2" },
    "new-tokens": { type: "string", default: "64" },
    "text-tokens": { type: "string", default: "64" },
    repeats: { type: "string", default: "3" },
    layers: { type: "string", default: "30" },
    "no-torch": { type: "boolean", default: false },
    spin: { type: "boolean", default: false },
  },
});
const threads = Number(flags.threads);
const newTokens = Number(flags["new-tokens"]);
const textTokens = Number(flags["text-tokens"]);
const repeats = Number(flags.repeats);

const TEXT: LlamaConfig = { ...SMOLVLM_256M_TEXT, numLayers: Number(flags.layers) };
const SMOLVLM_256M = smolvlm256m(TEXT);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function timeMs(fn: () => Promise<unknown> | unknown): Promise<number> {
  const start = performance.now();
  await fn();
  return performance.now() - start;
}

/** Bytes of weights a one-token decode step reads: every projection, the norms and the (tied) lm_head. */
function weightBytesPerToken(c: LlamaConfig): number {
  const h = c.hiddenSize;
  const attention = h * c.numHeads * c.headDim * 2 + h * c.numKvHeads * c.headDim * 2;
  const mlp = 3 * h * c.intermediateSize;
  return 4 * (c.numLayers * (attention + mlp + 2 * h) + h + c.vocabSize * h);
}

const COPY_FLOATS = 64 * 1024 * 1024; // 256 MiB of float32, far beyond any cache

/**
 * STREAM-style copy bandwidth, (bytes read + bytes written) / time, of large TypedArray copies: one
 * copy on the main thread, and `workers` threads each copying its share of a SharedArrayBuffer at once
 * (decode runs on `threads` cores, so the bound should use what that many cores can move). Best of 5.
 */
async function copyBandwidthGbs(workers: number): Promise<{ single: number; parallel: number }> {
  const n = COPY_FLOATS;
  const src = new Float32Array(new SharedArrayBuffer(n * 4)).fill(1);
  const dst = new Float32Array(new SharedArrayBuffer(n * 4));
  dst.set(src); // fault the pages in
  const times: number[] = [];
  for (let i = 0; i < 5; i++) {
    const start = performance.now();
    dst.set(src);
    times.push(performance.now() - start);
  }
  const single = (2 * n * 4) / (Math.min(...times) / 1000) / 1e9;
  // Workers copy their chunk 5 times between barriers; the slowest worker's best round sets the time.
  const code = `
    const { parentPort, workerData: { src, dst, from, to, rounds, barrier } } = require("node:worker_threads");
    const s = new Float32Array(src), d = new Float32Array(dst), b = new Int32Array(barrier);
    const times = [];
    for (let r = 0; r < rounds; r++) {
      Atomics.add(b, 0, 1); Atomics.notify(b, 0);
      while (Atomics.load(b, 0) < (r + 1) * b[1]) Atomics.wait(b, 0, Atomics.load(b, 0), 10);
      const t0 = performance.now();
      d.set(s.subarray(from, to), from);
      times.push(performance.now() - t0);
    }
    parentPort.postMessage(times);`;
  const barrier = new Int32Array(new SharedArrayBuffer(8));
  barrier[1] = workers;
  const chunk = Math.ceil(n / workers);
  const results = await Promise.all(
    Array.from({ length: workers }, (_, w) => {
      const worker = new Worker(code, {
        eval: true,
        workerData: {
          src: src.buffer,
          dst: dst.buffer,
          from: w * chunk,
          to: Math.min(n, (w + 1) * chunk),
          rounds: 5,
          barrier: barrier.buffer,
        },
      });
      return new Promise<number[]>((resolve, reject) => {
        worker.once("message", (t: number[]) => {
          resolve(t);
          void worker.terminate();
        });
        worker.once("error", reject);
      });
    }),
  );
  const perRound = results[0]!.map((_, r) => Math.max(...results.map((t) => t[r]!)));
  const parallel = (2 * n * 4) / (Math.min(...perRound) / 1000) / 1e9;
  return { single, parallel };
}

async function ortSide() {
  const dir = mkdtempSync(join(tmpdir(), "yo-bench-decode-"));
  const values = randomWeights();
  const runtime = new Runtime({
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    ...(flags.spin ? {} : { sessionOptions: DECODE_SESSION_OPTIONS }),
  });
  try {
    // Vision tower + connector: pixel_values [1, 3, 512, 512] -> [1, 64, 576].
    const vg = new Graph("smolvlm_vision");
    const vlm = new Idefics3Model(vg, SMOLVLM_256M, frozenWeights(vg, "float32", values));
    const v = SMOLVLM_256M.vision;
    const pixels = vg.input("pixel_values", "float32", [1, v.numChannels, v.imageSize, v.imageSize]);
    vg.output(vlm.imageFeatures(pixels), "image_features");
    const vision = compile(vg, { directory: dir, weightsFingerprint: "bench-decode/vision" });
    const pixelData = Float32Array.from(
      { length: 3 * v.imageSize * v.imageSize },
      (_, i) => Math.sin(i) * 0.5,
    );
    const encode = async () => {
      const out = await runtime.run(vision, {
        pixel_values: ortTensor("float32", pixelData, [1, v.numChannels, v.imageSize, v.imageSize]),
      });
      return out.image_features!.data as Float32Array;
    };

    const decoder = CachedDecoder.build(TEXT, (name, shape) => values(name, shape), {
      runtime,
      modelId: "bench-decode/text",
      directory: dir,
    });
    const table = new ArrayEmbeddingTable(
      values("model.embed_tokens.weight", [TEXT.vocabSize, TEXT.hiddenSize]),
      TEXT.hiddenSize,
    );
    const context = { decoder, embeddings: table };
    // The same decoder with the concat-past layout (full present out, fed back), for comparison.
    const concatDecoder = CachedDecoder.build(TEXT, (name, shape) => values(name, shape), {
      runtime,
      modelId: "bench-decode/text",
      directory: dir,
      cacheLayout: "concat",
    });
    const concatContext = { decoder: concatDecoder, embeddings: table };
    const imageTokens = vlm.tokensPerImage;
    const ids = [
      ...new Array<number>(imageTokens).fill(SMOLVLM_256M.imageTokenId),
      ...Array.from({ length: textTokens }, (_, i) => 3 + ((i * 7919) % 49000)),
    ];

    // Warm-up: session creation and first runs are not what a served request pays.
    const features = await encode();
    const warmPrompt = await assembleEmbeddings(ids, table, [{ position: 0, rows: features }]);
    await generate(context, { prompt: warmPrompt, maxNewTokens: 4 });
    await generate(concatContext, { prompt: warmPrompt, maxNewTokens: 4 });

    const encodeMs: number[] = [];
    const ttftMs: number[] = [];
    const prefillMs: number[] = [];
    const decodeTokS: number[] = [];
    const concatTokS: number[] = [];
    let generated = 0;
    for (let r = 0; r < repeats; r++) {
      encodeMs.push(await timeMs(encode));
      // Time to first token: encode + assemble + prefill + the first greedy choice.
      let first = -1;
      ttftMs.push(
        await timeMs(async () => {
          const rows = await encode();
          const prompt = await assembleEmbeddings(ids, table, [{ position: 0, rows }]);
          const start = performance.now();
          const { logits } = await prefill(context, prompt, undefined, 1);
          prefillMs.push(performance.now() - start);
          first = argmax(logits);
        }),
      );
      if (first < 0) throw new Error("no first token");
      const result = await generate(context, { prompt: warmPrompt, maxNewTokens: newTokens });
      generated = result.tokenIds.length;
      decodeTokS.push((newTokens - 1) / (result.decodeMs / 1000));
      const concatResult = await generate(concatContext, { prompt: warmPrompt, maxNewTokens: newTokens });
      if (concatResult.tokenIds.join() !== result.tokenIds.join()) throw new Error("cache layouts disagree");
      concatTokS.push((newTokens - 1) / (concatResult.decodeMs / 1000));
    }
    if (generated !== newTokens) throw new Error(`generated ${generated} tokens, wanted ${newTokens}`);

    // Embedding lookups: TS copy from a Float32Array vs an onnxruntime Gather over the mapped table.
    const gatherTable = GatherEmbeddingTable.build(table.table, TEXT.hiddenSize, {
      runtime,
      modelId: "bench-decode/text",
      directory: dir,
    });
    const lookupUs = async (t: ArrayEmbeddingTable | GatherEmbeddingTable, n: number) => {
      const batch = ids.slice(imageTokens, imageTokens + n);
      await t.lookup(batch);
      const times: number[] = [];
      for (let i = 0; i < 50; i++) times.push(await timeMs(() => t.lookup(batch)));
      return Math.round(median(times) * 1000 * 10) / 10;
    };
    const embed = {
      ts_1_us: await lookupUs(table, 1),
      gather_1_us: await lookupUs(gatherTable, 1),
      ts_64_us: await lookupUs(table, textTokens),
      gather_64_us: await lookupUs(gatherTable, textTokens),
    };
    return {
      encodeMs: median(encodeMs),
      ttftMs: median(ttftMs),
      prefillMs: median(prefillMs),
      decodeTokS: median(decodeTokS),
      decodeAll: decodeTokS,
      concatTokS: median(concatTokS),
      promptPositions: ids.length,
      embed,
    };
  } finally {
    await runtime.release();
    rmSync(dir, { recursive: true, force: true });
  }
}

interface TorchResult {
  encode_ms?: number;
  ttft_ms?: number;
  decode_tok_s?: number;
  bench?: string;
}

/** The transformers side, or a note saying why it was skipped. */
function torchSide(
  torchThreads = threads,
  decodeOnly = false,
): { result: TorchResult | null; note?: string } {
  if (flags["no-torch"]) return { result: null, note: "--no-torch" };
  if (TEXT.numLayers !== 30) return { result: null, note: "transformers side runs 30 layers only" };
  const args = [
    "tools/reference/bench_decode.py",
    ...["--threads", String(torchThreads), "--new-tokens", String(newTokens)],
    ...["--text-tokens", String(textTokens), "--repeats", String(repeats)],
    ...(decodeOnly ? ["--decode-only"] : []),
  ];
  const env = flags.spin ? process.env : { ...process.env, OMP_WAIT_POLICY: "PASSIVE" };
  const run = spawnSync(process.env.PYTHON ?? "python3", args, { encoding: "utf8", env });
  if (run.error || run.status !== 0) {
    const why = run.error?.message ?? run.stderr.trim().split("\n").at(-1) ?? "unknown error";
    return {
      result: null,
      note: `transformers side skipped: ${why} (pip install -r tools/reference/requirements.txt)`,
    };
  }
  const line = run.stdout
    .trim()
    .split("\n")
    .filter((l) => l.startsWith("{"))
    .map((l) => JSON.parse(l) as TorchResult)
    .find((j) => j.bench === "decode_torch");
  return line ? { result: line } : { result: null, note: "transformers side printed no decode_torch line" };
}

const round = (x: number, digits = 1) => Math.round(x * 10 ** digits) / 10 ** digits;
const loadBefore = loadavg()[0]!;
const ort = await ortSide();
const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
const copy = await copyBandwidthGbs(threads);
// The larger of the two is the stricter bound.
const copyGbs = Math.max(copy.single, copy.parallel);
const bytesPerToken = weightBytesPerToken(TEXT);
const boundTokS = (copyGbs * 1e9) / bytesPerToken;
const torch = torchSide();
const t = torch.result;
// PyTorch's OpenMP threads suffer most when the machine is oversubscribed: one thread is also reported.
const torchOne = threads > 1 && t ? torchSide(1, true).result : null;
console.log(
  JSON.stringify({
    bench: "decode",
    model: "SmolVLM-256M-sized (random weights)",
    vision: "trainer/models/idefics3.ts (SigLIP 12x768, 1024 patches, pixel shuffle 4 -> 64 x 576)",
    threads,
    prompt_positions: ort.promptPositions,
    new_tokens: newTokens,
    image_encode_ms: round(ort.encodeMs),
    ttft_ms: round(ort.ttftMs),
    prefill_ms: round(ort.prefillMs),
    decode_tok_s: round(ort.decodeTokS, 2),
    decode_tok_s_all: ort.decodeAll.map((x) => round(x, 2)),
    decode_tok_s_concat_past: round(ort.concatTokS, 2),
    torch_image_encode_ms: t?.encode_ms ?? null,
    torch_ttft_ms: t?.ttft_ms ?? null,
    torch_decode_tok_s: t?.decode_tok_s ?? null,
    decode_speedup_vs_torch: t?.decode_tok_s ? round(ort.decodeTokS / t.decode_tok_s, 2) : null,
    torch_decode_tok_s_1thread: torchOne?.decode_tok_s ?? null,
    decode_speedup_vs_torch_1thread: torchOne?.decode_tok_s
      ? round(ort.decodeTokS / torchOne.decode_tok_s, 2)
      : null,
    ttft_speedup_vs_torch: t?.ttft_ms ? round(t.ttft_ms / ort.ttftMs, 2) : null,
    encode_speedup_vs_torch: t?.encode_ms ? round(t.encode_ms / ort.encodeMs, 2) : null,
    copy_gb_s: round(copyGbs, 2),
    copy_gb_s_1thread: round(copy.single, 2),
    [`copy_gb_s_${threads}threads`]: round(copy.parallel, 2),
    thread_spinning: flags.spin,
    weight_mb_per_token: round(bytesPerToken / 1e6),
    bandwidth_bound_tok_s: round(boundTokS, 2),
    fraction_of_bound: round(ort.decodeTokS / boundTokS, 3),
    embed_lookup: ort.embed,
    peak_rss_mb: peakRssMb,
    // Both sides share this machine's cores: a busy machine skews the ratios, so say how busy it was.
    load_avg_1m: round(loadavg()[0]!, 2),
    load_avg_1m_at_start: round(loadBefore, 2),
    ...(torch.note ? { note: torch.note } : {}),
  }),
);
