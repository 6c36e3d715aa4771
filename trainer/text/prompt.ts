// Prompt rendering for the node: turns of segments (text | image | concept) -> token ids plus the positions
// where image features and concept rows are spliced into the input embeddings.
//
// The segments are the node-side form of shared/prompt-plan.ts's `Segment`: text as is, an image by its
// order in the prompt, a concept already resolved to its number of embedding rows (the serve layer decodes
// the artifact). `batch_image` segments become `image` before rendering.
//
// How it stays equal to transformers and safe:
// 1. The checkpoint's chat template is rendered with a private-use sentinel in place of every text and
//    concept segment; the template's own output (role markers, <image>, <end_of_utterance>) is trusted.
// 2. Each image token the template wrote is replaced by the processor's expansion (LLaVA: the image token
//    N times; Idefics3: tiles with row/col markers and a global image), as HF processors do on the string.
// 3. The whole string is tokenized at once, as HF does, except that added tokens are only recognised inside
//    trusted text and concepts split the text like an added token would. User text therefore tokenizes
//    exactly as in HF when it holds no special strings, and can never produce a control token when it does.
// Templates that transform message text (e.g. `| trim`) see the sentinel, not the text; LLaVA and SmolVLM
// templates do not.

import type { ConceptSegment, ImageRef, Turn } from "../../shared/prompt-plan";
import type { ChatContentPart, ChatMessage } from "./chat-template";
import type { TextTokenizer } from "./tokenizer";

export type PromptSegment =
  | { type: "text"; text: string }
  | { type: "image" }
  | { type: "concept"; concept: string; rows: number };

export interface PromptTurn {
  role: "system" | "user" | "assistant";
  segments: PromptSegment[];
}

export interface PromptRenderOptions {
  addGenerationPrompt?: boolean;
  /** Add the tokenizer's BOS/EOS as `tokenizer(text)` does in HF processors (default true). */
  addSpecialTokens?: boolean;
  /** The image token string the template writes, e.g. "<image>". */
  imageToken: string;
  /** Trusted replacement for the k-th image's token (default: the token itself, once). */
  expandImage?: (imageIndex: number) => string;
}

export interface ConceptPlacement {
  concept: string;
  turn: number;
  segment: number;
  /** First position of the concept's rows in `ids`; rows occupy [start, start + rows). */
  start: number;
  rows: number;
}

export interface RenderedPrompt {
  ids: number[];
  /** The rendered string after image expansion, concepts shown as their sentinel-free name in brackets. */
  text: string;
  /** Per image, in prompt order: the positions of its image tokens (features are written there in order). */
  images: { positions: number[] }[];
  concepts: ConceptPlacement[];
}

/**
 * A prompt plan's turns (shared/prompt-plan.ts) as renderer turns: concepts become their row count (the
 * caller decodes the artifact), `batch_image` becomes an image. `images` lists, in prompt order, what each
 * image slot shows: an inline/R2 reference, or "batch" for the recognize batch's current photo.
 */
export function promptTurnsFromPlan(
  turns: Turn[],
  conceptRows: (segment: ConceptSegment) => number,
): { turns: PromptTurn[]; images: (ImageRef | "batch")[] } {
  const images: (ImageRef | "batch")[] = [];
  const out = turns.map((turn) => ({
    role: turn.role,
    segments: turn.segments.map((segment): PromptSegment => {
      if (segment.type === "text") return { type: "text", text: segment.text };
      if (segment.type === "concept")
        return { type: "concept", concept: segment.concept, rows: conceptRows(segment) };
      images.push(segment.type === "image" ? segment.image : "batch");
      return { type: "image" };
    }),
  }));
  return { turns: out, images };
}

export class PromptRenderError extends Error {
  override name = "PromptRenderError";
}

const SENTINEL_OPEN = "\uE000";
const SENTINEL_CLOSE = "\uE001";
const SENTINEL_PATTERN = /\uE000(\d+)\uE001/g;

type Chunk =
  | { kind: "text"; text: string; trusted: boolean; image?: number }
  | { kind: "concept"; index: number };

type Unit =
  | { kind: "run"; text: string }
  | { kind: "token"; id: number; image?: number }
  | { kind: "concept"; index: number };

export function renderPrompt(
  tok: TextTokenizer,
  turns: PromptTurn[],
  options: PromptRenderOptions,
): RenderedPrompt {
  if (tok.chatTemplate === null) throw new PromptRenderError("checkpoint has no chat template");
  const imageTokenId = tok.addedTokens.get(options.imageToken);
  if (imageTokenId === undefined) throw new PromptRenderError(`${options.imageToken} is not an added token`);

  // 1. Template over sentinels.
  const slots: { segment: PromptSegment; turn: number; index: number }[] = [];
  let imageCount = 0;
  const messages: ChatMessage[] = turns.map((turn, t) => {
    const parts: ChatContentPart[] = [];
    turn.segments.forEach((segment, s) => {
      if (segment.type === "image") {
        parts.push({ type: "image" });
        imageCount++;
        return;
      }
      const sentinel = `${SENTINEL_OPEN}${slots.length}${SENTINEL_CLOSE}`;
      slots.push({ segment, turn: t, index: s });
      const last = parts.at(-1);
      if (last?.type === "text") last.text += sentinel;
      else parts.push({ type: "text", text: sentinel });
    });
    return { role: turn.role, content: parts };
  });
  const rendered = tok.chatTemplate.render(messages, {
    addGenerationPrompt: options.addGenerationPrompt ?? false,
  });

  // 2. Chunks: trusted template text (images expanded), untrusted user text, concepts.
  const chunks: Chunk[] = [];
  let nextImage = 0;
  const pushTrusted = (text: string) => {
    const pieces = text.split(options.imageToken);
    pieces.forEach((piece, i) => {
      if (i > 0) {
        const image = nextImage++;
        const expansion = options.expandImage ? options.expandImage(image) : options.imageToken;
        chunks.push({ kind: "text", text: expansion, trusted: true, image });
      }
      if (piece.length > 0) chunks.push({ kind: "text", text: piece, trusted: true });
    });
  };
  let cursor = 0;
  const seen = new Set<number>();
  for (const match of rendered.matchAll(SENTINEL_PATTERN)) {
    pushTrusted(rendered.slice(cursor, match.index));
    const slotIndex = Number(match[1]);
    const slot = slots[slotIndex];
    if (slot === undefined || seen.has(slotIndex))
      throw new PromptRenderError("template repeated or invented a segment");
    seen.add(slotIndex);
    if (slot.segment.type === "text") chunks.push({ kind: "text", text: slot.segment.text, trusted: false });
    else chunks.push({ kind: "concept", index: slotIndex });
    cursor = match.index + match[0].length;
  }
  pushTrusted(rendered.slice(cursor));
  if (seen.size !== slots.length)
    throw new PromptRenderError("chat template dropped a text or concept segment");
  if (nextImage !== imageCount) {
    throw new PromptRenderError(`chat template wrote ${nextImage} image tokens for ${imageCount} images`);
  }

  // 3. Units: added tokens (trusted text only), concepts, and maximal runs of plain text between them.
  const units: Unit[] = [];
  let run = "";
  const flush = () => {
    if (run.length > 0) units.push({ kind: "run", text: run });
    run = "";
  };
  for (const chunk of chunks) {
    if (chunk.kind === "concept") {
      flush();
      units.push({ kind: "concept", index: chunk.index });
      continue;
    }
    if (!chunk.trusted) {
      run += chunk.text;
      continue;
    }
    let at = 0;
    for (const m of tok.findAddedTokens(chunk.text)) {
      run += chunk.text.slice(at, m.start);
      flush();
      const image = chunk.image !== undefined && m.id === imageTokenId ? chunk.image : undefined;
      units.push(image === undefined ? { kind: "token", id: m.id } : { kind: "token", id: m.id, image });
      at = m.end;
    }
    run += chunk.text.slice(at);
  }
  flush();

  // 4. Ids.
  const addSpecial = options.addSpecialTokens ?? true;
  const { prefix, suffix } = addSpecial ? specialAffixes(tok) : { prefix: [], suffix: [] };
  const ids = [...prefix];
  const images: { positions: number[] }[] = Array.from({ length: imageCount }, () => ({ positions: [] }));
  const concepts: ConceptPlacement[] = [];
  const placeholder = tok.padId ?? tok.unkId ?? 0;
  units.forEach((unit, sectionIndex) => {
    if (unit.kind === "run") ids.push(...tok.encodeUntrusted(unit.text, sectionIndex));
    else if (unit.kind === "token") {
      if (unit.image !== undefined) images[unit.image]!.positions.push(ids.length);
      ids.push(unit.id);
    } else {
      const slot = slots[unit.index]!;
      const segment = slot.segment as Extract<PromptSegment, { type: "concept" }>;
      if (!Number.isInteger(segment.rows) || segment.rows < 1)
        throw new PromptRenderError("concept rows must be >= 1");
      concepts.push({
        concept: segment.concept,
        turn: slot.turn,
        segment: slot.index,
        start: ids.length,
        rows: segment.rows,
      });
      for (let r = 0; r < segment.rows; r++) ids.push(placeholder);
    }
  });
  ids.push(...suffix);
  const text = chunks
    .map((c) =>
      c.kind === "text" ? c.text : `[${(slots[c.index]!.segment as { concept: string }).concept}]`,
    )
    .join("");
  return { ids, text, images, concepts };
}

/** What the post-processor adds around a single sequence (e.g. LLaVA's `<s>`; nothing for SmolVLM). */
export function specialAffixes(tok: TextTokenizer): { prefix: number[]; suffix: number[] } {
  const probe = "a";
  const bare = tok.encode(probe, { addSpecialTokens: false });
  const full = tok.encode(probe, { addSpecialTokens: true });
  for (let i = 0; i + bare.length <= full.length; i++) {
    if (bare.every((id, j) => full[i + j] === id)) {
      return { prefix: full.slice(0, i), suffix: full.slice(i + bare.length) };
    }
  }
  throw new PromptRenderError("cannot locate the post-processor's special tokens");
}
