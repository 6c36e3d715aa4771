// Tiny CLIP (HF CLIPModel): both towers from scratch, trained contrastively on (image, caption) pairs of
// training scenes. Its vision tower is reused as the LLaVA image encoder, as LLaVA reuses CLIP ViT-L.

import type * as ort from "onnxruntime-node";
import {
  add,
  compile,
  Graph,
  gradients,
  mul,
  ortTensor,
  type Runtime,
  type Tensor,
} from "../../engine/index";
import { ClipModel, clipConfigFromHf } from "../../models/clip";
import type { HfJson } from "../../models/hf-config";
import type { TextTokenizer } from "../../text/tokenizer";
import { Random } from "../random";
import { captionRecord } from "../records";
import { attributeFeeds, attributeLabels, attributeLoss, type HeadWeights } from "./attribute-supervision";
import { causalBias, pixelValues } from "./batching";
import { optimize, type Schedule, type TrainResult } from "./optimize";
import { initParameters, ParameterBinding, type ParameterValues } from "./parameters";
import type { TrainingScenes } from "./scenes";
import { TOKEN_IDS } from "./tokenizer";

export const CLIP_TEXT_LENGTH = 48;

export function toyClipConfig(vocabSize: number): HfJson {
  return {
    architectures: ["CLIPModel"],
    model_type: "clip",
    projection_dim: 128,
    logit_scale_init_value: Math.log(1 / 0.07),
    text_config: {
      model_type: "clip_text_model",
      vocab_size: vocabSize,
      hidden_size: 128,
      intermediate_size: 512,
      num_hidden_layers: 2,
      num_attention_heads: 4,
      max_position_embeddings: CLIP_TEXT_LENGTH,
      hidden_act: "quick_gelu",
      layer_norm_eps: 1e-5,
      bos_token_id: TOKEN_IDS.bos,
      eos_token_id: TOKEN_IDS.eos,
      pad_token_id: TOKEN_IDS.pad,
      projection_dim: 128,
    },
    vision_config: {
      model_type: "clip_vision_model",
      hidden_size: 128,
      intermediate_size: 512,
      num_hidden_layers: 4,
      num_attention_heads: 4,
      image_size: 64,
      patch_size: 8,
      num_channels: 3,
      hidden_act: "quick_gelu",
      layer_norm_eps: 1e-5,
      projection_dim: 128,
    },
    torch_dtype: "float32",
  };
}

/** "<s> caption </s> <pad>..." cut to `length` (the eos kept last), and the eos position for pooling. */
export function captionIds(tok: TextTokenizer, text: string, length: number): { ids: number[]; eos: number } {
  const body = tok.encode(text, { addSpecialTokens: false }).slice(0, length - 2);
  const ids = [TOKEN_IDS.bos, ...body, TOKEN_IDS.eos];
  const eos = ids.length - 1;
  while (ids.length < length) ids.push(TOKEN_IDS.pad);
  return { ids, eos };
}

/** Batches of scene indices: each pass over the scenes in a fresh shuffled order (epochs without repeats). */
export function shuffledBatches(count: number, batchSize: number, order: Random): () => number[] {
  let perm = order.shuffle([...Array(count).keys()]);
  let cursor = 0;
  return () => {
    if (cursor + batchSize > perm.length) {
      perm = order.shuffle(perm);
      cursor = 0;
    }
    cursor += batchSize;
    return perm.slice(cursor - batchSize, cursor);
  };
}

/** input_ids, attention_bias and pool_positions for a batch of encoded captions. */
export function captionFeeds(
  captions: readonly { ids: number[]; eos: number }[],
): Record<string, ort.Tensor> {
  const n = captions.length;
  const ids = new BigInt64Array(n * CLIP_TEXT_LENGTH);
  const pool = new BigInt64Array(n);
  captions.forEach((c, b) => {
    c.ids.forEach((id, t) => {
      ids[b * CLIP_TEXT_LENGTH + t] = BigInt(id);
    });
    pool[b] = BigInt(b * CLIP_TEXT_LENGTH + c.eos);
  });
  return {
    input_ids: ortTensor("int64", ids, [n, CLIP_TEXT_LENGTH]),
    attention_bias: ortTensor("float32", causalBias(n, CLIP_TEXT_LENGTH), [
      n,
      1,
      CLIP_TEXT_LENGTH,
      CLIP_TEXT_LENGTH,
    ]),
    pool_positions: ortTensor("int64", pool, [n]),
  };
}

/**
 * The training graph: CLIP's contrastive loss plus `attributeWeight` x the dense attribute heads' loss
 * (attribute-supervision.ts), and the gradient of every weight. The two parts are also graph outputs
 * (`contrastive_loss`, `attribute_loss`) so the log shows each. Without `contrastive` the graph is the
 * vision tower and the heads alone: the text side is not in it and keeps the weights it had.
 */
export function clipTrainingGraph(
  config: HfJson,
  attributeWeight: number,
  headWeights: HeadWeights = {},
  contrastive = true,
): { graph: Graph; binding: ParameterBinding } {
  const graph = new Graph("toy-clip-train");
  const binding = new ParameterBinding(graph);
  const model = new ClipModel(graph, clipConfigFromHf(config), binding);
  const pixels = graph.input("pixel_values", "float32", ["batch", 3, 64, 64]);
  let loss: Tensor;
  if (contrastive) {
    const ids = graph.input("input_ids", "int64", ["batch", CLIP_TEXT_LENGTH]);
    const bias = graph.input("attention_bias", "float32", ["batch", 1, CLIP_TEXT_LENGTH, CLIP_TEXT_LENGTH]);
    const pool = graph.input("pool_positions", "int64", ["batch"]);
    const image = model.imageEmbedsAndStates(pixels);
    const contrastiveLoss = model.contrastiveLoss(image.embeds, model.textEmbeds(ids, bias, pool)).loss;
    const attributes = attributeLoss(graph, binding, image.lastState, headWeights);
    graph.output(contrastiveLoss, "contrastive_loss");
    graph.output(attributes, "attribute_loss");
    loss = add(contrastiveLoss, mul(attributes, attributeWeight), "total_loss");
  } else {
    const attributes = attributeLoss(graph, binding, model.vision.hiddenStates(pixels).at(-1)!, headWeights);
    graph.output(attributes, "attribute_loss");
    loss = mul(attributes, attributeWeight, "total_loss");
  }
  gradients(graph, loss, [...binding.tensors.values()]);
  return { graph, binding };
}

export async function trainClip(options: {
  runtime: Runtime;
  tok: TextTokenizer;
  scenes: TrainingScenes;
  schedule: Schedule;
  batchSize: number;
  /** Weight of the dense attribute heads' loss next to the contrastive loss. */
  attributeWeight: number;
  /** Per-head weights inside the attribute loss (default 1 each). */
  headWeights?: HeadWeights;
  /** With CLIP's contrastive loss (default); without it only the vision tower trains. */
  contrastive?: boolean;
  seed: number;
  /** Start from these weights (by CLIPModel name) instead of a fresh initialisation. */
  initial?: ReadonlyMap<string, Float32Array>;
  stage?: string;
}): Promise<{
  values: ParameterValues;
  shapes: ReadonlyMap<string, readonly number[]>;
  config: HfJson;
  result: TrainResult;
}> {
  const { runtime, tok, scenes, schedule, batchSize } = options;
  const config = toyClipConfig(tok.size);
  const contrastive = options.contrastive ?? true;
  const { graph, binding } = clipTrainingGraph(
    config,
    options.attributeWeight,
    options.headWeights,
    contrastive,
  );
  const vision = config.vision_config as HfJson;
  const grid = (vision.image_size as number) / (vision.patch_size as number);
  const values = initParameters(binding, options.seed, 4, options.initial);
  const names = [...binding.shapes.keys()];
  // Captions are drawn fresh per use (the generator varies wording by seed only, so a scene keeps its
  // caption; the batch composition varies instead).
  const captions = (contrastive ? scenes.seeds : []).map((seed) =>
    captionIds(tok, captionRecord(seed).caption, CLIP_TEXT_LENGTH),
  );
  const labels = scenes.scenes.map((scene) => attributeLabels(scene, grid));
  const nextBatch = shuffledBatches(scenes.count, batchSize, new Random(options.seed, "clip:order"));
  const result = await optimize({
    stage: options.stage ?? "clip",
    runtime,
    model: compile(graph),
    binding,
    values,
    trainable: names,
    schedule,
    // Per-head losses of the attributes that are slow to learn, so a log shows which one lags.
    metrics: [
      ...(contrastive ? ["contrastive_loss"] : []),
      "attribute_loss",
      "attribute_loss_shape",
      "attribute_loss_pattern",
      "attribute_loss_mark",
      "attribute_loss_count",
    ],
    batch: () => {
      const picked = nextBatch();
      return {
        pixel_values: ortTensor("float32", pixelValues(picked.map((k) => scenes.images[k]!)), [
          batchSize,
          3,
          64,
          64,
        ]),
        ...(contrastive ? captionFeeds(picked.map((k) => captions[k]!)) : {}),
        ...Object.fromEntries(
          Object.entries(
            attributeFeeds(
              picked.map((k) => labels[k]!),
              grid,
            ),
          ).map(([name, data]) => [name, ortTensor("int64", data, [data.length])]),
        ),
      };
    },
  });
  return { values, shapes: binding.shapes, config, result };
}
