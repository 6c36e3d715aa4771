import { afterAll, describe, expect, it } from "vitest";
import {
  compile,
  Graph,
  gradients,
  maskedTokenCrossEntropy,
  ortTensor,
  Runtime,
} from "../../../trainer/engine/index";
import { checkGradients, seededRandom, worstErrors } from "./gradcheck";

afterAll(() => console.log(JSON.stringify({ family: "loss", worstErrors })));

const B = 2;
const T = 4;
const H = 3;
const V = 7;
const positions = [1, 5, 6, 2];
const targets = [3, 0, 6, 3];

/** The same loss written out directly in TypeScript (float64). */
function directLoss(hidden: Float64Array, lmHead: Float64Array): number {
  let total = 0;
  positions.forEach((p, n) => {
    const logits = Array.from({ length: V }, (_, v) => {
      let acc = 0;
      for (let h = 0; h < H; h++) acc += hidden[p * H + h]! * lmHead[v * H + h]!;
      return acc;
    });
    const m = Math.max(...logits);
    const logSum = m + Math.log(logits.reduce((s, l) => s + Math.exp(l - m), 0));
    total += logSum - logits[targets[n]!]!;
  });
  return total / positions.length;
}

describe("masked token cross-entropy", () => {
  it("matches a direct computation and only forms [N, V] logits", async () => {
    const g = new Graph("loss");
    const hidden = g.input("hidden", "float64", ["B", "T", H]);
    const pos = g.input("positions", "int64", ["N"]);
    const tgt = g.input("targets", "int64", ["N"]);
    const lmHead = g.input("lm_head.weight", "float64", [V, H]);
    const loss = maskedTokenCrossEntropy(hidden, pos, tgt, lmHead);
    expect(loss.shape).toEqual([]);
    // No tensor spans the vocabulary over all B*T positions.
    for (const node of g.nodes) {
      for (const o of node.outputs) if (o.shape.at(-1) === V && o.rank >= 2) expect(o.shape[0]).toBe("N");
    }
    gradients(g, loss, [hidden, lmHead]);

    const random = seededRandom(7);
    const hiddenData = Float64Array.from({ length: B * T * H }, () => 2 * random() - 1);
    const lmHeadData = Float64Array.from({ length: V * H }, () => 2 * random() - 1);
    const out = await new Runtime({ graphOptimizationLevel: "basic" }).run(compile(g), {
      hidden: ortTensor("float64", hiddenData, [B, T, H]),
      positions: ortTensor("int64", BigInt64Array.from(positions, BigInt), [positions.length]),
      targets: ortTensor("int64", BigInt64Array.from(targets, BigInt), [targets.length]),
      "lm_head.weight": ortTensor("float64", lmHeadData, [V, H]),
    });
    expect((out.loss!.data as Float64Array)[0]).toBeCloseTo(directLoss(hiddenData, lmHeadData), 12);
    // Rows that are not target positions get no gradient.
    const gradHidden = out["grad/hidden"]!.data as Float64Array;
    for (let row = 0; row < B * T; row++) {
      const norm = Math.hypot(...gradHidden.subarray(row * H, row * H + H));
      if (positions.includes(row)) expect(norm).toBeGreaterThan(0);
      else expect(norm).toBe(0);
    }
  });

  it("gradients match finite differences for hidden states and lm_head", () =>
    checkGradients(
      {
        hidden: { dtype: "float64", dims: [B, T, H] },
        positions: { dtype: "int64", dims: [positions.length], values: positions },
        targets: { dtype: "int64", dims: [targets.length], values: targets },
        lmHead: { dtype: "float64", dims: [V, H] },
      },
      ({ hidden, positions, targets, lmHead }) =>
        maskedTokenCrossEntropy(hidden!, positions!, targets!, lmHead!),
    ));

  it("accepts flattened hidden states and an [H, V] head", () =>
    checkGradients(
      {
        hidden: { dtype: "float64", dims: [B * T, H] },
        positions: { dtype: "int64", dims: [positions.length], values: positions },
        targets: { dtype: "int64", dims: [targets.length], values: targets },
        lmHead: { dtype: "float64", dims: [H, V] },
      },
      ({ hidden, positions, targets, lmHead }) =>
        maskedTokenCrossEntropy(hidden!, positions!, targets!, lmHead!, { lmHeadLayout: "in_out" }),
    ));
});
