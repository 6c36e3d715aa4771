// Scoring fixed candidate answers instead of generating: P("Yes") vs P("No") at the next position of one
// prefill (recognition), the same for several prompts of different lengths in one left-padded batch, and
// multi-token candidates by the sum of their tokens' log-probabilities in one batched pass.

import type { CachedDecoder } from "./decoder";
import type { EmbeddingTable } from "./embeddings";
import { prefixState } from "./generate";
import type { PrefixCache } from "./prefix-cache";
import { logSoftmax } from "./sampling";

export interface NextTokenScores {
  /** Raw logits of the candidate ids. */
  logits: number[];
  /** log P(candidate) under the full-vocabulary softmax. */
  logProbs: number[];
  /** Probabilities renormalized over the candidates only (softmax over their logits). */
  probs: number[];
}

export interface SequenceScores {
  /** Sum over each candidate's tokens of log P(token | prompt, earlier candidate tokens). */
  logProbs: number[];
  /** Softmax over the candidates' summed log-probabilities. */
  probs: number[];
}

function softmax(xs: readonly number[]): number[] {
  const max = Math.max(...xs);
  const e = xs.map((x) => Math.exp(x - max));
  const sum = e.reduce((a, b) => a + b, 0);
  return e.map((x) => x / sum);
}

function nextTokenScores(row: Float32Array, candidates: readonly number[]): NextTokenScores {
  const all = logSoftmax(row);
  const logits = candidates.map((c) => row[c]!);
  return { logits, logProbs: candidates.map((c) => all[c]!), probs: softmax(logits) };
}

function checkCandidates(candidates: readonly number[], vocab: number): void {
  if (candidates.length === 0) throw new Error("no candidates");
  for (const c of candidates) {
    if (!Number.isInteger(c) || c < 0 || c >= vocab)
      throw new RangeError(`candidate id ${c} outside [0, ${vocab})`);
  }
}

/** Next-token scores of `candidates` after one prompt ([T * hidden] embeddings), one prefill. */
export async function scoreNextToken(
  decoder: CachedDecoder,
  prompt: Float32Array,
  candidates: readonly number[],
): Promise<NextTokenScores> {
  return (await scoreNextTokenBatch(decoder, [prompt], candidates))[0]!;
}

/** A prefix shared by every row of a batch (system prompt + concept rows), optionally from a cache. */
export interface SharedPrefix {
  /** [n * hidden] */
  embeds: Float32Array;
  key: string;
  prefixCache?: PrefixCache;
}

/**
 * Next-token scores after each of several prompts of different lengths, in one pass: rows are left-padded
 * to the longest, padding is masked out of attention and each row's positions start at 0 at its first
 * real token, so every row scores as it would alone. With `prefix`, every row is prefix + prompt: the
 * prefix is prefilled once (or taken from the prefix cache) and broadcast to the rows; the padding then
 * sits between prefix and prompt, masked, and positions continue after the prefix.
 */
export async function scoreNextTokenBatch(
  decoder: CachedDecoder,
  prompts: readonly Float32Array[],
  candidates: readonly number[],
  prefix?: SharedPrefix,
): Promise<NextTokenScores[]> {
  const { hiddenSize: h, vocabSize: v } = decoder.config;
  checkCandidates(candidates, v);
  if (prompts.length === 0) return [];
  const lengths = prompts.map((p) => p.length / h);
  if (lengths.some((n) => !Number.isInteger(n) || n === 0))
    throw new Error("every prompt needs whole, non-zero rows");
  const batch = prompts.length;
  const seq = Math.max(...lengths);
  const embeds = new Float32Array(batch * seq * h);
  const real = new Uint8Array(batch * seq);
  prompts.forEach((p, b) => {
    const pad = seq - lengths[b]!;
    embeds.set(p, (b * seq + pad) * h);
    real.fill(1, b * seq + pad, (b + 1) * seq);
  });
  const cache = prefix
    ? (
        await prefixState({ decoder, prefixCache: prefix.prefixCache }, prefix.embeds, prefix.key)
      ).entry.cache.broadcast(batch, seq)
    : decoder.newCache(batch, seq);
  const logits = await decoder.step(cache, {
    embeds,
    seq,
    real,
    logitsAt: prompts.map((_, b) => b * seq + seq - 1),
  });
  return prompts.map((_, b) => nextTokenScores(logits.subarray(b * v, (b + 1) * v), candidates));
}

/**
 * Scores multi-token candidates after one prompt: one prefill of the prompt, then one batched pass with a
 * row per candidate over the shared prompt cache (rows right-padded; padding is masked).
 */
export async function scoreSequences(
  decoder: CachedDecoder,
  embeddings: EmbeddingTable,
  prompt: Float32Array,
  candidates: readonly (readonly number[])[],
): Promise<SequenceScores> {
  const { hiddenSize: h, vocabSize: v } = decoder.config;
  if (candidates.length === 0 || candidates.some((c) => c.length === 0)) throw new Error("empty candidate");
  for (const c of candidates) checkCandidates(c, v);
  const promptLength = prompt.length / h;
  const promptCache = decoder.newCache(1, promptLength);
  const last = await decoder.step(promptCache, {
    embeds: prompt,
    seq: promptLength,
    logitsAt: [promptLength - 1],
  });
  const first = logSoftmax(last);
  const logProbs = candidates.map((c) => first[c[0]!]!);
  // Tokens 0..n-2 of each candidate are fed; the logits after token j score token j+1.
  const seq = Math.max(...candidates.map((c) => c.length)) - 1;
  if (seq > 0) {
    const batch = candidates.length;
    const cache = promptCache.broadcast(batch, seq);
    const ids: number[] = [];
    const real = new Uint8Array(batch * seq);
    const logitsAt: number[] = [];
    const targets: { row: number; token: number }[] = [];
    candidates.forEach((c, b) => {
      for (let t = 0; t < seq; t++) {
        const fed = t < c.length - 1;
        ids.push(fed ? c[t]! : c[0]!); // padding rows hold any valid id; they are masked
        real[b * seq + t] = fed ? 1 : 0;
        if (fed) {
          logitsAt.push(b * seq + t);
          targets.push({ row: b, token: c[t + 1]! });
        }
      }
    });
    const logits = await decoder.step(cache, { embeds: await embeddings.lookup(ids), seq, real, logitsAt });
    targets.forEach(({ row, token }, i) => {
      const tokenLogProb = logSoftmax(logits.subarray(i * v, (i + 1) * v))[token] as number;
      logProbs[row] = (logProbs[row] as number) + tokenLogProb;
    });
  }
  return { logProbs, probs: softmax(logProbs) };
}
