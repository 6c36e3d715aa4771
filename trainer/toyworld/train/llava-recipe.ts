// Tiny LLaVA (HF LlavaForConditionalGeneration): the toy CLIP's vision tower + a 2-layer GELU MLP
// projector + a tiny Llama, trained from scratch (there is no pretrained LLM here). The stages, what each
// trains and on which rows, are in plan.ts: projector + LLM with the tower frozen first (curriculum, then
// every scene), then recognition quads and located answers with the attention-target loss, then the same
// with the tower training too.
// Rows put the image after the question (see CHAT_TEMPLATE in tokenizer.ts).

import { join } from "node:path";
import type * as ort from "onnxruntime-node";
import {
  add,
  compile,
  Graph,
  gradients,
  maskedTokenCrossEntropy,
  mul,
  ortTensor,
  type Runtime,
  reshape,
  type Tensor,
} from "../../engine/index";
import {
  type AttentionQuery,
  type AttentionTarget,
  attentionTargetFeeds,
  decoderAttentionTargetLoss,
} from "../../models/attention-target";
import type { HfJson } from "../../models/hf-config";
import { LlavaModel, llavaConfigFromHf, sanitizeLlavaWeightName } from "../../models/llava";
import { mergeImageFeatures } from "../../models/multimodal";
import type { TextTokenizer } from "../../text/tokenizer";
import { causalBias, pixelValues, positionIds } from "./batching";
import { readSnapshotTensors, readSnapshotWeights, writeSnapshot } from "./checkpoint";
import {
  BucketedBatches,
  RowEncoder,
  type RowMix,
  rowStream,
  type TrainingRow,
  type VqaKindWeights,
} from "./instruction-data";
import type { StageCurve } from "./loss-plot";
import { optimize } from "./optimize";
import { initParameters, ParameterBinding, type ParameterValues } from "./parameters";
import type { LlavaPart, StagePlan, TrainingPlan } from "./plan";
import type { TrainingScenes } from "./scenes";
import { TOKEN_IDS, type ToyTokenizerFiles } from "./tokenizer";

// 65 image tokens + a short question and answer fit 96 or 128; conversations are cut at a turn boundary
// to fit 160 (longer buckets cost more per step than the few long rows are worth).

export const LLAVA_BUCKETS = [96, 128, 160] as const;
const MAX_POSITIONS = 256;

export function toyLlavaConfig(vocabSize: number, clipConfig: HfJson): HfJson {
  const vision = clipConfig.vision_config as HfJson;
  const tokensPerImage = ((vision.image_size as number) / (vision.patch_size as number)) ** 2 + 1;
  return {
    architectures: ["LlavaForConditionalGeneration"],
    model_type: "llava",
    image_token_index: TOKEN_IDS.image,
    image_seq_length: tokensPerImage,
    projector_hidden_act: "gelu",
    multimodal_projector_bias: true,
    // The last layer's states with CLS kept: the tower is small, and the CLS row carries the global
    // summary the contrastive objective trained (useful for counting).
    vision_feature_layer: -1,
    vision_feature_select_strategy: "full",
    vision_config: vision,
    text_config: {
      model_type: "llama",
      vocab_size: vocabSize,
      hidden_size: 192,
      intermediate_size: 512,
      num_hidden_layers: 4,
      num_attention_heads: 4,
      num_key_value_heads: 2,
      head_dim: 48,
      hidden_act: "silu",
      max_position_embeddings: MAX_POSITIONS,
      rms_norm_eps: 1e-5,
      rope_parameters: { rope_theta: 10000.0, rope_type: "default" },
      attention_bias: false,
      mlp_bias: false,
      tie_word_embeddings: false,
      bos_token_id: TOKEN_IDS.bos,
      eos_token_id: TOKEN_IDS.eos,
      pad_token_id: TOKEN_IDS.pad,
    },
    tie_word_embeddings: false,
    torch_dtype: "float32",
  };
}

/** Canonical (transformers 5 in-memory) name -> the on-disk name save_pretrained writes. */
export function llavaCheckpointName(canonical: string): string {
  if (canonical === "lm_head.weight") return "language_model.lm_head.weight";
  return canonical
    .replace(/^model\.language_model\./, "language_model.model.")
    .replace(/^model\.vision_tower\./, "vision_tower.")
    .replace(/^model\.multi_modal_projector\./, "multi_modal_projector.");
}

export interface LlavaTrainingGraph {
  graph: Graph;
  binding: ParameterBinding;
  trainable: string[];
  /** Scalar outputs beside `loss` (its parts) for the log. */
  metrics: string[];
}

/**
 * Forward with images spliced in, masked next-token loss, gradients of the weights `trainable` picks.
 * With `attentionTarget` the loss adds its weight x attention-target.ts's loss (inputs `attention_rows`,
 * `attention_mask`), and both parts are outputs (`token_loss`, `attention_loss`).
 */
export function llavaTrainingGraph(
  config: HfJson,
  trainable: (name: string) => boolean,
  withImages = true,
  attentionTarget?: AttentionTarget,
): LlavaTrainingGraph {
  const graph = new Graph("toy-llava-train");
  const binding = new ParameterBinding(graph);
  const model = new LlavaModel(graph, llavaConfigFromHf(config), binding);
  const d = model.decoder;
  const h = d.config.hiddenSize;
  const ids = graph.input("input_ids", "int64", ["batch", "seq"]);
  const positions = graph.input("position_ids", "int64", ["batch", "seq"]);
  const bias = graph.input("attention_bias", "float32", ["batch", 1, "seq", "seq"]);
  let embeds = d.embed(ids);
  if (withImages) {
    const pixels = graph.input("pixel_values", "float32", ["images", 3, 64, 64]);
    const imagePositions = graph.input("image_positions", "int64", ["image_tokens"]);
    const features = reshape(model.imageFeatures(pixels), [-1, h], { shape: ["image_tokens", h] });
    embeds = mergeImageFeatures(embeds, features, imagePositions);
  }
  const lossPositions = graph.input("loss_positions", "int64", ["targets"]);
  const targets = graph.input("targets", "int64", ["targets"]);
  const hidden = d.forward({ inputsEmbeds: embeds, positions, attentionBias: bias });
  const tokenLoss = maskedTokenCrossEntropy(hidden, lossPositions, targets, d.lmHead());
  let loss: Tensor = tokenLoss;
  const metrics: string[] = [];
  if (attentionTarget) {
    const attention = decoderAttentionTargetLoss(d, attentionTarget);
    graph.output(tokenLoss, "token_loss");
    graph.output(attention, "attention_loss");
    metrics.push("token_loss", "attention_loss");
    loss = add(tokenLoss, mul(attention, attentionTarget.weight), "total_loss");
  }
  const names = [...binding.shapes.keys()].filter(trainable);
  gradients(
    graph,
    loss,
    names.map((n) => binding.tensors.get(n)!),
  );
  return { graph, binding, trainable: names, metrics };
}

/**
 * Feeds of the attention-target loss: per row with `attentionTargets`, its answer position (the query)
 * and the keys to look at: the listed image tokens, or <s> when the list is empty.
 */
export function rowAttentionTargetFeeds(rows: readonly TrainingRow[], T: number): Record<string, ort.Tensor> {
  const queries: AttentionQuery[] = [];
  rows.forEach((row, b) => {
    if (!row.attentionTargets) return;
    const answer = row.isTarget.indexOf(true) - 1;
    const firstImage = row.ids.indexOf(TOKEN_IDS.image);
    if (answer < 0 || firstImage < 0)
      throw new Error("attention target: the row needs an answer and an image");
    const keys = row.attentionTargets.length === 0 ? [0] : row.attentionTargets.map((t) => firstImage + t);
    queries.push({ row: b * T + answer, keys });
  });
  return attentionTargetFeeds(queries, T);
}

async function runStage(options: {
  stage: string;
  runtime: Runtime;
  config: HfJson;
  values: ParameterValues | undefined;
  initial: ReadonlyMap<string, Float32Array>;
  scenes: TrainingScenes;
  encoder: RowEncoder;
  mix: RowMix;
  plan: StagePlan;
  /** Language pretraining: no image path; descriptions stand in for images. */
  textOnly?: boolean;
  /** Curriculum: image rows only from scenes with at most this many objects. */
  maxObjects?: number;
  /** Loss weight of rows whose answer is at most three tokens (short VQA, yes/no). */
  shortAnswerWeight?: number;
  /** Relative weight of each kind of short VQA question (default: equal). */
  vqaKindWeights?: VqaKindWeights;
  /** Auxiliary loss on one attention head, for rows that carry attention targets (recognition quads). */
  attentionTarget?: AttentionTarget;
  trainable: (name: string) => boolean;
  lrScale?: (name: string) => number;
  /** Writes the model so far every few hundred steps, so a stopped run still leaves a usable model. */
  save?: (values: ParameterValues, shapes: ReadonlyMap<string, readonly number[]>) => Promise<void>;
  seed: number;
}): Promise<{ values: ParameterValues; shapes: ReadonlyMap<string, readonly number[]>; curve: StageCurve }> {
  const { runtime, scenes, encoder, plan } = options;
  const started = Date.now();
  const built = llavaTrainingGraph(
    options.config,
    options.trainable,
    !options.textOnly,
    options.attentionTarget,
  );
  // Weights this stage's graph binds for the first time start from `initial` (the CLIP tower) or fresh.
  const values: ParameterValues = options.values ?? new Map();
  for (const [name, v] of initParameters(built.binding, options.seed, 4, options.initial)) {
    if (!values.has(name)) values.set(name, v);
  }
  const maxLength = LLAVA_BUCKETS[LLAVA_BUCKETS.length - 1]!;
  const batches = new BucketedBatches(
    rowStream({
      encoder,
      seeds: scenes.seeds,
      sceneIndices: options.maxObjects ? scenes.withAtMostObjects(options.maxObjects) : undefined,
      mix: options.mix,
      maxLength,
      seed: options.seed,
      imageAsText: options.textOnly,
      imageSize: scenes.images[0]?.width,
      vqaKindWeights: options.vqaKindWeights,
    }),
    LLAVA_BUCKETS,
    plan.batchSize,
    !options.textOnly,
  );
  const result = await optimize({
    stage: options.stage,
    runtime,
    model: compile(built.graph),
    binding: built.binding,
    values,
    trainable: built.trainable,
    metrics: built.metrics,
    schedule: plan.schedule,
    lrScale: options.lrScale,
    checkpoint: options.save ? () => options.save!(values, built.binding.shapes) : undefined,
    checkpointEvery: 150,
    batch: () => {
      const { rows, length: T } = batches.next();
      const B = rows.length;
      const ids = new BigInt64Array(B * T).fill(BigInt(TOKEN_IDS.pad));
      const imagePositions: bigint[] = [];
      const lossPositions: bigint[] = [];
      const targets: bigint[] = [];
      rows.forEach((row, b) => {
        // The loss is a mean over target tokens, so a one-word answer would weigh 1/30 of a
        // conversation; listing short answers' targets several times gives them a row's worth.
        const short = row.isTarget.filter(Boolean).length <= 3;
        const repeat = short ? (options.shortAnswerWeight ?? 1) : 1;
        row.ids.forEach((id, t) => {
          ids[b * T + t] = BigInt(id);
          if (id === TOKEN_IDS.image) imagePositions.push(BigInt(b * T + t));
          if (row.isTarget[t]) {
            for (let r = 0; r < repeat; r++) {
              lossPositions.push(BigInt(b * T + t - 1));
              targets.push(BigInt(id));
            }
          }
        });
      });
      // A recognition quad's row brings its own picture; every other image row names a training scene.
      const images = rows.flatMap((r) =>
        r.image ? [r.image] : r.scene !== undefined ? [scenes.images[r.scene]!] : [],
      );
      const imageFeeds: Record<string, ort.Tensor> = options.textOnly
        ? {}
        : {
            pixel_values: ortTensor("float32", pixelValues(images), [images.length, 3, 64, 64]),
            image_positions: ortTensor("int64", BigInt64Array.from(imagePositions), [imagePositions.length]),
          };
      return {
        ...imageFeeds,
        input_ids: ortTensor("int64", ids, [B, T]),
        position_ids: ortTensor("int64", positionIds(B, T), [B, T]),
        attention_bias: ortTensor("float32", causalBias(B, T), [B, 1, T, T]),
        loss_positions: ortTensor("int64", BigInt64Array.from(lossPositions), [lossPositions.length]),
        targets: ortTensor("int64", BigInt64Array.from(targets), [targets.length]),
        ...(options.attentionTarget ? rowAttentionTargetFeeds(rows, T) : {}),
      };
    },
  });
  return {
    values,
    shapes: built.binding.shapes,
    curve: { ...result, wallSeconds: (Date.now() - started) / 1000 },
  };
}

export async function trainLlava(options: {
  runtime: Runtime;
  tok: TextTokenizer;
  tokenizer: ToyTokenizerFiles;
  scenes: TrainingScenes;
  plan: TrainingPlan;
  out: string;
  clipDir: string;
  /** Stage names to run (default all); without the first one, the weights so far come from `out`. */
  stages?: readonly string[];
}): Promise<Record<string, StageCurve>> {
  const { runtime, tok, scenes, plan } = options;
  const clipWeights = await readSnapshotWeights(options.clipDir);
  const clipConfig = JSON.parse(
    await (await import("node:fs/promises")).readFile(join(options.clipDir, "config.json"), "utf8"),
  ) as HfJson;
  const config = toyLlavaConfig(tok.size, clipConfig);
  // The vision tower starts as the trained CLIP's (LLaVA reuses CLIP's encoder).
  const initial = new Map<string, Float32Array>();
  for (const [name, data] of clipWeights) {
    if (name.startsWith("vision_model."))
      initial.set(name.replace(/^vision_model\./, "model.vision_tower."), data);
  }
  const encoder = new RowEncoder(tok, (config.image_seq_length as number) | 0);
  const curves: Record<string, StageCurve> = {};
  const save = async (values: ParameterValues, shapes: ReadonlyMap<string, readonly number[]>) => {
    const weights = new Map(
      [...values].map(([name, data]) => [llavaCheckpointName(name), { shape: shapes.get(name)!, data }]),
    );
    // Every stage binds the whole tower (trained or not), so it is all in `values`. CLIP's
    // post_layernorm only acts on the pooled CLS row, which LLaVA never reads; it is kept (as CLIP
    // trained it) so the tower is complete and transformers has nothing to initialise at random.
    for (const suffix of ["weight", "bias"]) {
      const data = clipWeights.get(`vision_model.post_layernorm.${suffix}`)!;
      weights.set(`vision_tower.post_layernorm.${suffix}`, { shape: [data.length], data });
    }
    await writeSnapshot({
      dir: join(options.out, "toy-llava"),
      config,
      weights,
      tokenizer: options.tokenizer,
      extra: {
        "generation_config.json": {
          bos_token_id: TOKEN_IDS.bos,
          eos_token_id: TOKEN_IDS.eos,
          pad_token_id: TOKEN_IDS.pad,
          max_new_tokens: 64,
          do_sample: false,
        },
      },
    });
  };
  const stages = plan.llava.filter((s) => !options.stages || options.stages.includes(s.name));
  let values: ParameterValues | undefined;
  // Shapes of every weight known so far: a text-only stage binds no vision tower, so its own binding
  // cannot describe the whole model it leaves.
  const shapes = new Map<string, readonly number[]>();
  if (stages.length > 0 && stages[0] !== plan.llava[0]) {
    // Resuming: the weights so far, from the snapshot a previous stage wrote.
    values = new Map();
    for (const [saved, t] of await readSnapshotTensors(join(options.out, "toy-llava"))) {
      const name = sanitizeLlavaWeightName(saved);
      values.set(name, t.data);
      shapes.set(name, t.shape);
    }
  }
  for (const stage of stages) {
    const run = await runStage({
      stage: stage.name,
      runtime,
      config,
      values,
      initial,
      scenes,
      encoder,
      mix: stage.mix,
      plan: stage,
      textOnly: stage.textOnly,
      maxObjects: stage.maxObjects,
      shortAnswerWeight: stage.shortAnswerWeight,
      vqaKindWeights: stage.vqaKindWeights,
      attentionTarget: stage.attentionTarget,
      trainable: (n) => stage.trains.includes(partOf(n)),
      lrScale: (n) => (partOf(n) === "vision" ? (stage.visionLrScale ?? 1) : 1),
      save: stage.textOnly ? undefined : save,
      seed: stage.seed,
    });
    curves[stage.name] = run.curve;
    values = run.values;
    for (const [name, shape] of run.shapes) shapes.set(name, shape);
    // A text-only stage is saved once the tower is known (resumed, or bound by an earlier stage), so
    // stages run one `--stage` at a time lose nothing; before that there is no whole model to write.
    const whole = [...values.keys()].some((n) => partOf(n) === "vision");
    if (whole) await save(values, shapes);
  }
  return curves;
}

/** Which of LLaVA's three parts a weight (by canonical name) belongs to. */
export function partOf(name: string): LlavaPart {
  if (name.startsWith("model.vision_tower.")) return "vision";
  if (name.startsWith("model.multi_modal_projector.")) return "projector";
  return "llm";
}
