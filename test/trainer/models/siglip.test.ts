// The SigLIP vision tower (Idefics3 flavour) against transformers: post_layernorm hidden states of the tiny
// idefics3 fixture, the bucketed position ids, and the pixel shuffle.

import { afterAll, describe, expect, it } from "vitest";
import { compile, Graph, ortTensor, Runtime } from "../../../trainer/engine/index";
import { pixelShuffle } from "../../../trainer/models/connectors";
import { idefics3ConfigFromHf } from "../../../trainer/models/idefics3";
import { openHfSnapshot, readWeightsFloat32, snapshotWeights } from "../../../trainer/models/loader";
import { idefics3PositionIds, SiglipVisionTower } from "../../../trainer/models/siglip";
import { fixtureDir, floats, ints, maxAbsDiff, readGolden } from "./golden";

// float32 tower vs the float64 golden (observed ~1e-6).
const HIDDEN_TOLERANCE = 2e-5;

const runtime = new Runtime();
afterAll(() => runtime.release());

describe("SigLIP vision tower vs transformers (Idefics3VisionTransformer)", async () => {
  const golden = await readGolden("idefics3");
  const snapshot = await openHfSnapshot(fixtureDir("idefics3"));
  const values = await readWeightsFloat32(snapshot);
  await snapshot.checkpoint.close();
  const config = idefics3ConfigFromHf(snapshot.config).vision;

  it("post_layernorm hidden states, with default and with explicit position ids", async () => {
    const g = new Graph("siglip-tower");
    const tower = new SiglipVisionTower(g, config, snapshotWeights(g, snapshot, values));
    const px = g.input("pixel_values", "float32", ["images", 3, 32, 32]);
    const ids = g.input("position_ids", "int64", ["images", 16]);
    g.output(tower.forward(px), "full_image");
    g.output(tower.forward(px, ids), "with_ids");
    const out = await runtime.run(compile(g), {
      pixel_values: ortTensor("float32", floats(golden.get("pixel_values")!), [1, 3, 32, 32]),
      position_ids: ortTensor("int64", idefics3PositionIds(4, 4, 4), [1, 16]),
    });
    const expected = floats(golden.get("vision_hidden")!);
    expect(out.full_image!.dims).toEqual([1, 16, 32]);
    expect(maxAbsDiff(out.full_image!.data as Float32Array, expected)).toBeLessThanOrEqual(HIDDEN_TOLERANCE);
    expect(maxAbsDiff(out.with_ids!.data as Float32Array, expected)).toBeLessThanOrEqual(HIDDEN_TOLERANCE);
  });

  it("bucketed position ids as Idefics3VisionEmbeddings computes them", () => {
    expect(Array.from(idefics3PositionIds(4, 4, 4), Number)).toEqual(
      ints(golden.get("vision_position_ids")!),
    );
    // A full 26 x 26 grid maps onto the table one to one.
    expect(Array.from(idefics3PositionIds(26, 26, 26), Number)).toEqual(
      Array.from({ length: 676 }, (_, i) => i),
    );
    // A 20 x 13 patch image on a 26 x 26 table; buckets from torch.bucketize in transformers' code.
    const rows = [0, 1, 2, 3, 5, 6, 7, 9, 10, 11, 13, 14, 15, 16, 18, 19, 20, 22, 23, 24];
    const cols = [0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24];
    const ids = Array.from(idefics3PositionIds(26, 20, 13, 20, 16), Number);
    for (const [i, r] of rows.entries()) {
      expect(ids.slice(i * 16, i * 16 + 13)).toEqual(cols.map((c) => r * 26 + c));
      expect(ids.slice(i * 16 + 13, i * 16 + 16)).toEqual([0, 0, 0]); // padding patches
    }
  });

  it("pixel shuffle matches HF's reshapes and permutes", async () => {
    const g = new Graph("pixel-shuffle");
    const x = g.input("x", "float32", ["n", 16, 2]);
    g.output(pixelShuffle(x, 2), "y");
    const data = Float32Array.from({ length: 32 }, (_, i) => i);
    const out = await runtime.run(compile(g), { x: ortTensor("float32", data, [1, 16, 2]) });
    expect(out.y!.dims).toEqual([1, 4, 8]);
    // torch: Idefics3Connector.pixel_shuffle(torch.arange(32).view(1, 16, 2), 2).flatten()
    expect(Array.from(out.y!.data as Float32Array)).toEqual([
      0, 1, 2, 3, 8, 9, 10, 11, 4, 5, 6, 7, 12, 13, 14, 15, 16, 17, 18, 19, 24, 25, 26, 27, 20, 21, 22, 23,
      28, 29, 30, 31,
    ]);
  });
});
