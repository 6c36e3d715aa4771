// Locked-image text tuning (LiT, Zhai et al. 2022) for the toy CLIP: after the joint stage, the vision
// tower is frozen, its pooled features are computed once for every training scene, and only the text
// tower, both projections and the temperature keep training, on bigger batches (a contrastive loss sees
// more negatives per step, and a step costs only the small text tower). The tower the LLaVA reads stays
// exactly the one the joint stage shaped, so retrieval improves without touching the LLaVA's input.

import { compile, Graph, gradients, ortTensor, type Runtime } from "../../engine/index";
import { ClipModel, clipConfigFromHf } from "../../models/clip";
import type { HfJson } from "../../models/hf-config";
import type { TextTokenizer } from "../../text/tokenizer";
import { Random } from "../random";
import { captionRecord } from "../records";
import { pixelValues } from "./batching";
import { CLIP_TEXT_LENGTH, captionFeeds, captionIds, shuffledBatches } from "./clip-recipe";
import { optimize, type Schedule, type TrainResult } from "./optimize";
import { ParameterBinding, type ParameterValues, parameterFeeds } from "./parameters";
import type { TrainingScenes } from "./scenes";

const ENCODE_BATCH = 250;

/** Pooled (post_layernorm CLS) features of every scene under the frozen tower, [count * hidden]. */
async function pooledFeatures(
  runtime: Runtime,
  config: HfJson,
  values: ParameterValues,
  scenes: TrainingScenes,
): Promise<Float32Array> {
  const graph = new Graph("toy-clip-pooled");
  const binding = new ParameterBinding(graph);
  const model = new ClipModel(graph, clipConfigFromHf(config), binding);
  const pixels = graph.input("pixel_values", "float32", ["batch", 3, 64, 64]);
  graph.output(model.vision.pooled(pixels), "pooled");
  const compiled = compile(graph);
  const weights = parameterFeeds(binding, values);
  const hidden = model.config.vision.hiddenSize;
  const out = new Float32Array(scenes.count * hidden);
  for (let i = 0; i < scenes.count; i += ENCODE_BATCH) {
    const images = scenes.images.slice(i, i + ENCODE_BATCH);
    const run = await runtime.run(compiled, {
      ...weights,
      pixel_values: ortTensor("float32", pixelValues(images), [images.length, 3, 64, 64]),
    });
    out.set(run.pooled!.data as Float32Array, i * hidden);
  }
  return out;
}

/** Continues `values` (a trained CLIPModel, updated in place): text side only, image side locked. */
export async function trainClipText(options: {
  runtime: Runtime;
  tok: TextTokenizer;
  scenes: TrainingScenes;
  config: HfJson;
  values: ParameterValues;
  schedule: Schedule;
  batchSize: number;
  seed: number;
  stage?: string;
}): Promise<TrainResult> {
  const { runtime, tok, scenes, config, values, schedule, batchSize } = options;
  const features = await pooledFeatures(runtime, config, values, scenes);
  const graph = new Graph("toy-clip-text-train");
  const binding = new ParameterBinding(graph);
  const model = new ClipModel(graph, clipConfigFromHf(config), binding);
  const hidden = model.config.vision.hiddenSize;
  const pooled = graph.input("image_pooled", "float32", ["batch", hidden]);
  const ids = graph.input("input_ids", "int64", ["batch", CLIP_TEXT_LENGTH]);
  const bias = graph.input("attention_bias", "float32", ["batch", 1, CLIP_TEXT_LENGTH, CLIP_TEXT_LENGTH]);
  const pool = graph.input("pool_positions", "int64", ["batch"]);
  const { loss } = model.contrastiveLoss(model.projectImage(pooled), model.textEmbeds(ids, bias, pool));
  const trainable = [...binding.shapes.keys()];
  gradients(
    graph,
    loss,
    trainable.map((n) => binding.tensors.get(n)!),
  );
  const captions = scenes.seeds.map((seed) => captionIds(tok, captionRecord(seed).caption, CLIP_TEXT_LENGTH));
  const nextBatch = shuffledBatches(scenes.count, batchSize, new Random(options.seed, "clip_text:order"));
  return optimize({
    stage: options.stage ?? "clip_text",
    runtime,
    model: compile(graph),
    binding,
    values,
    trainable,
    schedule,
    batch: () => {
      const picked = nextBatch();
      const rows = new Float32Array(batchSize * hidden);
      picked.forEach((k, b) => {
        rows.set(features.subarray(k * hidden, (k + 1) * hidden), b * hidden);
      });
      return {
        image_pooled: ortTensor("float32", rows, [batchSize, hidden]),
        ...captionFeeds(picked.map((k) => captions[k]!)),
      };
    },
  });
}
