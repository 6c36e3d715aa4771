// The committed toy models as the rest of the project sees them: loaded from their HF snapshot
// directories by trainer/models' loader and trainer/text's tokenizer, nothing from the training code
// path. Used by `npm run toy:eval`, the reference-output writer and the regression test.

import { join } from "node:path";
import type * as ort from "onnxruntime-node";
import { type CompiledModel, compile, Graph, ortTensor, type Runtime } from "../../engine/index";
import { clipPoolPositions } from "../../models/clip";
import { loadClip, openHfSnapshot, readWeightsFloat32, snapshotWeights } from "../../models/loader";
import { buildForwardGraph } from "../../models/multimodal";
import { loadTokenizer, type TextTokenizer } from "../../text/tokenizer";
import type { RgbImage } from "../image";
import { causalBias, pixelValues, positionIds } from "./batching";

export const TOY_MODELS_DIR = "trainer/toyworld/models";
export const TOY_CLIP_DIR = join(TOY_MODELS_DIR, "toy-clip");
export const TOY_LLAVA_DIR = join(TOY_MODELS_DIR, "toy-llava");

function unitRows(data: Float32Array, rows: number): Float32Array[] {
  const width = data.length / rows;
  return Array.from({ length: rows }, (_, r) => {
    const v = data.slice(r * width, (r + 1) * width);
    const norm = Math.hypot(...v);
    return v.map((x) => x / norm);
  });
}

export class ToyClip {
  private constructor(
    readonly tok: TextTokenizer,
    private readonly runtime: Runtime,
    private readonly imageModel: CompiledModel,
    private readonly textModel: CompiledModel,
    readonly eosTokenId: number,
    readonly maxLength: number,
  ) {}

  static async load(dir: string, runtime: Runtime): Promise<ToyClip> {
    const imageGraph = new Graph("toy-clip-image");
    const { model } = await loadClip(dir, imageGraph);
    const px = imageGraph.input("pixel_values", "float32", ["images", 3, 64, 64]);
    imageGraph.output(model.imageEmbeds(px), "image_embeds");
    const textGraph = new Graph("toy-clip-text");
    const { model: text } = await loadClip(dir, textGraph);
    const ids = textGraph.input("input_ids", "int64", ["batch", "seq"]);
    const bias = textGraph.input("attention_bias", "float32", ["batch", 1, "seq", "seq"]);
    const pool = textGraph.input("pool_positions", "int64", ["batch"]);
    textGraph.output(text.textEmbeds(ids, bias, pool), "text_embeds");
    return new ToyClip(
      loadTokenizer(dir),
      runtime,
      compile(imageGraph),
      compile(textGraph),
      text.config.text.eosTokenId,
      text.config.text.maxPositionEmbeddings,
    );
  }

  /** Raw image_embeds (HF get_image_features), [N * projection_dim]. */
  async imageFeatures(images: readonly RgbImage[]): Promise<Float32Array> {
    const out = await this.runtime.run(this.imageModel, {
      pixel_values: ortTensor("float32", pixelValues(images), [images.length, 3, 64, 64]),
    });
    return out.image_embeds!.data as Float32Array;
  }

  /** "<s> text </s>" padded to one length; HF's tokenizer(text) + eos, truncated to the position table. */
  textIds(texts: readonly string[]): { ids: number[][]; length: number } {
    const rows = texts.map((t) => [
      ...this.tok.encode(t, { addSpecialTokens: true }).slice(0, this.maxLength - 1),
      this.eosTokenId,
    ]);
    const length = Math.max(...rows.map((r) => r.length));
    return {
      ids: rows.map((r) => [...r, ...new Array<number>(length - r.length).fill(this.tok.padId ?? 0)]),
      length,
    };
  }

  /** Raw text_embeds (HF get_text_features), [B * projection_dim]. */
  async textFeatures(texts: readonly string[]): Promise<Float32Array> {
    const { ids, length } = this.textIds(texts);
    const flat = ids.flat();
    const B = texts.length;
    const out = await this.runtime.run(this.textModel, {
      input_ids: ortTensor("int64", BigInt64Array.from(flat, BigInt), [B, length]),
      attention_bias: ortTensor("float32", causalBias(B, length), [B, 1, length, length]),
      pool_positions: ortTensor("int64", clipPoolPositions(flat, B, length, this.eosTokenId), [B]),
    });
    return out.text_embeds!.data as Float32Array;
  }

  async embedImages(images: readonly RgbImage[]): Promise<Float32Array[]> {
    return unitRows(await this.imageFeatures(images), images.length);
  }

  async embedTexts(texts: readonly string[]): Promise<Float32Array[]> {
    return unitRows(await this.textFeatures(texts), texts.length);
  }
}

export interface VisualQuestion {
  image?: RgbImage;
  question: string;
  /** System line (e.g. a concept prompt); none by default. */
  system?: string;
}

export class ToyLlava {
  private constructor(
    readonly tok: TextTokenizer,
    private readonly runtime: Runtime,
    private readonly model: CompiledModel,
    readonly imageTokenId: number,
    readonly tokensPerImage: number,
    readonly vocabSize: number,
  ) {}

  static async load(dir: string, runtime: Runtime): Promise<ToyLlava> {
    const snapshot = await openHfSnapshot(dir);
    const arch = snapshot.architecture;
    if (arch.kind !== "causal-lm") throw new Error(`${dir} is not a causal LM`);
    const values = await readWeightsFloat32(snapshot);
    await snapshot.checkpoint.close();
    const graph = new Graph("toy-llava-forward");
    const built = arch.build(
      graph,
      snapshot.config,
      snapshotWeights(graph, snapshot, values),
      new Set(values.keys()),
    );
    const forward = compile(buildForwardGraph(built, true));
    return new ToyLlava(
      loadTokenizer(dir),
      runtime,
      forward,
      built.vision!.imageTokenId,
      built.vision!.tokensPerImage,
      built.decoder.config.vocabSize,
    );
  }

  /** Prompt ids: the chat template with the image token expanded to tokensPerImage copies. */
  promptIds(q: VisualQuestion): number[] {
    const content = q.image
      ? [{ type: "image" as const }, { type: "text" as const, text: q.question }]
      : q.question;
    const messages = [
      ...(q.system ? [{ role: "system" as const, content: q.system }] : []),
      { role: "user" as const, content },
    ];
    const text = this.tok.renderChat(messages, { addGenerationPrompt: true });
    return this.tok
      .encode(text)
      .flatMap((id) => (id === this.imageTokenId ? new Array<number>(this.tokensPerImage).fill(id) : [id]));
  }

  /**
   * Logits at the last position of each prompt row ([B][vocab]); rows are right-padded (causal attention
   * keeps padding out of every real position). Every row must have an image.
   */
  async lastLogits(rows: readonly number[][], images: readonly RgbImage[]): Promise<Float32Array[]> {
    const B = rows.length;
    const T = Math.max(...rows.map((r) => r.length));
    const ids = new BigInt64Array(B * T).fill(BigInt(this.tok.padId ?? 0));
    const imagePositions: bigint[] = [];
    rows.forEach((r, b) => {
      r.forEach((id, t) => {
        ids[b * T + t] = BigInt(id);
        if (id === this.imageTokenId) imagePositions.push(BigInt(b * T + t));
      });
    });
    const feeds: Record<string, ort.Tensor> = {
      input_ids: ortTensor("int64", ids, [B, T]),
      position_ids: ortTensor("int64", positionIds(B, T), [B, T]),
      attention_bias: ortTensor("float32", causalBias(B, T), [B, 1, T, T]),
      pixel_values: ortTensor("float32", pixelValues(images), [images.length, 3, 64, 64]),
      image_positions: ortTensor("int64", BigInt64Array.from(imagePositions), [imagePositions.length]),
    };
    const out = await this.runtime.run(this.model, feeds);
    const logits = out.logits!.data as Float32Array;
    const V = this.vocabSize;
    return rows.map((r, b) => logits.slice((b * T + r.length - 1) * V, (b * T + r.length) * V));
  }

  /** Greedy answers to image questions, batched, stopping at </s> (or after maxNewTokens). */
  async answer(questions: readonly VisualQuestion[], maxNewTokens = 8): Promise<string[]> {
    const images = questions.map((q) => {
      if (!q.image) throw new Error("answer: every question needs an image");
      return q.image;
    });
    const rows = questions.map((q) => this.promptIds(q));
    const generated: number[][] = questions.map(() => []);
    const done = questions.map(() => false);
    const eos = this.tok.eosId;
    for (let step = 0; step < maxNewTokens && done.some((d) => !d); step++) {
      const logits = await this.lastLogits(rows, images);
      logits.forEach((l, b) => {
        if (done[b]) return;
        let best = 0;
        for (let v = 1; v < l.length; v++) if (l[v]! > l[best]!) best = v;
        if (best === eos) done[b] = true;
        else {
          generated[b]!.push(best);
          rows[b]!.push(best);
        }
      });
    }
    return generated.map((ids) => this.tok.decode(ids, { skipSpecialTokens: true }));
  }
}
