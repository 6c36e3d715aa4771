// Extra output classes (a concept's identifier output row, Yo'LLaVA's `<bo>` token) in generation on the
// tiny Llama: the hidden output is the lm_head's input, a winning row emits its text and feeds its input
// row next (the same continuation as a prompt that ends with that row), a row that never wins changes
// nothing, the prefix cache path, streaming, stop strings, and continuation decoding of the text.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ArrayEmbeddingTable } from "../../../trainer/generate/embeddings";
import {
  decodeWithExtraClasses,
  type ExtraClass,
  type GenerationContext,
  generate,
} from "../../../trainer/generate/generate";
import { PrefixCache } from "../../../trainer/generate/prefix-cache";
import { argmax } from "../../../trainer/generate/sampling";
import { embedIds, loadTinyLlama, maxAbsDiff, type TinyLlama } from "./fixture";

const GOLDEN = JSON.parse(
  readFileSync(join(import.meta.dirname, "../../fixtures/generate/tiny_llama_greedy.json"), "utf8"),
) as { prompt_ids: number[]; generated_ids: number[]; max_new_tokens: number; eos_token_id: number };

let tiny: TinyLlama;
let context: GenerationContext;
let h: number;
let v: number;
/** Final-norm hidden state and logits after the golden prompt. */
let after: { hidden: Float32Array; logits: Float32Array };
beforeAll(async () => {
  tiny = await loadTinyLlama();
  h = tiny.config.hiddenSize;
  v = tiny.config.vocabSize;
  context = { decoder: tiny.decoder, embeddings: new ArrayEmbeddingTable(tiny.table, h) };
  const n = GOLDEN.prompt_ids.length;
  after = await tiny.decoder.stepOutputs(tiny.decoder.newCache(1, n), {
    embeds: prompt(GOLDEN.prompt_ids),
    seq: n,
    logitsAt: [n - 1],
  });
});
afterAll(async () => {
  await tiny.runtime.release();
});

const prompt = (ids: readonly number[]) => embedIds(tiny.table, tiny.config.hiddenSize, ids);
const decode = (ids: readonly number[]) => ids.map((id) => `<${id}>`).join("");
const scaled = (row: Float32Array, by: number) => row.map((x) => x * by);
const dot = (a: Float32Array, b: Float32Array) => a.reduce((s, x, i) => s + x * b[i]!, 0);
/** An identifier input row that is no vocabulary row (as a trained concept's is not). */
const inputRow = () => Float32Array.from({ length: 64 }, (_, i) => Math.sin(i * 0.7) * 0.05);

/** `x` minus its projection on the span of `basis` (Gram-Schmidt in float64). */
function orthogonalTo(x: Float32Array, basis: readonly Float32Array[]): Float32Array {
  const ortho: Float64Array[] = [];
  for (const b of basis) {
    const u = Float64Array.from(b);
    for (const q of ortho) {
      const c = u.reduce((s, val, i) => s + val * q[i]!, 0);
      u.forEach((_, i) => {
        u[i]! -= c * q[i]!;
      });
    }
    const norm = Math.sqrt(u.reduce((s, val) => s + val * val, 0));
    ortho.push(u.map((val) => val / norm));
  }
  const r = Float64Array.from(x);
  for (const q of ortho) {
    const c = r.reduce((s, val, i) => s + val * q[i]!, 0);
    r.forEach((_, i) => {
      r[i]! -= c * q[i]!;
    });
  }
  return Float32Array.from(r);
}

/** An output row whose logit after the golden prompt is `margin` above the best vocabulary logit. */
function winningRow(margin: number): Float32Array {
  const best = after.logits[argmax(after.logits)]!;
  return scaled(after.hidden, (best + margin) / dot(after.hidden, after.hidden));
}

describe("extra output classes", () => {
  it("the hidden output is what the lm_head reads: hidden . lm_head row = logit", () => {
    const lmHead = tiny.values("lm_head.weight", [v, h]) as Float32Array;
    const recomputed = Float32Array.from({ length: v }, (_, t) =>
      dot(after.hidden, lmHead.subarray(t * h, (t + 1) * h)),
    );
    expect(maxAbsDiff(recomputed, after.logits)).toBeLessThan(1e-4);
  });

  it("a winning row emits its text, then continues from its input row like a prompt ending in it", async () => {
    // Reference: "<bo>" was in the prompt (its input row spliced after the prompt): greedy over the
    // vocabulary, keeping each step's hidden state.
    const input = inputRow();
    const n = GOLDEN.prompt_ids.length;
    const cache = tiny.decoder.newCache(1, n + 8);
    let out = await tiny.decoder.stepOutputs(cache, {
      embeds: new Float32Array([...prompt(GOLDEN.prompt_ids), ...input]),
      seq: n + 1,
      logitsAt: [n],
    });
    const referenceIds: number[] = [];
    const hiddens: Float32Array[] = [];
    for (let i = 0; i < 7; i++) {
      hiddens.push(out.hidden);
      referenceIds.push(argmax(out.logits));
      out = await tiny.decoder.stepOutputs(cache, {
        embeds: prompt([referenceIds.at(-1)!]),
        seq: 1,
        logitsAt: [0],
      });
    }
    // An output row that wins after the prompt and scores 0 at every later step (orthogonal to their
    // hidden states), so the rest of the answer must be the reference's, token for token.
    const row = orthogonalTo(after.hidden, hiddens);
    const best = after.logits[argmax(after.logits)]!;
    const bo: ExtraClass = { text: "<bo>", output: scaled(row, (best + 1) / dot(after.hidden, row)), input };
    expect(hiddens.every((hid) => Math.abs(dot(hid, bo.output)) < 1e-3)).toBe(true);
    const events: { tokenId: number; textDelta: string }[] = [];
    const result = await generate(context, {
      prompt: prompt(GOLDEN.prompt_ids),
      maxNewTokens: 8,
      extraClasses: [bo],
      decode,
      onToken: (e) => events.push(e),
    });
    expect(result.tokenIds).toEqual([v, ...referenceIds]);
    expect(events[0]).toMatchObject({ tokenId: v, textDelta: "<bo>" });
    expect(result.text).toBe(`<bo>${decode(referenceIds)}`);
    expect(events.map((e) => e.textDelta).join("")).toBe(result.text);
    expect(result.tokenIds).toHaveLength(8); // the name is one token
    // Without its input row (say, the vocabulary's row of token 0 instead) the continuation differs.
    const wrong = await generate(context, {
      prompt: prompt(GOLDEN.prompt_ids),
      maxNewTokens: 8,
      extraClasses: [{ ...bo, input: prompt([0]) }],
    });
    expect(wrong.tokenIds.slice(1)).not.toEqual(referenceIds);
  });

  it("the next logits after the name are those of the reference prompt (same KV cache)", async () => {
    const bo: ExtraClass = { text: "<bo>", output: winningRow(1), input: inputRow() };
    // Teacher-forced: the loop's state after emitting <bo> equals a prefill of prompt + <bo>'s input row.
    const n = GOLDEN.prompt_ids.length;
    const cache = tiny.decoder.newCache(1, n + 1);
    await tiny.decoder.step(cache, { embeds: prompt(GOLDEN.prompt_ids), seq: n, logitsAt: [n - 1] });
    const stepped = await tiny.decoder.stepOutputs(cache, { embeds: bo.input, seq: 1, logitsAt: [0] });
    const reference = await tiny.fullLogits(new Float32Array([...prompt(GOLDEN.prompt_ids), ...bo.input]));
    expect(maxAbsDiff(stepped.logits, reference.subarray(n * v))).toBeLessThan(1e-4);
    // And generate's first token after the name is the argmax of those logits (the row does not win there).
    const result = await generate(context, {
      prompt: prompt(GOLDEN.prompt_ids),
      maxNewTokens: 2,
      extraClasses: [bo],
    });
    expect(dot(stepped.hidden, bo.output)).toBeLessThan(Math.max(...stepped.logits));
    expect(result.tokenIds).toEqual([v, argmax(stepped.logits)]);
  });

  it("a row that never wins leaves greedy generation token-identical to transformers' golden", async () => {
    const never: ExtraClass = { text: "<bo>", output: scaled(after.hidden, -1), input: inputRow() };
    const result = await generate(context, {
      prompt: prompt(GOLDEN.prompt_ids),
      maxNewTokens: GOLDEN.max_new_tokens,
      stopTokenIds: [GOLDEN.eos_token_id],
      extraClasses: [never, { ...never, text: "<mochi>" }],
      decode,
    });
    expect(result.tokenIds).toEqual(GOLDEN.generated_ids);
    expect(result.text).toBe(decode(GOLDEN.generated_ids));
  });

  it("the second of several classes is id V + 1; sampling draws over the extended row", async () => {
    const never: ExtraClass = { text: "<bo>", output: scaled(after.hidden, -1), input: inputRow() };
    const mochi: ExtraClass = { text: "<mochi>", output: winningRow(50), input: inputRow() };
    const result = await generate(context, {
      prompt: prompt(GOLDEN.prompt_ids),
      maxNewTokens: 1,
      sampling: { temperature: 1, topK: 5, topP: 0.9, seed: 4 },
      extraClasses: [never, mochi],
      decode,
    });
    expect(result.tokenIds).toEqual([v + 1]);
    expect(result.text).toBe("<mochi>");
  });

  it("prefix cache hit and miss give the same extended logits (the entry keeps the hidden state)", async () => {
    const bo: ExtraClass = { text: "<bo>", output: winningRow(1), input: inputRow() };
    const base = { prompt: prompt(GOLDEN.prompt_ids), maxNewTokens: 6, extraClasses: [bo] };
    const plain = await generate(context, base);
    const prefixCache = new PrefixCache(1 << 20);
    for (const length of [7, GOLDEN.prompt_ids.length]) {
      const request = { ...base, prefix: { length, key: `p${length}` } };
      const miss = await generate({ ...context, prefixCache }, request);
      const hit = await generate({ ...context, prefixCache }, request);
      expect(hit.cachedPrefixPositions).toBe(length);
      expect(miss.tokenIds).toEqual(plain.tokenIds);
      expect(hit.tokenIds).toEqual(plain.tokenIds);
    }
    expect(plain.tokenIds[0]).toBe(v);
  });

  it("stop strings see the name; max tokens count it as one token", async () => {
    const bo: ExtraClass = { text: "<bo>", output: winningRow(1), input: inputRow() };
    const cut = await generate(context, {
      prompt: prompt(GOLDEN.prompt_ids),
      maxNewTokens: 8,
      extraClasses: [bo],
      stopStrings: ["bo>"],
      decode,
    });
    expect(cut.finishReason).toBe("stop_string");
    expect(cut.tokenIds).toEqual([v]);
    expect(cut.text).toBe("<");
    const one = await generate(context, {
      prompt: prompt(GOLDEN.prompt_ids),
      maxNewTokens: 1,
      extraClasses: [bo],
      decode,
    });
    expect(one).toMatchObject({ tokenIds: [v], text: "<bo>", finishReason: "max_tokens" });
  });

  it("rejects rows of the wrong width", async () => {
    await expect(
      generate(context, {
        prompt: prompt(GOLDEN.prompt_ids),
        maxNewTokens: 1,
        extraClasses: [{ text: "<bo>", output: new Float32Array(3), input: inputRow() }],
      }),
    ).rejects.toThrow(/extra class 0/);
  });
});

describe("decodeWithExtraClasses", () => {
  // A SentencePiece-like decode (Llama): "▁" is a space, and one leading space of the whole text is
  // stripped (the Strip decoder).
  const pieces = ["▁is", "▁red", ".", "Yes", ",", "▁", "dog"];
  const spm = (ids: readonly number[]) =>
    ids
      .map((id) => pieces[id]!)
      .join("")
      .replaceAll("▁", " ")
      .replace(/^ /, "");
  const classes: ExtraClass[] = [
    { text: "<bo>", output: new Float32Array(1), input: new Float32Array(1) },
    { text: "<mochi>", output: new Float32Array(1), input: new Float32Array(1) },
  ];
  const V = pieces.length;
  const text = (ids: number[]) => decodeWithExtraClasses(ids, V, classes, spm);

  it("is the plain decode without extra classes", () => {
    expect(text([3, 4, 0, 1])).toBe(spm([3, 4, 0, 1]));
  });

  it("keeps the space a vocabulary piece starts with after a name, as a whole-sequence decode does", () => {
    expect(text([V, 0, 1, 2])).toBe("<bo> is red.");
    expect(text([3, 4, 5, V, 0, 1, 2])).toBe("Yes, <bo> is red.");
    expect(text([V, 5, V + 1])).toBe("<bo> <mochi>");
    expect(text([3, V, V + 1, 6])).toBe("Yes<bo><mochi>dog");
    expect(() => text([V + 2])).toThrow(/no extra class 2/);
  });
});
