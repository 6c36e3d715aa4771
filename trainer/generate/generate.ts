// The generation loop on the frozen decoder: prefill (optionally only the suffix after a cached prefix),
// then one-token decode steps with sampling, stop token ids, stop strings, streaming and cancellation.
//
// Extra output classes (a concept's identifier, which Yo'LLaVA adds to the vocabulary as a new token with
// its own lm_head row) extend every step's logits to [hidden . lm_head^T ; hidden . output_e] over the
// final-norm hidden state the lm_head reads, exactly as trainer/personalize/concept-graph.ts trains the
// row (no scaling). Sampling runs over the extended row; a sampled class emits its text and feeds its
// input row as the next embedding.

import type { CachedDecoder } from "./decoder";
import type { EmbeddingTable } from "./embeddings";
import type { KvCache } from "./kv-cache";
import type { PrefixCache, PrefixEntry } from "./prefix-cache";
import { type SamplingOptions, SeededRandom, sampleToken } from "./sampling";
import { StopStringMatcher } from "./stop-strings";

/** An output class beyond the vocabulary: id V + e for `extraClasses[e]` (V: the decoder's vocab size). */
export interface ExtraClass {
  /** What the answer says when the class is sampled (the concept's name, e.g. "<bo>"). */
  text: string;
  /** [H] its lm_head row: logit = final-norm hidden . output. */
  output: Float32Array;
  /** [H] the input embedding that follows it (the concept's identifier input row). */
  input: Float32Array;
}

export interface GenerateRequest {
  /** Prompt embeddings [T * hidden] (see assembleEmbeddings). */
  prompt: Float32Array;
  /**
   * The first `length` prompt rows are a prefix shared across requests (system prompt, concept rows),
   * identified by `key` (e.g. contentKey of its ids and spliced rows): its keys/values come from the
   * prefix cache when present, and are stored there otherwise.
   */
  prefix?: { length: number; key: string };
  maxNewTokens: number;
  sampling?: SamplingOptions;
  /** Generation ends after one of these ids (the id is part of `tokenIds`, not of `text`). */
  stopTokenIds?: readonly number[];
  /** Generation ends when the decoded text contains one of these; `text` is cut before it. Needs decode. */
  stopStrings?: readonly string[];
  /**
   * Extra output classes sampled with the vocabulary (ids V + e in `tokenIds`, one token each). Absent or
   * empty: the vocabulary alone, the same arithmetic as without them.
   */
  extraClasses?: readonly ExtraClass[];
  /**
   * Token ids -> text (the tokenizer's decode, vocabulary ids only); enables `text`, text deltas and stop
   * strings. Extra classes write their `text` in between (see decodeWithExtraClasses).
   */
  decode?: (ids: readonly number[]) => string;
  /** Called once per generated token, with the text that became final with it (may be ""). */
  onToken?: (event: TokenEvent) => void;
  signal?: AbortSignal;
}

export interface TokenEvent {
  /** A vocabulary id, or V + e for extra class e. */
  tokenId: number;
  index: number;
  textDelta: string;
}

/** "context_length": the next token would need a position beyond max_position_embeddings. */
export type FinishReason = "stop_token" | "stop_string" | "max_tokens" | "context_length" | "aborted";

export interface GenerateResult {
  /** Vocabulary ids, and V + e where extra class e was sampled. */
  tokenIds: number[];
  /** Decoded output (stop token and stop string excluded), when `decode` was given. */
  text?: string;
  finishReason: FinishReason;
  promptPositions: number;
  /** Prompt positions served from the prefix cache. */
  cachedPrefixPositions: number;
  prefillMs: number;
  decodeMs: number;
}

export interface GenerationContext {
  decoder: CachedDecoder;
  embeddings: EmbeddingTable;
  prefixCache?: PrefixCache;
}

/**
 * The keys/values of a shared prefix ([n * hidden] embeddings) and the logits after it: from the prefix
 * cache under `key` when present, else computed and stored there. A miss and a hit hand out the same
 * entry, so callers run identical arithmetic either way.
 */
export async function prefixState(
  context: Pick<GenerationContext, "decoder" | "prefixCache">,
  prefix: Float32Array,
  key: string,
): Promise<{ entry: PrefixEntry; hit: boolean }> {
  const { decoder, prefixCache } = context;
  const length = prefix.length / decoder.config.hiddenSize;
  if (!Number.isInteger(length) || length === 0)
    throw new Error(`prefix of ${prefix.length} values is not whole rows`);
  const cached = prefixCache?.get(decoder.modelId, key);
  if (cached && cached.cache.length === length) return { entry: cached, hit: true };
  const cache = decoder.newCache(1, length);
  const { logits: lastLogits, hidden: lastHidden } = await decoder.stepOutputs(cache, {
    embeds: prefix,
    seq: length,
    logitsAt: [length - 1],
  });
  const entry = { cache, lastLogits, lastHidden };
  prefixCache?.set(decoder.modelId, key, entry);
  return { entry, hit: false };
}

/**
 * Prefills `prompt` (reusing or storing a cached prefix) and returns the cache, the next logits and the
 * final-norm hidden state they came from.
 */
export async function prefill(
  context: GenerationContext,
  prompt: Float32Array,
  prefix: GenerateRequest["prefix"],
  extraCapacity: number,
): Promise<{ cache: KvCache; logits: Float32Array; hidden: Float32Array; cachedPositions: number }> {
  const { decoder } = context;
  const h = decoder.config.hiddenSize;
  const total = prompt.length / h;
  if (!Number.isInteger(total) || total === 0)
    throw new Error(`prompt of ${prompt.length} values is not whole rows of ${h}`);
  let cache: KvCache;
  let logits: Float32Array | undefined;
  let hidden: Float32Array | undefined;
  let cachedPositions = 0;
  let done = 0;
  if (prefix && prefix.length > 0) {
    if (prefix.length > total)
      throw new RangeError(`prefix of ${prefix.length} rows in a ${total}-row prompt`);
    const { entry, hit } = await prefixState(context, prompt.subarray(0, prefix.length * h), prefix.key);
    cache = entry.cache.broadcast(1, total - prefix.length + extraCapacity);
    logits = entry.lastLogits;
    hidden = entry.lastHidden;
    cachedPositions = hit ? prefix.length : 0;
    done = prefix.length;
  } else {
    cache = decoder.newCache(1, total + extraCapacity);
  }
  if (done < total) {
    ({ logits, hidden } = await decoder.stepOutputs(cache, {
      embeds: prompt.subarray(done * h),
      seq: total - done,
      logitsAt: [total - done - 1],
    }));
  }
  return { cache, logits: logits!, hidden: hidden!, cachedPositions };
}

/** [logits ; hidden . output_e for each extra class]: the row sampling draws from. */
export function extendLogits(
  logits: Float32Array,
  hidden: Float32Array,
  extraClasses: readonly ExtraClass[],
): Float32Array {
  const v = logits.length;
  const out = new Float32Array(v + extraClasses.length);
  out.set(logits);
  extraClasses.forEach((c, e) => {
    let dot = 0;
    for (let j = 0; j < hidden.length; j++) dot += hidden[j]! * c.output[j]!;
    out[v + e] = dot;
  });
  return out;
}

/**
 * The text of ids with extra classes (id >= vocabSize) written as their `text`. Without extra classes
 * this is decode(ids). A run of vocabulary ids after a class is decoded as the continuation of the ids
 * before it (decode(context + run) minus decode(context)), as a tokenizer decoding the whole sequence with
 * the class as an added token would: SentencePiece's "▁is" after "<bo>" is " is", not "is" (Llama's decoder
 * strips the leading space of a whole decode only). With no vocabulary id before, the run's own first id
 * is the context.
 */
export function decodeWithExtraClasses(
  ids: readonly number[],
  vocabSize: number,
  extraClasses: readonly ExtraClass[],
  decode: (ids: readonly number[]) => string,
): string {
  if (!ids.some((id) => id >= vocabSize)) return decode(ids);
  let text = "";
  const before: number[] = [];
  let i = 0;
  while (i < ids.length) {
    const id = ids[i]!;
    if (id >= vocabSize) {
      const extra = extraClasses[id - vocabSize];
      if (!extra) throw new RangeError(`id ${id}: no extra class ${id - vocabSize}`);
      text += extra.text;
      i++;
      continue;
    }
    let j = i;
    while (j < ids.length && ids[j]! < vocabSize) j++;
    const run = ids.slice(i, j);
    if (i === 0) text += decode(run);
    else {
      const context = before.length > 0 ? before : run.slice(0, 1);
      const head = decode(context);
      const joined = decode([...context, ...run]);
      text += joined.startsWith(head) ? joined.slice(head.length) : decode(run);
    }
    before.push(...run);
    i = j;
  }
  return text;
}

export async function generate(
  context: GenerationContext,
  request: GenerateRequest,
): Promise<GenerateResult> {
  const { decoder, embeddings } = context;
  const { hiddenSize: h, vocabSize } = decoder.config;
  const extras = request.extraClasses ?? [];
  extras.forEach((c, e) => {
    if (c.output.length !== h || c.input.length !== h)
      throw new Error(`extra class ${e}: rows of ${c.output.length} / ${c.input.length} values, not ${h}`);
  });
  const decode = request.decode;
  const textOf = decode
    ? (ids: readonly number[]) => decodeWithExtraClasses(ids, vocabSize, extras, decode)
    : undefined;
  const stops = new Set(request.stopTokenIds ?? []);
  const stopStrings = request.stopStrings ?? [];
  if (stopStrings.length > 0 && !request.decode) throw new Error("stop strings need a decode callback");
  const matcher = new StopStringMatcher(stopStrings);
  const random = new SeededRandom(request.sampling?.seed ?? 0);
  const sampling = request.sampling ?? {};
  const tokenIds: number[] = [];
  let text = "";
  let finishReason: FinishReason = "max_tokens";
  const aborted = () => request.signal?.aborted === true;

  const started = performance.now();
  if (aborted()) return finish("aborted", 0, 0);
  const {
    cache,
    logits: first,
    hidden: firstHidden,
    cachedPositions,
  } = await prefill(context, request.prompt, request.prefix, request.maxNewTokens);
  const prefillMs = performance.now() - started;
  let logits = extras.length > 0 ? extendLogits(first, firstHidden, extras) : first;
  const decodeStart = performance.now();
  for (let index = 0; index < request.maxNewTokens; index++) {
    if (aborted()) {
      finishReason = "aborted";
      break;
    }
    const tokenId = sampleToken(logits, sampling, random);
    tokenIds.push(tokenId);
    const isStopToken = stops.has(tokenId);
    let textDelta = "";
    if (textOf) {
      const produced = isStopToken ? tokenIds.slice(0, -1) : tokenIds;
      const update = matcher.update(textOf(produced), isStopToken);
      textDelta = update.delta;
      text += textDelta;
      if (update.stoppedAt !== undefined) finishReason = "stop_string";
    }
    request.onToken?.({ tokenId, index, textDelta });
    if (isStopToken) finishReason = "stop_token";
    if (finishReason !== "max_tokens" || index === request.maxNewTokens - 1) break;
    if (cache.nextPosition[0]! >= decoder.config.maxPositionEmbeddings) {
      finishReason = "context_length";
      break;
    }
    const row =
      tokenId >= vocabSize ? extras[tokenId - vocabSize]!.input : await embeddings.lookup([tokenId]);
    if (extras.length > 0) {
      const out = await decoder.stepOutputs(cache, { embeds: row, seq: 1, logitsAt: [0] });
      logits = extendLogits(out.logits, out.hidden, extras);
    } else logits = await decoder.step(cache, { embeds: row, seq: 1, logitsAt: [0] });
  }
  if (textOf && (finishReason === "max_tokens" || finishReason === "context_length")) {
    // Release what was held back as a possible stop-string start.
    const tail = matcher.update(textOf(tokenIds), true).delta;
    text += tail;
    if (tail) request.onToken?.({ tokenId: tokenIds.at(-1)!, index: tokenIds.length - 1, textDelta: tail });
  }
  return finish(finishReason, prefillMs, performance.now() - decodeStart, cachedPositions);

  function finish(reason: FinishReason, prefillTime: number, decodeTime: number, cached = 0): GenerateResult {
    return {
      tokenIds,
      ...(request.decode ? { text } : {}),
      finishReason: reason,
      promptPositions: request.prompt.length / decoder.config.hiddenSize,
      cachedPrefixPositions: cached,
      prefillMs: prefillTime,
      decodeMs: decodeTime,
    };
  }
}
