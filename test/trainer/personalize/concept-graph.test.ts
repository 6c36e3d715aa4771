import { createHash } from "node:crypto";
import { beforeAll, describe, expect, it } from "vitest";
import { ortTensor } from "../../../trainer/engine/index";
import {
  batchFeeds,
  type ConceptRowsInput,
  conceptAttentionTargetFeeds,
  conceptStep,
  scoreExamples,
} from "../../../trainer/personalize/concept-batch";
import { ConceptGraphs } from "../../../trainer/personalize/concept-graph";
import type { ConceptModel } from "../../../trainer/personalize/concept-model";
import { identifierSegment, templateSegments } from "../../../trainer/personalize/concept-prompt";
import { type EncodedExample, encodeExample } from "../../../trainer/personalize/examples";
import { SeededRandom } from "../../../trainer/personalize/random";
import { recognitionExample } from "../../../trainer/personalize/recognition-data";
import { initialRows } from "../../../trainer/personalize/train-concept";
import { photo, tinyConceptModel } from "./fixture";

let model: ConceptModel;
let graphs: ConceptGraphs;
let examples: EncodedExample[];
let bo: ConceptRowsInput;
let mochi: ConceptRowsInput;

/** A text-only exchange that uses both concepts, and the identifier as an answer token. */
async function together(): Promise<EncodedExample> {
  return encodeExample(model, {
    kind: "conversation",
    images: [],
    conversation: {
      concepts: [
        { name: "<bo>", k: 2 },
        { name: "<mochi>", k: 3 },
      ],
      images: 0,
      question: [identifierSegment("<bo>"), { type: "text", text: " and " }, identifierSegment("<mochi>")],
      answer: templateSegments("{name} is left of the other.", "<mochi>"),
    },
  });
}

beforeAll(async () => {
  model = await tinyConceptModel();
  graphs = new ConceptGraphs(model);
  const rng = new SeededRandom(3);
  bo = initialRows(model, "<bo>", 2, rng);
  mochi = initialRows(model, "<mochi>", 3, rng);
  examples = [
    await encodeExample(model, recognitionExample("<bo>", 2, photo(1), "yes", rng)),
    await encodeExample(model, recognitionExample("<bo>", 2, photo(2), "no", rng)),
    await together(),
  ];
});

describe("concept graph", () => {
  it("encodes slots, image rows and answer targets", () => {
    const [yes, , both] = examples;
    // system: identifier + 2 latent rows; question: identifier; answer: identifier as a target class.
    expect(yes!.slots.filter((s) => s.name === "<bo>").map((s) => s.row)).toEqual([0, 1, 2, 0, 0]);
    expect(yes!.targets.filter((t) => "concept" in t.target)).toHaveLength(1);
    expect(both!.slots.map((s) => `${s.name}:${s.row}`)).toEqual([
      "<bo>:0",
      "<bo>:1",
      "<bo>:2",
      "<mochi>:0",
      "<mochi>:1",
      "<mochi>:2",
      "<mochi>:3",
      "<bo>:0",
      "<mochi>:0",
      "<mochi>:0",
    ]);
  });

  it("has only the concept rows as differentiable inputs", () => {
    const train = graphs.get("train");
    expect(train.inputNames.sort()).toEqual(
      [
        "attention_bias",
        "concept_rows",
        "concept_slot_rows",
        "concept_slots",
        "head_rows",
        "inputs_embeds",
        "position_ids",
        "target_positions",
        "target_weights",
        "targets",
      ].sort(),
    );
    expect(train.outputNames.filter((n) => n.startsWith("grad/")).sort()).toEqual([
      "grad/concept_rows",
      "grad/head_rows",
    ]);
  });

  // Central differences on the float32 graph: eps 1e-2; |fd - grad| <= 5e-3 + 2e-2 |grad|.
  it("gradients match central differences for input and output rows of two concepts", async () => {
    const concepts = [bo, mochi];
    const step = await conceptStep(model, graphs, examples, concepts, 16);
    const total = examples.reduce((s, e) => s + e.targets.length, 0);
    const lossAt = async (rows: ConceptRowsInput[]) => {
      const b = batchFeeds(model, examples, rows, { bucket: 16, weights: () => 1 / total });
      b.feeds.target_weights = ortTensor("float32", Float32Array.from(b.weights), [b.weights.length]);
      const out = await model.runtime.run(graphs.get("train"), b.feeds, ["loss"]);
      return (out.loss!.data as Float32Array)[0]!;
    };
    expect(step.loss).toBeCloseTo(await lossAt(concepts), 5);
    const eps = 1e-2;
    const rng = new SeededRandom(9);
    const h = model.textConfig.hiddenSize;
    let checked = 0;
    for (const [ci, part] of [
      [0, "input"],
      [1, "input"],
      [0, "output"],
      [1, "output"],
    ] as const) {
      const grad = part === "input" ? step.gradInput[ci]! : step.gradOutput[ci]!;
      // The identifier row, a latent row and the output row are all exercised.
      const coords =
        part === "input"
          ? [rng.int(h), h + rng.int(h), grad.length - 1 - rng.int(h)]
          : [0, 1, 2].map(() => rng.int(h));
      for (const j of coords) {
        const perturbed = (delta: number) =>
          concepts.map((c, i) => {
            if (i !== ci) return c;
            const copy = { ...c, input: c.input.slice(), output: c.output.slice() };
            (part === "input" ? copy.input : copy.output)[j]! += delta;
            return copy;
          });
        const fd = ((await lossAt(perturbed(eps))) - (await lossAt(perturbed(-eps)))) / (2 * eps);
        expect(Math.abs(fd - grad[j]!)).toBeLessThanOrEqual(5e-3 + 2e-2 * Math.abs(grad[j]!));
        checked++;
      }
    }
    expect(checked).toBe(12);
    // Both concepts get a gradient (each appears in the prompt).
    for (const g of [...step.gradInput, ...step.gradOutput]) expect(g.some((x) => x !== 0)).toBe(true);
  });

  it("with an attention target points a yes at its image and a no at the first token", async () => {
    const [yes, no] = examples;
    const seq = 160;
    const feeds = conceptAttentionTargetFeeds(examples, seq);
    // The text-only exchange has no image to look at: two rows, one per recognition example.
    expect([...(feeds.attention_rows!.data as BigInt64Array)]).toEqual([
      BigInt(yes!.targets[0]!.position),
      BigInt(seq + no!.targets[0]!.position),
    ]);
    const mask = feeds.attention_mask!.data as Float32Array;
    const ones = (row: number) =>
      [...mask.subarray(row * seq, (row + 1) * seq).keys()].filter((t) => mask[row * seq + t] === 1);
    expect(yes!.imagePositions.length).toBeGreaterThan(0);
    expect(ones(0)).toEqual(yes!.imagePositions);
    expect(ones(1)).toEqual([0]);
    // A located subject narrows a yes to its rows.
    const located = conceptAttentionTargetFeeds(
      [{ ...yes!, subjectPositions: yes!.imagePositions.slice(2, 4) }],
      seq,
    );
    const narrowed = located.attention_mask!.data as Float32Array;
    expect([...narrowed.keys()].filter((t) => narrowed[t] === 1)).toEqual(yes!.imagePositions.slice(2, 4));
    // Nothing to supervise: one row over every key, whose mass is 1 (no loss).
    const none = conceptAttentionTargetFeeds([examples[2]!], 32);
    expect([...(none.attention_mask!.data as Float32Array)]).toEqual(new Array(32).fill(1));
  });

  it("adds the attention-target loss at its weight, with gradients that match central differences", async () => {
    const target = (weight: number) => ({ layer: model.textConfig.numLayers - 1, head: 1, weight });
    const concepts = [bo, mochi];
    const plain = await conceptStep(model, graphs, examples, concepts, 16);
    const once = await conceptStep(model, graphs, examples, concepts, 16, target(1));
    const twice = await conceptStep(model, graphs, examples, concepts, 16, target(2));
    const term = once.loss - plain.loss;
    expect(term).toBeGreaterThan(0); // -log of an attention mass under 1
    expect(twice.loss - plain.loss).toBeCloseTo(2 * term, 4);
    const total = examples.reduce((s, e) => s + e.targets.length, 0);
    const lossAt = async (rows: ConceptRowsInput[]) => {
      const b = batchFeeds(model, examples, rows, { bucket: 16, weights: () => 1 / total });
      b.feeds.target_weights = ortTensor("float32", Float32Array.from(b.weights), [b.weights.length]);
      Object.assign(b.feeds, conceptAttentionTargetFeeds(examples, b.seq));
      const out = await model.runtime.run(graphs.get("train", target(1)), b.feeds, ["loss"]);
      return (out.loss!.data as Float32Array)[0]!;
    };
    const eps = 1e-2;
    const h = model.textConfig.hiddenSize;
    // The identifier row and a latent row of <bo>, whose recognition examples carry the target.
    for (const j of [3, h + 5, 2 * h + 7]) {
      const perturbed = (delta: number) => {
        const copy = { ...bo, input: bo.input.slice() };
        copy.input[j]! += delta;
        return [copy, mochi];
      };
      const fd = ((await lossAt(perturbed(eps))) - (await lossAt(perturbed(-eps)))) / (2 * eps);
      const grad = once.gradInput[0]![j]!;
      expect(Math.abs(fd - grad)).toBeLessThanOrEqual(5e-3 + 2e-2 * Math.abs(grad));
    }
    expect(once.gradInput[0]!.some((x, i) => x !== plain.gradInput[0]![i])).toBe(true);
  });

  it("scores do not depend on the order concepts are passed in", async () => {
    const a = await scoreExamples(model, graphs, examples.slice(2), [bo, mochi], {
      bucket: 16,
      batchSize: 4,
    });
    const b = await scoreExamples(model, graphs, examples.slice(2), [mochi, bo], {
      bucket: 16,
      batchSize: 4,
    });
    a[0]!.logProbs.forEach((lp, i) => {
      expect(lp).toBeCloseTo(b[0]!.logProbs[i]!, 5);
    });
  });

  it("a concept absent from the prompt does not change its scores", async () => {
    const other = { ...mochi, input: mochi.input.map((x) => x + 1), output: mochi.output.map((x) => x - 1) };
    const a = await scoreExamples(model, graphs, examples.slice(0, 1), [bo], { bucket: 16, batchSize: 4 });
    const b = await scoreExamples(model, graphs, examples.slice(0, 1), [bo, other], {
      bucket: 16,
      batchSize: 4,
    });
    // The vocabulary logits are the same (tolerance 1e-5); only the softmax gains the extra class.
    const v = model.textConfig.vocabSize;
    for (let i = 0; i <= v; i++) expect(b[0]!.firstLogits[i]).toBeCloseTo(a[0]!.firstLogits[i]!, 5);
    expect(b[0]!.firstLogits).toHaveLength(v + 2);
  });

  it("a step leaves the frozen weights as they were", async () => {
    const digest = () => {
      const c = model.textConfig;
      const h = createHash("sha256");
      for (const name of ["model.embed_tokens.weight", "lm_head.weight"]) {
        const w = model.textWeights(name, [c.vocabSize, c.hiddenSize]) as Float32Array;
        h.update(new Uint8Array(w.buffer, w.byteOffset, w.byteLength));
      }
      return h.digest("hex");
    };
    const before = digest();
    await conceptStep(model, graphs, examples, [bo, mochi], 16);
    expect(digest()).toBe(before);
  });
});
