// The dense attribute labels that shape the toy vision tower: exact from the scene graph, one class per
// head per patch, and the feeds that index the tower's [N, 1 + P, D] states.

import { describe, expect, it } from "vitest";
import { compile, Graph, ortTensor, Runtime } from "../../../trainer/engine/index";
import { composeScene } from "../../../trainer/toyworld/compose";
import {
  ATTRIBUTE_INPUTS,
  attributeFeeds,
  attributeLabels,
  attributeLoss,
  PATCH_HEADS,
} from "../../../trainer/toyworld/train/attribute-supervision";
import { initParameters, ParameterBinding, parameterFeeds } from "../../../trainer/toyworld/train/parameters";

const GRID = 8;

describe("attributeLabels", () => {
  it("labels the patches whose centres lie in an object's box with that object, the rest 0", () => {
    for (let seed = 0; seed < 20; seed++) {
      const scene = composeScene({ seed });
      const labels = attributeLabels(scene, GRID);
      expect(labels.count).toBe(scene.objects.length - 1);
      for (let r = 0; r < GRID; r++) {
        for (let c = 0; c < GRID; c++) {
          const x = (c + 0.5) / GRID;
          const y = (r + 0.5) / GRID;
          const inside = scene.objects.filter(
            (o) => x >= o.box.x0 && x < o.box.x1 && y >= o.box.y0 && y < o.box.y1,
          );
          expect(inside.length).toBeLessThanOrEqual(1); // boxes never overlap
          const colour = labels.patch.colour[r * GRID + c]!;
          const cell = labels.patch.cell[r * GRID + c]!;
          if (inside.length === 0) {
            expect([colour, cell]).toEqual([0, 0]);
          } else {
            expect(PATCH_HEADS.colour[colour - 1]).toBe(inside[0]!.colour);
            expect(PATCH_HEADS.cell[cell - 1]).toBe(inside[0]!.cell);
          }
        }
      }
    }
  });

  it("gives every object at least one labelled patch at the 8x8 grid", () => {
    for (let seed = 0; seed < 200; seed++) {
      const scene = composeScene({ seed });
      const { shape: shapes, cell: cells } = attributeLabels(scene, GRID).patch;
      for (const o of scene.objects) {
        const id = PATCH_HEADS.shape.indexOf(o.shape) + 1;
        const cell = PATCH_HEADS.cell.indexOf(o.cell) + 1;
        const own = [...shapes.keys()].filter((i) => shapes[i] === id && cells[i] === cell);
        expect(own.length, `seed ${seed} ${o.shape} ${o.cell}`).toBeGreaterThan(0);
      }
    }
  });
});

describe("attributeFeeds", () => {
  it("points the patch heads at rows 1..P and the count head at row 0 of each image", () => {
    const labels = [0, 1, 2].map((seed) => attributeLabels(composeScene({ seed }), GRID));
    const feeds = attributeFeeds(labels, GRID);
    const tokens = GRID * GRID + 1;
    const patchRows = feeds[ATTRIBUTE_INPUTS.patchPositions]!;
    expect(patchRows.length).toBe(3 * GRID * GRID);
    expect(patchRows[0]).toBe(1n);
    expect(patchRows[GRID * GRID]).toBe(BigInt(tokens + 1));
    expect([...feeds[ATTRIBUTE_INPUTS.clsPositions]!]).toEqual([0n, BigInt(tokens), BigInt(2 * tokens)]);
    expect([...feeds[ATTRIBUTE_INPUTS.target("count")]!]).toEqual(labels.map((l) => BigInt(l.count)));
    expect(Number(feeds[ATTRIBUTE_INPUTS.target("shape")]![GRID * GRID + 5])).toBe(labels[1]!.patch.shape[5]);
  });
});

describe("attributeLoss", () => {
  it("weighs each head by headWeights: (sum of w x patch head loss) / heads + w x count loss", async () => {
    const width = 8;
    const labels = [3, 4].map((seed) => attributeLabels(composeScene({ seed }), GRID));
    const tokens = GRID * GRID + 1;
    const states = new Float32Array(labels.length * tokens * width).map((_, i) => Math.sin(i * 0.37));
    const run = async (weights: Record<string, number>) => {
      const graph = new Graph("attribute-loss");
      const binding = new ParameterBinding(graph);
      const input = graph.input("states", "float32", [labels.length, tokens, width]);
      graph.output(attributeLoss(graph, binding, input, weights), "loss");
      const outputs = [...Object.keys(PATCH_HEADS), "count"].map((h) => [h, `attribute_loss_${h}`] as const);
      const feeds = attributeFeeds(labels, GRID);
      const out = await new Runtime().run(
        compile(graph),
        {
          ...parameterFeeds(binding, initParameters(binding, 1, 1)),
          states: ortTensor("float32", states, [labels.length, tokens, width]),
          ...Object.fromEntries(
            Object.entries(feeds).map(([n, d]) => [n, ortTensor("int64", d, [d.length])]),
          ),
        },
        ["loss", ...outputs.map(([, name]) => name)],
      );
      const value = (n: string) => (out[n]!.data as Float32Array)[0]!;
      return { loss: value("loss"), head: Object.fromEntries(outputs.map(([h, name]) => [h, value(name)])) };
    };
    const plain = await run({});
    const weighted = await run({ shape: 4, mark: 0 });
    const heads = Object.keys(PATCH_HEADS).length;
    const { shape, mark } = plain.head;
    expect(weighted.head).toEqual(plain.head); // the logged per-head losses stay unweighted
    expect(weighted.loss - plain.loss).toBeCloseTo((3 * shape! - mark!) / heads, 5);
    expect(shape).toBeGreaterThan(0);
    // The count head on the CLS row: weight 0 takes it out of the loss (a vision-only stage does).
    const count = plain.head.count!;
    expect(count).toBeGreaterThan(0);
    expect((await run({ count: 0 })).loss).toBeCloseTo(plain.loss - count, 5);
    expect((await run({ count: 3 })).loss).toBeCloseTo(plain.loss + 2 * count, 5);
  });
});
