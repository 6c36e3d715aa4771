// The attention-target loss (recognition quads' auxiliary loss): the value against a direct computation,
// its gradient against finite differences, and the feeds a batch of rows turns into.

import { describe, expect, it } from "vitest";
import { compile, Graph, ortTensor, Runtime } from "../../../trainer/engine/index";
import { attentionTargetLoss } from "../../../trainer/models/attention-target";
import type { TrainingRow } from "../../../trainer/toyworld/train/instruction-data";
import { rowAttentionTargetFeeds } from "../../../trainer/toyworld/train/llava-recipe";
import { TOKEN_IDS } from "../../../trainer/toyworld/train/tokenizer";
import { checkGradients, seededRandom } from "../engine/gradcheck";

const [B, KV, GROUPS, T] = [2, 2, 2, 5];
// Head 3 is kv head 1, group 1 (HF's repeat_kv order).
const HEAD = 3;
const rows = [1 * T + 4, 0 * T + 2];
const masks = [
  [0, 1, 1, 0, 0],
  [1, 0, 0, 0, 0],
];

function probabilities(seed: number): number[] {
  const random = seededRandom(seed);
  const out: number[] = [];
  for (let q = 0; q < B * KV * GROUPS * T; q++) {
    const row = Array.from({ length: T }, () => random() + 0.05);
    const sum = row.reduce((a, b) => a + b, 0);
    out.push(...row.map((x) => x / sum));
  }
  return out;
}

/** The same loss written out directly (float64). */
function directLoss(probs: readonly number[]): number {
  const kv = Math.floor(HEAD / GROUPS);
  const group = HEAD % GROUPS;
  let total = 0;
  rows.forEach((flat, n) => {
    const [b, t] = [Math.floor(flat / T), flat % T];
    const base = ((((b * KV + kv) * GROUPS + group) * T + t) * T) as number;
    let mass = 0;
    for (let s = 0; s < T; s++) mass += probs[base + s]! * masks[n]![s]!;
    total -= Math.log(mass + 1e-6);
  });
  return total / rows.length;
}

describe("attention-target loss", () => {
  it("is -mean log of the chosen head's mass on the targets, at the chosen query rows", async () => {
    const g = new Graph("attention-target");
    const probs = g.input("probs", "float64", ["B", KV, GROUPS, "T", "T"]);
    const loss = attentionTargetLoss(probs, HEAD, {
      rows: g.input("rows", "int64", ["N"]),
      mask: g.input("mask", "float64", ["N", "T"]),
    });
    g.output(loss, "loss");
    const values = probabilities(3);
    const out = await new Runtime({ graphOptimizationLevel: "basic" }).run(compile(g), {
      probs: ortTensor("float64", Float64Array.from(values), [B, KV, GROUPS, T, T]),
      rows: ortTensor("int64", BigInt64Array.from(rows, BigInt), [rows.length]),
      mask: ortTensor("float64", Float64Array.from(masks.flat()), [rows.length, T]),
    });
    expect((out.loss!.data as Float64Array)[0]).toBeCloseTo(directLoss(values), 12);
  });

  it("has gradients that match finite differences", () =>
    checkGradients(
      {
        probs: { dtype: "float64", dims: [B, KV, GROUPS, T, T], values: probabilities(5) },
        rows: { dtype: "int64", dims: [rows.length], values: rows },
        mask: { dtype: "float64", dims: [rows.length, T], values: masks.flat(), wrt: false },
      },
      ({ probs, rows, mask }) => attentionTargetLoss(probs!, HEAD, { rows: rows!, mask: mask! }),
    ));
});

describe("rowAttentionTargetFeeds", () => {
  const row = (targets: number[] | undefined): TrainingRow => ({
    // <s> q q <image> <image> <image> a a </s>: the answer's first token is at 6, so the query is 5.
    ids: [TOKEN_IDS.bos, 10, 11, TOKEN_IDS.image, TOKEN_IDS.image, TOKEN_IDS.image, 12, 13, TOKEN_IDS.eos],
    isTarget: [false, false, false, false, false, false, true, true, true],
    image: { width: 1, height: 1, data: new Uint8Array(3) },
    attentionTargets: targets,
  });

  it("asks the answer position to look at the listed image tokens, or at <s> when none match", () => {
    const feeds = rowAttentionTargetFeeds([row([1, 2]), row(undefined), row([])], 12);
    expect(Array.from(feeds.attention_rows!.data as BigInt64Array, Number)).toEqual([5, 2 * 12 + 5]);
    const mask = Array.from(feeds.attention_mask!.data as Float32Array);
    expect(feeds.attention_mask!.dims).toEqual([2, 12]);
    // Image tokens start at 3 (CLS), so targets 1 and 2 are positions 4 and 5.
    expect(mask.slice(0, 12)).toEqual([0, 0, 0, 0, 1, 1, 0, 0, 0, 0, 0, 0]);
    expect(mask.slice(12)).toEqual([1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0]);
  });

  it("gives a batch without targets one row whose mask covers every key (loss 0, no gradient)", () => {
    const feeds = rowAttentionTargetFeeds([row(undefined)], 10);
    expect(Array.from(feeds.attention_rows!.data as BigInt64Array, Number)).toEqual([0]);
    expect(Array.from(feeds.attention_mask!.data as Float32Array)).toEqual(new Array(10).fill(1));
  });
});
