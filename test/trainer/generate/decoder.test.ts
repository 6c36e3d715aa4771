// The cached decoder against a full recompute: prefill + one-token decode steps must give the logits that
// the model's plain forward() gives over the whole sequence.

import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { CachedDecoder } from "../../../trainer/generate/decoder";
import { embedIds, loadTinyLlama, maxAbsDiff, type TinyLlama } from "./fixture";

let tiny: TinyLlama;
beforeAll(async () => {
  tiny = await loadTinyLlama();
});
afterAll(async () => {
  await tiny.runtime.release();
});

const PROMPT = [1, 5, 17, 42, 8, 63, 29, 11];
const CONTINUATION = [3, 90, 44, 7, 61, 12];

describe("cached decoder", () => {
  it("prefill then one-token steps give the full recompute's logits (max abs diff <= 1e-4)", async () => {
    const { config, decoder, table } = tiny;
    const h = config.hiddenSize;
    const v = config.vocabSize;
    const ids = [...PROMPT, ...CONTINUATION];
    const full = await tiny.fullLogits(embedIds(table, h, ids));

    // A small capacity forces the cache to grow mid-sequence.
    const cache = decoder.newCache(1, 4);
    const prefill = await decoder.step(cache, {
      embeds: embedIds(table, h, PROMPT),
      seq: PROMPT.length,
      logitsAt: PROMPT.map((_, i) => i),
    });
    expect(maxAbsDiff(prefill, full.subarray(0, PROMPT.length * v))).toBeLessThanOrEqual(1e-4);
    let worst = 0;
    for (const [j, id] of CONTINUATION.entries()) {
      const logits = await decoder.step(cache, { embeds: embedIds(table, h, [id]), seq: 1, logitsAt: [0] });
      const t = PROMPT.length + j;
      worst = Math.max(worst, maxAbsDiff(logits, full.subarray(t * v, (t + 1) * v)));
    }
    expect(cache.length).toBe(ids.length);
    expect(worst).toBeLessThanOrEqual(1e-4);
  });

  it("a multi-token step after a past equals the full recompute too", async () => {
    const { config, decoder, table } = tiny;
    const h = config.hiddenSize;
    const v = config.vocabSize;
    const ids = [...PROMPT, ...CONTINUATION];
    const full = await tiny.fullLogits(embedIds(table, h, ids));
    const cache = decoder.newCache(1);
    await decoder.step(cache, { embeds: embedIds(table, h, PROMPT), seq: PROMPT.length, logitsAt: [0] });
    const logits = await decoder.step(cache, {
      embeds: embedIds(table, h, CONTINUATION),
      seq: CONTINUATION.length,
      logitsAt: CONTINUATION.map((_, i) => i),
    });
    expect(maxAbsDiff(logits, full.subarray(PROMPT.length * v))).toBeLessThanOrEqual(1e-4);
  });

  it("left-padded batch rows decode as they would alone (padding stays masked in the past)", async () => {
    const { config, decoder, table } = tiny;
    const h = config.hiddenSize;
    const v = config.vocabSize;
    const rows = [PROMPT.slice(0, 5), PROMPT];
    const seq = PROMPT.length;
    const embeds = new Float32Array(2 * seq * h);
    const real = new Uint8Array(2 * seq);
    rows.forEach((ids, b) => {
      const pad = seq - ids.length;
      embeds.set(embedIds(table, h, ids), (b * seq + pad) * h);
      real.fill(1, b * seq + pad, (b + 1) * seq);
    });
    const cache = decoder.newCache(2, seq);
    let logits = await decoder.step(cache, { embeds, seq, real, logitsAt: [seq - 1, 2 * seq - 1] });
    expect(cache.nextPosition).toEqual([5, seq]);
    const full = await Promise.all(
      rows.map((ids) => tiny.fullLogits(embedIds(table, h, [...ids, ...CONTINUATION]))),
    );
    let worst = 0;
    for (let j = 0; ; j++) {
      rows.forEach((ids, b) => {
        const t = ids.length - 1 + j;
        worst = Math.max(
          worst,
          maxAbsDiff(logits.subarray(b * v, (b + 1) * v), full[b]!.subarray(t * v, (t + 1) * v)),
        );
      });
      if (j === CONTINUATION.length) break;
      const next = embedIds(table, h, [CONTINUATION[j]!, CONTINUATION[j]!]);
      logits = await decoder.step(cache, { embeds: next, seq: 1, logitsAt: [0, 1] });
    }
    expect(worst).toBeLessThanOrEqual(1e-4);
  });

  it("the concat-past layout (full present fed back) gives the same logits as in-place appends", async () => {
    const { config, table } = tiny;
    const h = config.hiddenSize;
    const concat = CachedDecoder.build(config, tiny.values, {
      runtime: tiny.runtime,
      modelId: "tiny-llama-untied",
      cacheLayout: "concat",
    });
    const run = async (decoder: CachedDecoder) => {
      const cache = decoder.newCache(1, 2);
      const out = [
        await decoder.step(cache, {
          embeds: embedIds(table, h, PROMPT),
          seq: PROMPT.length,
          logitsAt: [PROMPT.length - 1],
        }),
      ];
      for (const id of CONTINUATION) {
        out.push(await decoder.step(cache, { embeds: embedIds(table, h, [id]), seq: 1, logitsAt: [0] }));
      }
      expect(cache.length).toBe(PROMPT.length + CONTINUATION.length);
      return out;
    };
    const [a, b] = [await run(tiny.decoder), await run(concat)];
    expect(b[0]!.length).toBe(config.vocabSize);
    a.forEach((logits, i) => {
      expect(maxAbsDiff(logits, b[i]!)).toBeLessThanOrEqual(1e-6);
    });
  });
});
