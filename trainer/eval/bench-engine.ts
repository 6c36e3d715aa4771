// npm run bench:engine — one soft-prompt training step (loss + d loss / d inputs_embeds through a frozen
// decoder with SmolLM2-135M's dimensions) in onnxruntime, and in the same run the same step in PyTorch
// eager (tools/reference/bench_step.py). Prints one JSON line; the comparison is the ratio ort/torch.
//
// Flags: --threads N (2) --steps N (5) --warmup N (2) --batch N (4) --seq N (128) --targets N (32)
//        --layers N (30, fewer for a quick look) --no-torch

import { spawnSync } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { compile, Graph, gradients, maskedTokenCrossEntropy, ortTensor, Runtime } from "../engine/index";
import { causalAttentionBias, type LlamaConfig, LlamaDecoder } from "../models/llama";
import { frozenWeights } from "../models/weights";

const { values: flags } = parseArgs({
  options: {
    threads: { type: "string", default: "2" },
    steps: { type: "string", default: "5" },
    warmup: { type: "string", default: "2" },
    batch: { type: "string", default: "4" },
    seq: { type: "string", default: "128" },
    targets: { type: "string", default: "32" },
    layers: { type: "string", default: "30" },
    "no-torch": { type: "boolean", default: false },
  },
});
const threads = Number(flags.threads);
const steps = Number(flags.steps);
const warmup = Number(flags.warmup);
const batch = Number(flags.batch);
const seq = Number(flags.seq);
const targetsPerRow = Number(flags.targets);

/** SmolLM2-135M's text model (HuggingFaceTB/SmolLM2-135M config.json), random weights. */
const SMOLLM2_135M: LlamaConfig = {
  hiddenSize: 576,
  numLayers: Number(flags.layers),
  numHeads: 9,
  numKvHeads: 3,
  headDim: 64,
  intermediateSize: 1536,
  vocabSize: 49152,
  rmsNormEps: 1e-5,
  ropeTheta: 100000,
  maxPositionEmbeddings: 8192,
  tieWordEmbeddings: true,
  attentionBias: false,
};

/** Deterministic N(0, std^2)-ish values (sum of uniforms): timing does not depend on the weights. */
function randomWeights(seed: number) {
  let state = seed >>> 0 || 1;
  const uniform = () => {
    state ^= state << 13;
    state ^= state >>> 17;
    state ^= state << 5;
    return (state >>> 0) / 4294967296;
  };
  return (name: string, shape: readonly number[]): Float32Array => {
    const n = shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n);
    if (name.endsWith("norm.weight")) return out.fill(1);
    const std = 0.02;
    for (let i = 0; i < n; i++) out[i] = (uniform() + uniform() + uniform() - 1.5) * 2 * std;
    return out;
  };
}

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
}

async function ortStepMs(): Promise<number> {
  const g = new Graph("softprompt_step");
  const decoder = new LlamaDecoder(g, SMOLLM2_135M, frozenWeights(g, "float32", randomWeights(1)));
  const inputs = decoder.inputs();
  const positions = g.input("target_positions", "int64", ["targets"]);
  const targets = g.input("target_ids", "int64", ["targets"]);
  const loss = maskedTokenCrossEntropy(decoder.forward(inputs), positions, targets, decoder.lmHead());
  gradients(g, loss, [inputs.inputsEmbeds]);

  const dir = mkdtempSync(join(tmpdir(), "yo-bench-engine-"));
  try {
    // External data: the weights are memory-mapped by onnxruntime, as in serving.
    const model = compile(g, { directory: dir });
    const runtime = new Runtime({ intraOpNumThreads: threads, interOpNumThreads: 1 });
    const h = SMOLLM2_135M.hiddenSize;
    const embeds = randomWeights(2)("inputs_embeds", [batch, seq, h]);
    const targetPositions = new BigInt64Array(batch * targetsPerRow);
    const targetIds = new BigInt64Array(batch * targetsPerRow);
    for (let b = 0; b < batch; b++) {
      for (let j = 0; j < targetsPerRow; j++) {
        targetPositions[b * targetsPerRow + j] = BigInt(b * seq + seq - targetsPerRow + j);
        targetIds[b * targetsPerRow + j] = BigInt((b * 7919 + j * 104729) % SMOLLM2_135M.vocabSize);
      }
    }
    const feeds = {
      inputs_embeds: ortTensor("float32", embeds, [batch, seq, h]),
      position_ids: ortTensor(
        "int64",
        BigInt64Array.from({ length: batch * seq }, (_, i) => BigInt(i % seq)),
        [batch, seq],
      ),
      attention_bias: ortTensor("float32", causalAttentionBias(batch, seq), [batch, 1, seq, seq]),
      target_positions: ortTensor("int64", targetPositions, [targetPositions.length]),
      target_ids: ortTensor("int64", targetIds, [targetIds.length]),
    };
    const times: number[] = [];
    for (let i = 0; i < warmup + steps; i++) {
      const start = performance.now();
      const out = await runtime.run(model, feeds);
      const ms = performance.now() - start;
      if (!Number.isFinite((out.loss!.data as Float32Array)[0]!)) throw new Error("loss is not finite");
      if (i >= warmup) times.push(ms);
    }
    await runtime.release();
    return median(times);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The PyTorch side, or null with a reason when Python or torch is missing. */
function torchStepMs(): { ms: number | null; note?: string } {
  if (flags["no-torch"]) return { ms: null, note: "--no-torch" };
  const args = [
    "tools/reference/bench_step.py",
    ...["--threads", String(threads), "--steps", String(steps), "--warmup", String(warmup)],
    ...["--batch", String(batch), "--seq", String(seq), "--targets", String(targetsPerRow)],
  ];
  if (SMOLLM2_135M.numLayers !== 30) return { ms: null, note: "PyTorch side runs 30 layers only" };
  const run = spawnSync(process.env.PYTHON ?? "python3", args, { encoding: "utf8" });
  if (run.error || run.status !== 0) {
    const why = run.error?.message ?? run.stderr.trim().split("\n").at(-1) ?? "unknown error";
    return {
      ms: null,
      note: `PyTorch side skipped: ${why} (pip install -r tools/reference/requirements.txt)`,
    };
  }
  const line = run.stdout
    .trim()
    .split("\n")
    .map((l) => JSON.parse(l) as { bench?: string; torch_ms?: number })
    .find((j) => j.bench === "softprompt_step_torch");
  return { ms: line?.torch_ms ?? null };
}

const ortMs = await ortStepMs();
const peakRssMb = Math.round(process.resourceUsage().maxRSS / 1024);
const torch = torchStepMs();
console.log(
  JSON.stringify({
    bench: "softprompt_step",
    layers: SMOLLM2_135M.numLayers,
    batch,
    seq,
    targets: targetsPerRow,
    threads,
    ort_ms: Math.round(ortMs * 10) / 10,
    torch_ms: torch.ms === null ? null : Math.round(torch.ms * 10) / 10,
    ratio: torch.ms === null ? null : Math.round((ortMs / torch.ms) * 1000) / 1000,
    peak_rss_mb: peakRssMb,
    // Both sides share this machine's cores: a busy machine skews the ratio, so say how busy it was.
    load_avg_1m: Math.round(loadavg()[0]! * 100) / 100,
    ...(torch.note ? { note: torch.note } : {}),
  }),
);
