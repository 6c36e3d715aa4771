// Token rows for the LLaVA stages, in the chat template's layout:
//   <s> USER: question <image>x65 ASSISTANT: answer </s> USER: ... ASSISTANT: ... </s>
// Only assistant tokens (and their </s>) are targets. Rows are drawn from a deterministic stream and
// grouped into a few bucket lengths so that every batch has one of a handful of shapes.

import type { TextTokenizer } from "../../text/tokenizer";
import type { RgbImage } from "../../vision/image";
import { composeScene } from "../compose";
import { detailedDescription } from "../language/descriptions";
import { Random } from "../random";
import { captionRecord, IMAGE_TOKEN, instructionRecord, VQA_CYCLE, vqaItem } from "../records";
import { renderScene } from "../render";
import { SPLITS } from "../splits";
import { recognitionItem } from "./recognition-data";
import { objectPatches, patchGrid, recognitionQuad } from "./recognition-quads";
import { TOKEN_IDS } from "./tokenizer";

export interface ChatTurn {
  user: string;
  assistant: string;
}

export interface TrainingRow {
  ids: number[];
  /** Whether ids[t] is predicted (assistant text and its </s>). */
  isTarget: boolean[];
  /** Index of the row's image in the rendered training scenes, when it has one. */
  scene?: number;
  /** The row's own picture, when it is not a training scene (recognition quads render theirs). */
  image?: RgbImage;
  /** Image tokens (0 = CLS) the answer should attend to, [] for <s> (attention-target.ts). */
  attentionTargets?: number[];
}

/** Whether a row has a picture: a training scene's or its own. */
export function hasImage(row: TrainingRow): boolean {
  return row.scene !== undefined || row.image !== undefined;
}

/**
 * Row kinds. `recognition_quad` draws a crossed quad on a fresh training seed (recognition-quads.ts) and
 * yields its four rows in a row, each with its own picture and attention targets; `identity_quad` is the
 * same with every attribute named and B a concept-style hard negative of A (QuadNaming "identity").
 * `vqa_located` is a `vqa` row that also carries attention targets: the patches of the objects its answer
 * is read from ("What colour is the star?": the star's), or <s> for a count of zero.
 */
export type RowKind =
  | "vqa"
  | "vqa_located"
  | "recognition"
  | "recognition_quad"
  | "identity_quad"
  | "instruction"
  | "caption"
  | "text";

/** Share of each kind of row in a stage's stream. */
export type RowMix = Partial<Record<RowKind, number>>;

/** Relative weight of each kind of short VQA question in `vqa` and `vqa_located` rows. */
export type VqaKindWeights = Partial<Record<(typeof VQA_CYCLE)[number], number>>;

export class RowEncoder {
  private readonly cache = new Map<string, number[]>();

  constructor(
    private readonly tok: TextTokenizer,
    readonly tokensPerImage: number,
  ) {}

  private encode(text: string): number[] {
    let ids = this.cache.get(text);
    if (!ids) {
      ids = this.tok.encode(text, { addSpecialTokens: false });
      if (this.cache.size < 50_000) this.cache.set(text, ids);
    }
    return ids;
  }

  /**
   * The row for `turns`; the first user text may start with "<image>\n" (then `scene` must be given, or
   * `description`, a text that stands where the image tokens would be: language pretraining).
   */
  row(turns: readonly ChatTurn[], scene?: number, description?: string): TrainingRow {
    const ids: number[] = [TOKEN_IDS.bos];
    const isTarget: boolean[] = [false];
    const push = (part: readonly number[], target: boolean) => {
      for (const id of part) {
        ids.push(id);
        isTarget.push(target);
      }
    };
    turns.forEach((turn, i) => {
      push(this.encode("USER:"), false);
      const withImage = i === 0 && turn.user.startsWith(IMAGE_TOKEN);
      // The template's order: question first, then the image (see CHAT_TEMPLATE).
      push(this.encode(withImage ? turn.user.slice(IMAGE_TOKEN.length) : turn.user), false);
      if (withImage && description !== undefined) push(this.encode(description), false);
      else if (withImage) {
        if (scene === undefined) throw new Error("an image turn needs a scene");
        push(new Array<number>(this.tokensPerImage).fill(TOKEN_IDS.image), false);
      }
      push(this.encode("ASSISTANT:"), false);
      push([...this.encode(turn.assistant), TOKEN_IDS.eos], true);
    });
    return { ids, isTarget, scene };
  }

  /** The longest prefix of whole turns that fits `maxLength`, or undefined when not even one does. */
  fitted(
    turns: readonly ChatTurn[],
    maxLength: number,
    scene?: number,
    description?: string,
  ): TrainingRow | undefined {
    for (let n = turns.length; n > 0; n--) {
      const row = this.row(turns.slice(0, n), scene, description);
      if (row.ids.length <= maxLength) return row;
    }
    return undefined;
  }
}

function pairs(conversations: readonly { from: string; value: string }[]): ChatTurn[] {
  const out: ChatTurn[] = [];
  for (let i = 0; i + 1 < conversations.length; i += 2) {
    out.push({ user: conversations[i]!.value, assistant: conversations[i + 1]!.value });
  }
  return out;
}

/** An endless deterministic stream of rows over the training scenes (`seeds[k]` renders scene k). */
export function* rowStream(options: {
  encoder: RowEncoder;
  seeds: readonly number[];
  /** Indices into `seeds` the image rows draw from (default all). */
  sceneIndices?: readonly number[];
  mix: RowMix;
  maxLength: number;
  seed: number;
  /**
   * Language pretraining: the scene's detailed description stands where the image would be, so the LLM
   * learns the world's language and to answer from what its context says before it ever sees pixels.
   */
  imageAsText?: boolean;
  /** Side of the pictures rows render themselves (recognition quads); the training scenes' size. */
  imageSize?: number;
  /** Relative weight of each kind of short VQA question (default: all kinds equally often). */
  vqaKindWeights?: VqaKindWeights;
}): Generator<TrainingRow> {
  const { encoder, seeds, mix } = options;
  const describe = (seed: number) =>
    options.imageAsText
      ? detailedDescription(composeScene({ seed }), new Random(seed, "train:describe"))
      : undefined;
  const fitted = (turns: readonly ChatTurn[], k: number) =>
    encoder.fitted(turns, options.maxLength, options.imageAsText ? undefined : k, describe(seeds[k]!));
  const rng = new Random(options.seed, "llava:rows");
  // Without weights every kind is equally likely (a plain pick keeps older stages' streams as they were).
  const vqaKind = () => (options.vqaKindWeights ? rng.weighted(options.vqaKindWeights) : rng.pick(VQA_CYCLE));
  for (;;) {
    const kind = rng.weighted(mix);
    const k = options.sceneIndices ? rng.pick(options.sceneIndices) : rng.int(seeds.length);
    const seed = seeds[k]!;
    let row: TrainingRow | undefined;
    if (kind === "recognition_quad" || kind === "identity_quad") {
      // A fresh train-split seed per quad (the rendered training scenes are not used): the match is
      // learned on pictures it has not seen before.
      const quad = recognitionQuad(SPLITS.train.start + rng.int(SPLITS.train.end - SPLITS.train.start), {
        grid: patchGrid(encoder.tokensPerImage),
        naming: kind === "identity_quad" ? "identity" : "partial",
      });
      const images = quad.scenes.map((scene) => renderScene(scene, { size: options.imageSize ?? 64 }));
      for (const item of quad.items) {
        // The scene index only says "this row has an image"; the row carries the picture itself.
        const fitted = encoder.fitted(
          [{ user: `${IMAGE_TOKEN}\n${item.question}`, assistant: item.answer }],
          options.maxLength,
          0,
        );
        if (fitted)
          yield {
            ids: fitted.ids,
            isTarget: fitted.isTarget,
            image: images[item.scene],
            attentionTargets: item.attentionTargets,
          };
      }
      continue;
    }
    if (kind === "vqa" || kind === "vqa_located") {
      const item = vqaItem(seed, vqaKind());
      row = fitted([{ user: `${IMAGE_TOKEN}\n${item.prompt}`, assistant: item.answer }], k);
      if (row && kind === "vqa_located") {
        const about = new Set(item.about);
        const objects = composeScene(item.recipe).objects.filter((o) => about.has(o.id));
        row.attentionTargets = objectPatches(objects, patchGrid(encoder.tokensPerImage));
      }
    } else if (kind === "recognition") {
      const item = recognitionItem(seed);
      const question = rng.chance(0.5) ? `${item.question} Answer yes or no.` : item.question;
      row = fitted([{ user: `${IMAGE_TOKEN}\n${question}`, assistant: item.answer }], k);
    } else if (kind === "instruction") {
      const record = instructionRecord(seed, rng.pick(["conversation", "detail", "reasoning"] as const));
      row = fitted(pairs(record.conversations), k);
    } else if (kind === "caption") {
      row = fitted(pairs(captionRecord(seed).conversations), k);
    } else {
      // Text-only: world facts, drawn by a training seed of their own.
      row = encoder.fitted(pairs(instructionRecord(seed, "text").conversations), options.maxLength);
    }
    if (row) yield row;
  }
}

/** Groups rows by bucket length; a batch is the first bucket to collect `batchSize` rows. */
export class BucketedBatches {
  private readonly queues: TrainingRow[][];

  constructor(
    private readonly rows: Iterator<TrainingRow>,
    readonly buckets: readonly number[],
    readonly batchSize: number,
    /** Image stages need one image per batch at least (pixel_values must not be empty). */
    readonly requireImage = true,
  ) {
    this.queues = buckets.map(() => []);
  }

  next(): { rows: TrainingRow[]; length: number } {
    for (;;) {
      const row = this.rows.next().value as TrainingRow;
      const b = this.buckets.findIndex((len) => len >= row.ids.length);
      if (b < 0) continue;
      const queue = this.queues[b]!;
      queue.push(row);
      if (queue.length >= this.batchSize && (!this.requireImage || queue.some(hasImage))) {
        this.queues[b] = [];
        return { rows: queue.slice(0, this.batchSize), length: this.buckets[b]! };
      }
    }
  }
}
