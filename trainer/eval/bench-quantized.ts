// npm run bench:quantized — memory and decode speed of the weight-only quantized load (loadCausalLm
// { weights: "int8" | "int4" }) against float32, on random-weight Llama decoders written as fp16 HF
// snapshots under the temp directory:
//   --config smolvlm-256m   SmolVLM-256M's text decoder (576 x 30 layers, vocab 49280, tied)   [default]
//   --config llava-7b       LLaVA-1.5-7B's decoder (4096 x 32 layers, 11008, vocab 32064): a 13.5 GB fp16
//                           checkpoint; float32 (27 GB) is skipped unless --formats names it
// Each format runs in its own child process, so peak RSS (maxRSS) is that format's alone: the loader,
// graph build and compile into a model directory (weights memory-mapped), session creation, prefill and
// greedy decode with trainer/generate's cached decoder. Prints one JSON line per format.
//
// Flags: --config NAME --formats float32,int8,int4 --new-tokens N (32; 8 for llava-7b) --threads N (2)
//        --dir PATH (default: a fresh temp dir, deleted afterwards) --keep (keep the checkpoint)

import { spawnSync } from "node:child_process";
import {
  closeSync,
  mkdirSync,
  mkdtempSync,
  openSync,
  readdirSync,
  rmSync,
  statSync,
  writeFileSync,
  writeSync,
} from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Runtime } from "../engine/index";
import { numberToF16Bits } from "../engine/safetensors";
import { CachedDecoder, DECODE_SESSION_OPTIONS } from "../generate/decoder";
import { ArrayEmbeddingTable, assembleEmbeddings } from "../generate/embeddings";
import { generate } from "../generate/generate";
import type { LlamaConfig } from "../models/llama";
import { loadCausalLm } from "../models/loader";
import { WEIGHT_FORMATS, type WeightFormat } from "../models/quantized-weights";
import { SMOLVLM_256M_TEXT } from "./smolvlm-256m";

const { values: flags } = parseArgs({
  options: {
    config: { type: "string", default: "smolvlm-256m" },
    formats: { type: "string" },
    "new-tokens": { type: "string" },
    threads: { type: "string", default: "2" },
    dir: { type: "string" },
    keep: { type: "boolean", default: false },
    child: { type: "string" },
  },
});

const LLAVA_7B_TEXT: LlamaConfig = {
  hiddenSize: 4096,
  numLayers: 32,
  numHeads: 32,
  numKvHeads: 32,
  headDim: 128,
  intermediateSize: 11008,
  vocabSize: 32064,
  rmsNormEps: 1e-5,
  ropeTheta: 10000,
  maxPositionEmbeddings: 4096,
  tieWordEmbeddings: false,
  attentionBias: false,
};
const CONFIGS: Record<string, { text: LlamaConfig; formats: WeightFormat[]; newTokens: number }> = {
  "smolvlm-256m": { text: SMOLVLM_256M_TEXT, formats: ["float32", "int8", "int4"], newTokens: 32 },
  "llava-7b": { text: LLAVA_7B_TEXT, formats: ["int4", "int8"], newTokens: 8 },
};
const PROMPT_TOKENS = 16;

/** LlamaForCausalLM weight names and shapes, in checkpoint order. */
function llamaTensors(c: LlamaConfig): [string, number[]][] {
  const h = c.hiddenSize;
  const out: [string, number[]][] = [["model.embed_tokens.weight", [c.vocabSize, h]]];
  for (let i = 0; i < c.numLayers; i++) {
    const p = `model.layers.${i}`;
    out.push(
      [`${p}.input_layernorm.weight`, [h]],
      [`${p}.self_attn.q_proj.weight`, [c.numHeads * c.headDim, h]],
      [`${p}.self_attn.k_proj.weight`, [c.numKvHeads * c.headDim, h]],
      [`${p}.self_attn.v_proj.weight`, [c.numKvHeads * c.headDim, h]],
      [`${p}.self_attn.o_proj.weight`, [h, c.numHeads * c.headDim]],
      [`${p}.post_attention_layernorm.weight`, [h]],
      [`${p}.mlp.gate_proj.weight`, [c.intermediateSize, h]],
      [`${p}.mlp.up_proj.weight`, [c.intermediateSize, h]],
      [`${p}.mlp.down_proj.weight`, [h, c.intermediateSize]],
    );
  }
  out.push(["model.norm.weight", [h]]);
  if (!c.tieWordEmbeddings) out.push(["lm_head.weight", [c.vocabSize, h]]);
  return out;
}

/**
 * A random fp16 HF snapshot (config.json + model.safetensors), streamed to disk a chunk at a time: norms
 * are 1, other weights uniform in +-0.02 (a 65536-entry table of fp16 bit patterns indexed by xorshift).
 */
function writeRandomSnapshot(dir: string, c: LlamaConfig): number {
  mkdirSync(dir, { recursive: true });
  writeFileSync(
    join(dir, "config.json"),
    JSON.stringify({
      model_type: "llama",
      architectures: ["LlamaForCausalLM"],
      hidden_size: c.hiddenSize,
      intermediate_size: c.intermediateSize,
      num_hidden_layers: c.numLayers,
      num_attention_heads: c.numHeads,
      num_key_value_heads: c.numKvHeads,
      head_dim: c.headDim,
      vocab_size: c.vocabSize,
      max_position_embeddings: c.maxPositionEmbeddings,
      rms_norm_eps: c.rmsNormEps,
      rope_theta: c.ropeTheta,
      tie_word_embeddings: c.tieWordEmbeddings,
      torch_dtype: "float16",
    }),
  );
  const tensors = llamaTensors(c);
  const header: Record<string, unknown> = { __metadata__: { format: "pt" } };
  let offset = 0;
  for (const [name, shape] of tensors) {
    const bytes = shape.reduce((a, b) => a * b, 1) * 2;
    header[name] = { dtype: "F16", shape, data_offsets: [offset, offset + bytes] };
    offset += bytes;
  }
  let json = JSON.stringify(header);
  json += " ".repeat((8 - (json.length % 8)) % 8);
  const fd = openSync(join(dir, "model.safetensors"), "w");
  try {
    const prefix = Buffer.alloc(8);
    prefix.writeBigUInt64LE(BigInt(json.length));
    writeSync(fd, prefix);
    writeSync(fd, Buffer.from(json));
    const table = Uint16Array.from({ length: 65536 }, (_, i) => numberToF16Bits((i / 65536 - 0.5) * 0.04));
    const one = numberToF16Bits(1);
    const chunk = new Uint16Array(1 << 22);
    let state = 0x9e3779b9;
    for (const [name, shape] of tensors) {
      let left = shape.reduce((a, b) => a * b, 1);
      const norm = name.includes("norm");
      while (left > 0) {
        const n = Math.min(left, chunk.length);
        for (let i = 0; i < n; i++) {
          state ^= state << 13;
          state ^= state >>> 17;
          state ^= state << 5;
          chunk[i] = norm ? one : table[state & 0xffff]!;
        }
        const bytes = new Uint8Array(chunk.buffer, 0, n * 2);
        for (let w = 0; w < bytes.length; ) w += writeSync(fd, bytes, w);
        left -= n;
      }
    }
  } finally {
    closeSync(fd);
  }
  return 8 + json.length + offset;
}

const mb = (bytes: number) => Math.round(bytes / 2 ** 20);
const rssMb = () => mb(process.memoryUsage().rss);
const peakRssMb = () => Math.round(process.resourceUsage().maxRSS / 1024);

/** One format, in this process: load, build the cached decoder, decode; returns the figures. */
async function runFormat(snapshotDir: string, format: WeightFormat, newTokens: number, threads: number) {
  const work = mkdtempSync(join(tmpdir(), `yo-bench-quantized-${format}-`));
  const runtime = new Runtime({
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    sessionOptions: DECODE_SESSION_OPTIONS,
  });
  try {
    const t0 = performance.now();
    const loaded = await loadCausalLm(snapshotDir, runtime, { weights: format, directory: work });
    const c = loaded.textConfig;
    // trainer/generate's cached decoder, bound through the loader (one conversion, file-backed).
    const cached = CachedDecoder.build(
      c,
      { binding: loaded.textBinding },
      { runtime, modelId: `bench-quantized/${format}`, directory: work },
    );
    const buildMs = performance.now() - t0;
    const rssAfterBuild = rssMb();
    const table = new ArrayEmbeddingTable(
      loaded.textWeights("model.embed_tokens.weight", [c.vocabSize, c.hiddenSize]),
      c.hiddenSize,
    );
    const ids = Array.from({ length: PROMPT_TOKENS }, (_, i) => 3 + ((i * 7919) % (c.vocabSize - 3)));
    const prompt = await assembleEmbeddings(ids, table, []);
    const t1 = performance.now();
    const warm = await generate({ decoder: cached, embeddings: table }, { prompt, maxNewTokens: 2 });
    const firstRunMs = performance.now() - t1; // includes session creation (prepacking)
    const result = await generate(
      { decoder: cached, embeddings: table },
      { prompt, maxNewTokens: newTokens },
    );
    // The model directory hard-links the weights file next to the model: count each file once.
    const inodes = new Map<number, number>();
    for (const f of readdirSync(work)) {
      const st = statSync(join(work, f));
      inodes.set(st.ino, st.size);
    }
    const filesMb = mb([...inodes.values()].reduce((a, b) => a + b, 0));
    return {
      format,
      weights_files_mb: filesMb,
      load_and_build_s: Math.round(buildMs / 100) / 10,
      session_and_first_tokens_s: Math.round(firstRunMs / 100) / 10,
      decode_tok_s: Math.round(((newTokens - 1) / (result.decodeMs / 1000)) * 100) / 100,
      tokens_agree_with_warmup: warm.tokenIds.every((t, i) => t === result.tokenIds[i]),
      rss_after_build_mb: rssAfterBuild,
      rss_end_mb: rssMb(),
      peak_rss_mb: peakRssMb(),
    };
  } finally {
    await runtime.release();
    rmSync(work, { recursive: true, force: true });
  }
}

if (flags.child) {
  const [snapshotDir, format, newTokens, threads] = JSON.parse(flags.child) as [
    string,
    WeightFormat,
    number,
    number,
  ];
  console.log(JSON.stringify(await runFormat(snapshotDir, format, newTokens, threads)));
} else {
  const name = flags.config!;
  const config = CONFIGS[name];
  if (!config) throw new Error(`--config: one of ${Object.keys(CONFIGS).join(", ")}`);
  const formats = (flags.formats?.split(",") as WeightFormat[] | undefined) ?? config.formats;
  for (const f of formats) if (!WEIGHT_FORMATS.includes(f)) throw new Error(`--formats: ${f}`);
  const newTokens = Number(flags["new-tokens"] ?? config.newTokens);
  const threads = Number(flags.threads);
  const root = flags.dir ?? mkdtempSync(join(tmpdir(), "yo-bench-quantized-"));
  const snapshotDir = join(root, name);
  try {
    const t0 = performance.now();
    const exists = (() => {
      try {
        return statSync(join(snapshotDir, "model.safetensors")).size > 0;
      } catch {
        return false;
      }
    })();
    const checkpointBytes = exists
      ? statSync(join(snapshotDir, "model.safetensors")).size
      : writeRandomSnapshot(snapshotDir, config.text);
    const writeS = Math.round((performance.now() - t0) / 100) / 10;
    for (const format of formats) {
      const loadBefore = loadavg()[0]!;
      const run = spawnSync(
        process.execPath,
        [
          ...process.execArgv,
          process.argv[1]!,
          "--child",
          JSON.stringify([snapshotDir, format, newTokens, threads]),
        ],
        { encoding: "utf8", maxBuffer: 1 << 24 },
      );
      const line = run.stdout
        .trim()
        .split("\n")
        .filter((l) => l.startsWith("{"))
        .at(-1);
      const figures = line
        ? JSON.parse(line)
        : { format, error: run.stderr.trim().split("\n").slice(-3).join(" | ") };
      console.log(
        JSON.stringify({
          bench: "quantized",
          config: name,
          layers: config.text.numLayers,
          hidden: config.text.hiddenSize,
          checkpoint: "random fp16 safetensors",
          checkpoint_mb: mb(checkpointBytes),
          checkpoint_write_s: exists ? null : writeS,
          threads,
          prompt_tokens: PROMPT_TOKENS,
          new_tokens: newTokens,
          ...figures,
          load_avg_1m_at_start: Math.round(loadBefore * 100) / 100,
          load_avg_1m: Math.round(loadavg()[0]! * 100) / 100,
        }),
      );
    }
  } finally {
    if (!flags.keep) rmSync(flags.dir ? snapshotDir : root, { recursive: true, force: true });
  }
}
