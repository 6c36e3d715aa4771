// The training loop both recipes share: one onnxruntime run returns the loss and the gradients of the
// trainable weights, then gradient clipping and AdamW (warmup + cosine learning rate) in TypeScript.

import type * as ort from "onnxruntime-node";
import { AdamW, clipGradNorm } from "../../engine/adamw";
import type { CompiledModel, Runtime } from "../../engine/index";
import { type ParameterBinding, type ParameterValues, parameterFeeds } from "./parameters";

export interface Schedule {
  steps: number;
  lr: number;
  warmup: number;
  weightDecay: number;
  maxGradNorm: number;
  /** Print a loss line every this many steps (the mean since the last line). */
  logEvery: number;
  /** After warmup: cosine decay to 10% of the peak (default), or hold the peak. */
  decay?: "cosine" | "constant";
}

/** Linear warmup, then cosine decay to 10% of the peak or the peak held (`decay`). */
export function learningRate(step: number, s: Schedule): number {
  if (step < s.warmup) return (s.lr * (step + 1)) / s.warmup;
  if (s.decay === "constant") return s.lr;
  const progress = (step - s.warmup) / Math.max(1, s.steps - s.warmup);
  return s.lr * (0.1 + 0.9 * 0.5 * (1 + Math.cos(Math.PI * Math.min(1, progress))));
}

export interface LossPoint {
  step: number;
  loss: number;
}

export interface TrainResult {
  curve: LossPoint[];
  seconds: number;
  finalLoss: number;
}

/**
 * Runs `schedule.steps` steps. `batch(step)` gives the data feeds; gradients come back as
 * `grad/<name>` outputs for every name in `trainable`.
 */
export async function optimize(options: {
  stage: string;
  runtime: Runtime;
  model: CompiledModel;
  binding: ParameterBinding;
  values: ParameterValues;
  trainable: readonly string[];
  schedule: Schedule;
  /** Learning-rate multiplier per weight (default 1): a frozen-ish tower trains at a fraction. */
  lrScale?: (name: string) => number;
  batch: (step: number) => Record<string, ort.Tensor>;
  /** Extra scalar graph outputs logged next to the loss (e.g. the parts of a combined loss). */
  metrics?: readonly string[];
  /** Called every `checkpointEvery` steps (e.g. to write the model so far). */
  checkpoint?: (step: number) => Promise<void>;
  checkpointEvery?: number;
}): Promise<TrainResult> {
  const { stage, runtime, model, binding, values, trainable, schedule } = options;
  // One AdamW per learning-rate multiplier; each keeps the indices of its weights in `trainable`.
  const scaleOf = options.lrScale ?? (() => 1);
  const groups = new Map<number, number[]>();
  trainable.forEach((n, i) => {
    const scale = scaleOf(n);
    groups.set(scale, [...(groups.get(scale) ?? []), i]);
  });
  const optimizers = [...groups].map(([scale, indices]) => ({
    scale,
    indices,
    adamw: new AdamW(
      indices.map((i) => values.get(trainable[i]!)!),
      { lr: schedule.lr * scale, weightDecay: schedule.weightDecay, betas: [0.9, 0.98] },
    ),
  }));
  const weightFeeds = parameterFeeds(binding, values);
  const metrics = options.metrics ?? [];
  const fetches = ["loss", ...metrics, ...trainable.map((n) => `grad/${n}`)];
  const metricSums = new Map<string, number>(metrics.map((m) => [m, 0]));
  const curve: LossPoint[] = [];
  const started = Date.now();
  let sum = 0;
  let count = 0;
  for (let step = 0; step < schedule.steps; step++) {
    const out = await runtime.run(model, { ...weightFeeds, ...options.batch(step) }, fetches);
    const loss = (out.loss!.data as Float32Array)[0]!;
    if (!Number.isFinite(loss)) throw new Error(`${stage}: loss is ${loss} at step ${step}`);
    const grads = trainable.map((n) => out[`grad/${n}`]!.data as Float32Array);
    const norm = clipGradNorm(grads, schedule.maxGradNorm);
    const lr = learningRate(step, schedule);
    for (const o of optimizers) {
      o.adamw.lr = lr * o.scale;
      o.adamw.step(o.indices.map((i) => grads[i]!));
    }
    sum += loss;
    count += 1;
    for (const m of metrics) metricSums.set(m, metricSums.get(m)! + (out[m]!.data as Float32Array)[0]!);
    if ((step + 1) % schedule.logEvery === 0 || step === schedule.steps - 1) {
      const point = { step: step + 1, loss: sum / count };
      curve.push(point);
      const elapsed = (Date.now() - started) / 1000;
      console.log(
        JSON.stringify({
          train: stage,
          step: point.step,
          loss: Number(point.loss.toFixed(4)),
          ...Object.fromEntries(metrics.map((m) => [m, Number((metricSums.get(m)! / count).toFixed(4))])),
          grad_norm: Number(norm.toFixed(3)),
          lr: Number(learningRate(step, schedule).toExponential(2)),
          seconds: Number(elapsed.toFixed(1)),
        }),
      );
      sum = 0;
      count = 0;
      for (const m of metrics) metricSums.set(m, 0);
    }
    if (options.checkpoint && options.checkpointEvery && (step + 1) % options.checkpointEvery === 0) {
      await options.checkpoint(step + 1);
    }
  }
  const seconds = (Date.now() - started) / 1000;
  return { curve, seconds, finalLoss: curve[curve.length - 1]?.loss ?? Number.NaN };
}
