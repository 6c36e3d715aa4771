// What LLaVA, Idefics3 and text-only decoders share once built: a Llama-family decoder, optionally an
// image path whose rows replace the image-token embeddings, the forward graph with fixed input/output
// names, and a runner with the reference greedy decoder (repeated full forward passes, no KV cache:
// slow and exact, the baseline trainer/generate is compared against).

import type * as ort from "onnxruntime-node";
import {
  type CompiledModel,
  type CompileOptions,
  compile,
  type Graph,
  matmul,
  ortTensor,
  type Runtime,
  reshape,
  reshapeLike,
  scatterND,
  type Tensor,
  transpose,
  unsqueeze,
} from "../engine/index";
import { causalAttentionBias, type LlamaDecoder } from "./llama";

/** The image half of a vision-language model. */
export interface VisionLanguageModel {
  readonly decoder: LlamaDecoder;
  readonly imageTokenId: number;
  /** [C, S, S] of one image (tile) as the tower takes it. */
  readonly pixelShape: [number, number, number];
  /** Rows each image contributes, i.e. image tokens per image in the prompt. */
  readonly tokensPerImage: number;
  /** pixel_values [N, C, S, S] -> [N, tokensPerImage, H] in the decoder's embedding space. */
  imageFeatures(pixelValues: Tensor): Tensor;
}

/** A model the registry builds for causal generation: a decoder, with or without images. */
export interface CausalLm {
  readonly graph: Graph;
  readonly decoder: LlamaDecoder;
  readonly vision?: VisionLanguageModel;
}

/**
 * inputs_embeds with row `positions[i]` (flat b*T + t) replaced by features row i, in order: HF's
 * masked_scatter over the image-token mask. `features` [M, H], `positions` int64 [M].
 */
export function mergeImageFeatures(embeds: Tensor, features: Tensor, positions: Tensor): Tensor {
  const h = embeds.shape[2] as number;
  const flat = reshape(embeds, [-1, h], { shape: ["rows", h] });
  const merged = scatterND(flat, unsqueeze(positions, [1]), features, "none", "merge_image_features");
  return reshapeLike(merged, embeds);
}

/** Flat positions b*T + t of `imageTokenId` in row-major order (the order HF fills them). */
export function imageTokenPositions(
  inputIds: ArrayLike<number | bigint>,
  imageTokenId: number,
): BigInt64Array {
  const out: bigint[] = [];
  for (let i = 0; i < inputIds.length; i++) if (Number(inputIds[i]) === imageTokenId) out.push(BigInt(i));
  return BigInt64Array.from(out);
}

export class ImageTokenMismatchError extends Error {
  readonly code = "IMAGE_TOKEN_MISMATCH";
}

/**
 * The forward graph. Inputs: input_ids int64 [batch, seq], position_ids int64 [batch, seq], attention_bias
 * [batch, 1, seq, seq]; with images also pixel_values [images, C, S, S] and image_positions int64
 * [image_tokens]. Outputs: logits [batch, seq, vocab]; with images also image_features [image_tokens, H].
 */
export function buildForwardGraph(model: CausalLm, withImages: boolean): Graph {
  const g = model.graph;
  const d = model.decoder;
  const ids = g.input("input_ids", "int64", ["batch", "seq"]);
  let embeds = d.embed(ids);
  // The decoder's own inputs() would add an inputs_embeds input; here the embeddings are computed.
  const positionIds = g.input("position_ids", "int64", ["batch", "seq"]);
  const attentionBias = g.input("attention_bias", "float32", ["batch", 1, "seq", "seq"]);
  if (withImages) {
    const vision = model.vision;
    if (!vision) throw new Error(`graph ${g.name}: this model has no image path`);
    const pixels = g.input("pixel_values", "float32", ["images", ...vision.pixelShape]);
    const positions = g.input("image_positions", "int64", ["image_tokens"]);
    const perImage = vision.imageFeatures(pixels);
    const h = d.config.hiddenSize;
    const rows = reshape(perImage, [-1, h], { shape: ["image_tokens", h] });
    g.output(rows, "image_features");
    embeds = mergeImageFeatures(embeds, rows, positions);
  }
  const hidden = d.forward({ inputsEmbeds: embeds, positions: positionIds, attentionBias });
  g.output(
    g.scope("lm_head", () => matmul(hidden, transpose(d.lmHead(), [1, 0]))),
    "logits",
  );
  return g;
}

/** pixel_values [images, C, S, S] -> image_features [image_tokens, H]: the image path alone (feature caches). */
export function buildImageFeaturesGraph(model: CausalLm): Graph {
  const vision = model.vision;
  const g = model.graph;
  if (!vision) throw new Error(`graph ${g.name}: this model has no image path`);
  const pixels = g.input("pixel_values", "float32", ["images", ...vision.pixelShape]);
  const h = model.decoder.config.hiddenSize;
  g.output(reshape(vision.imageFeatures(pixels), [-1, h], { shape: ["image_tokens", h] }), "image_features");
  return g;
}

/** Images for one forward: N images of the model's pixelShape, row-major float32. */
export interface PixelValues {
  data: Float32Array;
  count: number;
}

export interface ForwardResult {
  /** [batch, seq, vocab] */
  logits: Float32Array;
  /** [image tokens, hidden] when images were given. */
  imageFeatures?: Float32Array;
}

/** Runs a CausalLm's forward graph(s) on a Runtime; builds the image graph on first use. */
export class CausalLmRunner {
  private readonly built = new Map<boolean, { compiled: CompiledModel; model: CausalLm }>();
  private featuresGraph?: { compiled: CompiledModel; model: CausalLm };

  constructor(
    /** Builds the model into a fresh graph of the given name (called once per graph variant). */
    private readonly build: (graphName: string) => CausalLm,
    private readonly runtime: Runtime,
    /** How graphs are compiled: { directory } for weights in files (file-backed or multi-gigabyte). */
    private readonly compileOptions: CompileOptions = {},
  ) {}

  private model(withImages: boolean): { compiled: CompiledModel; model: CausalLm } {
    let entry = this.built.get(withImages);
    if (!entry) {
      const model = this.build(withImages ? "forward_with_images" : "forward");
      entry = { compiled: compile(buildForwardGraph(model, withImages), this.compileOptions), model };
      this.built.set(withImages, entry);
    }
    return entry;
  }

  /** The projected features of N images, [N * tokensPerImage * H], the rows that replace image tokens. */
  async imageFeatures(pixels: PixelValues): Promise<Float32Array> {
    if (!this.featuresGraph) {
      const model = this.build("image_features");
      this.featuresGraph = {
        compiled: compile(buildImageFeaturesGraph(model), this.compileOptions),
        model,
      };
    }
    const { compiled, model } = this.featuresGraph;
    const shape = model.vision!.pixelShape;
    const out = await this.runtime.run(compiled, {
      pixel_values: ortTensor("float32", pixels.data, [pixels.count, ...shape]),
    });
    return out.image_features!.data as Float32Array;
  }

  /** Full forward over equal-length rows (no padding): positions 0..T-1, causal attention. */
  async forward(rows: readonly (readonly number[])[], pixels?: PixelValues): Promise<ForwardResult> {
    const batch = rows.length;
    const seq = rows[0]!.length;
    if (rows.some((r) => r.length !== seq)) throw new Error("forward: rows must have equal length");
    const ids = BigInt64Array.from(rows.flat(), (x) => BigInt(x));
    return this.forwardIds(ids, batch, seq, pixels, pixels ? undefined : null);
  }

  private async forwardIds(
    ids: BigInt64Array,
    batch: number,
    seq: number,
    pixels: PixelValues | undefined,
    positionsOverride: BigInt64Array | null | undefined,
  ): Promise<ForwardResult> {
    const { compiled, model } = this.model(pixels !== undefined);
    const feeds: Record<string, ort.Tensor> = {
      input_ids: ortTensor("int64", ids, [batch, seq]),
      position_ids: ortTensor(
        "int64",
        BigInt64Array.from({ length: batch * seq }, (_, i) => BigInt(i % seq)),
        [batch, seq],
      ),
      attention_bias: ortTensor("float32", causalAttentionBias(batch, seq, "float32"), [batch, 1, seq, seq]),
    };
    if (pixels) {
      const vision = model.vision!;
      const positions = positionsOverride ?? imageTokenPositions(ids, vision.imageTokenId);
      const expected = pixels.count * vision.tokensPerImage;
      if (positions.length !== expected) {
        throw new ImageTokenMismatchError(
          `${positions.length} image tokens (id ${vision.imageTokenId}) for ${pixels.count} image(s) of ` +
            `${vision.tokensPerImage} features each (${expected})`,
        );
      }
      feeds.pixel_values = ortTensor("float32", pixels.data, [pixels.count, ...vision.pixelShape]);
      feeds.image_positions = ortTensor("int64", positions, [positions.length]);
    }
    const out = await this.runtime.run(compiled, feeds);
    return {
      logits: out.logits!.data as Float32Array,
      imageFeatures: pixels ? (out.image_features!.data as Float32Array) : undefined,
    };
  }

  /**
   * Greedy decoding by repeated full forward passes (argmax of the last position, first index on ties,
   * no stop token). Image tokens are looked up in the prompt only, as with a KV cache in transformers:
   * a generated image-token id is an ordinary token.
   */
  async greedy(prompt: readonly number[], steps: number, pixels?: PixelValues): Promise<number[]> {
    const { model } = this.model(pixels !== undefined);
    const vocab = model.decoder.config.vocabSize;
    const positions = pixels ? imageTokenPositions(prompt, model.vision!.imageTokenId) : null;
    const tokens = [...prompt];
    const generated: number[] = [];
    for (let s = 0; s < steps; s++) {
      const ids = BigInt64Array.from(tokens, (x) => BigInt(x));
      const { logits } = await this.forwardIds(ids, 1, tokens.length, pixels, positions);
      const last = logits.subarray((tokens.length - 1) * vocab, tokens.length * vocab);
      let best = 0;
      for (let v = 1; v < vocab; v++) if (last[v]! > last[best]!) best = v;
      tokens.push(best);
      generated.push(best);
    }
    return generated;
  }
}
