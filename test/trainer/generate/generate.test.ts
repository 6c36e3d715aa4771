// The generation loop on the tiny Llama: transformers' greedy golden, cache vs full recompute, stops,
// streaming, cancellation, seeded sampling and the prefix cache.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArrayEmbeddingTable } from "../../../trainer/generate/embeddings";
import { type GenerationContext, generate } from "../../../trainer/generate/generate";
import { PrefixCache } from "../../../trainer/generate/prefix-cache";
import { argmax } from "../../../trainer/generate/sampling";
import { embedIds, loadTinyLlama, type TinyLlama } from "./fixture";

const GOLDEN = JSON.parse(
  readFileSync(join(import.meta.dirname, "../../fixtures/generate/tiny_llama_greedy.json"), "utf8"),
) as { prompt_ids: number[]; generated_ids: number[]; max_new_tokens: number; eos_token_id: number };

let tiny: TinyLlama;
let context: GenerationContext;
beforeAll(async () => {
  tiny = await loadTinyLlama();
  context = {
    decoder: tiny.decoder,
    embeddings: new ArrayEmbeddingTable(tiny.table, tiny.config.hiddenSize),
  };
});
afterAll(async () => {
  await tiny.runtime.release();
});

const prompt = (ids: readonly number[]) => embedIds(tiny.table, tiny.config.hiddenSize, ids);
/** A stand-in tokenizer decode: one visible piece per id. */
const decode = (ids: readonly number[]) => ids.map((id) => `<${id}>`).join("");

describe("generate", () => {
  it("greedy matches transformers' generate exactly (tools/reference/make_generate_golden.py)", async () => {
    const result = await generate(context, {
      prompt: prompt(GOLDEN.prompt_ids),
      maxNewTokens: GOLDEN.max_new_tokens,
      stopTokenIds: [GOLDEN.eos_token_id],
    });
    expect(result.tokenIds).toEqual(GOLDEN.generated_ids);
    expect(result.finishReason).toBe("max_tokens");
  });

  it("greedy 20 tokens are identical to argmax of a full recompute at every step (no cache)", async () => {
    const ids = [...GOLDEN.prompt_ids];
    for (let i = 0; i < 20; i++) {
      const logits = await tiny.fullLogits(prompt(ids));
      const v = tiny.config.vocabSize;
      ids.push(argmax(logits.subarray((ids.length - 1) * v)));
    }
    const cached = await generate(context, { prompt: prompt(GOLDEN.prompt_ids), maxNewTokens: 20 });
    expect(cached.tokenIds).toEqual(ids.slice(GOLDEN.prompt_ids.length));
  });

  it("stops at a stop token id (kept in tokenIds, not in text)", async () => {
    const result = await generate(context, {
      prompt: prompt(GOLDEN.prompt_ids),
      maxNewTokens: 20,
      stopTokenIds: [25],
      decode,
    });
    const first = GOLDEN.generated_ids.indexOf(25);
    expect(result.tokenIds).toEqual(GOLDEN.generated_ids.slice(0, first + 1));
    expect(result.finishReason).toBe("stop_token");
    expect(result.text).toBe(decode(GOLDEN.generated_ids.slice(0, first)));
  });

  it("stops at a stop string, cuts the text before it, and never streams text it drops", async () => {
    const deltas: string[] = [];
    const result = await generate(context, {
      prompt: prompt(GOLDEN.prompt_ids),
      maxNewTokens: 20,
      stopStrings: ["<25><94>", "never"],
      decode,
      onToken: (e) => deltas.push(e.textDelta),
    });
    const full = decode(GOLDEN.generated_ids);
    const cut = full.indexOf("<25><94>");
    expect(cut).toBeGreaterThan(0);
    expect(result.finishReason).toBe("stop_string");
    expect(result.text).toBe(full.slice(0, cut));
    expect(deltas.join("")).toBe(result.text);
    // The "<25>" right before "<94>" could start the stop string: held back, never streamed.
    const stopStart = GOLDEN.generated_ids.indexOf(94) - 1;
    expect(GOLDEN.generated_ids[stopStart]).toBe(25);
    expect(deltas.slice(0, stopStart + 1).join("")).toBe(decode(GOLDEN.generated_ids.slice(0, stopStart)));
    expect(deltas).toHaveLength(stopStart + 2);
    expect(result.tokenIds).toEqual(GOLDEN.generated_ids.slice(0, result.tokenIds.length));
    expect(decode(result.tokenIds).includes("<25><94>")).toBe(true);
  });

  it("streams every token's delta and releases held-back text at max tokens", async () => {
    const events: { tokenId: number; textDelta: string }[] = [];
    const result = await generate(context, {
      prompt: prompt(GOLDEN.prompt_ids),
      maxNewTokens: 9,
      stopStrings: ["<25><94>"],
      decode,
      onToken: (e) => events.push(e),
    });
    // The 9th token is 25, a possible stop-string start, released at the end.
    expect(result.finishReason).toBe("max_tokens");
    expect(result.text).toBe(decode(GOLDEN.generated_ids.slice(0, 9)));
    expect(events.map((e) => e.textDelta).join("")).toBe(result.text);
    expect(events.slice(0, 9).map((e) => e.tokenId)).toEqual(GOLDEN.generated_ids.slice(0, 9));
  });

  it("cancels through an AbortSignal", async () => {
    const controller = new AbortController();
    const result = await generate(context, {
      prompt: prompt(GOLDEN.prompt_ids),
      maxNewTokens: 20,
      signal: controller.signal,
      onToken: (e) => {
        if (e.index === 2) controller.abort();
      },
    });
    expect(result.finishReason).toBe("aborted");
    expect(result.tokenIds).toEqual(GOLDEN.generated_ids.slice(0, 3));
    const before = await generate(context, {
      prompt: prompt(GOLDEN.prompt_ids),
      maxNewTokens: 5,
      signal: controller.signal,
    });
    expect(before.tokenIds).toEqual([]);
  });

  it("seeded sampling is reproducible, and differs across seeds", async () => {
    const run = (seed: number) =>
      generate(context, {
        prompt: prompt(GOLDEN.prompt_ids),
        maxNewTokens: 20,
        sampling: { temperature: 1.5, topK: 40, topP: 0.95, seed },
      });
    const [a, b, c] = [await run(7), await run(7), await run(8)];
    expect(a.tokenIds).toEqual(b.tokenIds);
    expect(a.tokenIds).not.toEqual(c.tokenIds);
    expect(a.tokenIds).not.toEqual(GOLDEN.generated_ids);
  });

  it("a prefix cache hit prefills only the suffix and gives identical outputs", async () => {
    const prefixCache = new PrefixCache(1 << 20);
    const cachedContext = { ...context, prefixCache };
    const request = {
      prompt: prompt(GOLDEN.prompt_ids),
      prefix: { length: 7, key: "system+concepts-v1" },
      maxNewTokens: 20,
    };
    const plain = await generate(context, { prompt: request.prompt, maxNewTokens: 20 });
    const miss = await generate(cachedContext, request);
    const hit = await generate(cachedContext, request);
    expect(miss.cachedPrefixPositions).toBe(0);
    expect(hit.cachedPrefixPositions).toBe(7);
    expect(prefixCache.stats).toMatchObject({ entries: 1, hits: 1, misses: 1 });
    expect(miss.tokenIds).toEqual(plain.tokenIds);
    expect(hit.tokenIds).toEqual(plain.tokenIds);
    // Sampling reads the logits bit for bit: the hit path must reproduce the miss path exactly.
    const sampling = { temperature: 1, seed: 3 };
    const sampledMiss = await generate(
      { ...context, prefixCache: new PrefixCache(1 << 20) },
      { ...request, sampling },
    );
    const sampledHit = await generate(cachedContext, { ...request, sampling });
    expect(sampledHit.cachedPrefixPositions).toBe(7);
    expect(sampledHit.tokenIds).toEqual(sampledMiss.tokenIds);
    // A whole-prompt prefix: the cached last logits start generation with nothing to prefill.
    const whole = { ...request, prefix: { length: GOLDEN.prompt_ids.length, key: "whole" } };
    await generate(cachedContext, whole);
    const wholeHit = await generate(cachedContext, whole);
    expect(wholeHit.cachedPrefixPositions).toBe(GOLDEN.prompt_ids.length);
    expect(wholeHit.tokenIds).toEqual(plain.tokenIds);
  });

  it("ends at the context length instead of indexing past the position table", async () => {
    const max = tiny.config.maxPositionEmbeddings; // 64 in the fixture
    const ids = Array.from({ length: max - 3 }, (_, i) => (i * 7) % 97);
    const result = await generate(context, { prompt: prompt(ids), maxNewTokens: 20, decode });
    // Positions 0..max-1: the prompt takes max-3, so 3 more tokens fit, and a 4th is sampled from the last.
    expect(result.finishReason).toBe("context_length");
    expect(result.tokenIds).toHaveLength(4);
    expect(result.text).toBe(decode(result.tokenIds));
    await expect(
      generate(context, { prompt: prompt([...ids, 1, 2, 3, 4]), maxNewTokens: 1 }),
    ).rejects.toThrow(/max_position_embeddings/);
  });
});
