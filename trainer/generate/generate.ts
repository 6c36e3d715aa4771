// The generation loop on the frozen decoder: prefill (optionally only the suffix after a cached prefix),
// then one-token decode steps with sampling, stop token ids, stop strings, streaming and cancellation.

import type { CachedDecoder } from "./decoder";
import type { EmbeddingTable } from "./embeddings";
import type { KvCache } from "./kv-cache";
import type { PrefixCache, PrefixEntry } from "./prefix-cache";
import { type SamplingOptions, SeededRandom, sampleToken } from "./sampling";
import { StopStringMatcher } from "./stop-strings";

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
  /** Token ids -> text (the tokenizer's decode); enables `text`, text deltas and stop strings. */
  decode?: (ids: readonly number[]) => string;
  /** Called once per generated token, with the text that became final with it (may be ""). */
  onToken?: (event: TokenEvent) => void;
  signal?: AbortSignal;
}

export interface TokenEvent {
  tokenId: number;
  index: number;
  textDelta: string;
}

/** "context_length": the next token would need a position beyond max_position_embeddings. */
export type FinishReason = "stop_token" | "stop_string" | "max_tokens" | "context_length" | "aborted";

export interface GenerateResult {
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
  const lastLogits = await decoder.step(cache, { embeds: prefix, seq: length, logitsAt: [length - 1] });
  const entry = { cache, lastLogits };
  prefixCache?.set(decoder.modelId, key, entry);
  return { entry, hit: false };
}

/** Prefills `prompt` (reusing or storing a cached prefix) and returns the cache and the next logits. */
export async function prefill(
  context: GenerationContext,
  prompt: Float32Array,
  prefix: GenerateRequest["prefix"],
  extraCapacity: number,
): Promise<{ cache: KvCache; logits: Float32Array; cachedPositions: number }> {
  const { decoder } = context;
  const h = decoder.config.hiddenSize;
  const total = prompt.length / h;
  if (!Number.isInteger(total) || total === 0)
    throw new Error(`prompt of ${prompt.length} values is not whole rows of ${h}`);
  let cache: KvCache;
  let logits: Float32Array | undefined;
  let cachedPositions = 0;
  let done = 0;
  if (prefix && prefix.length > 0) {
    if (prefix.length > total)
      throw new RangeError(`prefix of ${prefix.length} rows in a ${total}-row prompt`);
    const { entry, hit } = await prefixState(context, prompt.subarray(0, prefix.length * h), prefix.key);
    cache = entry.cache.broadcast(1, total - prefix.length + extraCapacity);
    logits = entry.lastLogits;
    cachedPositions = hit ? prefix.length : 0;
    done = prefix.length;
  } else {
    cache = decoder.newCache(1, total + extraCapacity);
  }
  if (done < total) {
    logits = await decoder.step(cache, {
      embeds: prompt.subarray(done * h),
      seq: total - done,
      logitsAt: [total - done - 1],
    });
  }
  return { cache, logits: logits!, cachedPositions };
}

export async function generate(
  context: GenerationContext,
  request: GenerateRequest,
): Promise<GenerateResult> {
  const { decoder, embeddings } = context;
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
    cachedPositions,
  } = await prefill(context, request.prompt, request.prefix, request.maxNewTokens);
  const prefillMs = performance.now() - started;
  let logits = first;
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
    if (request.decode) {
      const produced = isStopToken ? tokenIds.slice(0, -1) : tokenIds;
      const update = matcher.update(request.decode(produced), isStopToken);
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
    const row = await embeddings.lookup([tokenId]);
    logits = await decoder.step(cache, { embeds: row, seq: 1, logitsAt: [0] });
  }
  if (request.decode && (finishReason === "max_tokens" || finishReason === "context_length")) {
    // Release what was held back as a possible stop-string start.
    const tail = matcher.update(request.decode(tokenIds), true).delta;
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
