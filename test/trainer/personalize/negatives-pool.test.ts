import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { beforeAll, describe, expect, it } from "vitest";
import { Runtime } from "../../../trainer/engine/index";
import { ClipImageEncoder } from "../../../trainer/personalize/clip-encoder";
import { buildNegativesPool, NegativesPool } from "../../../trainer/personalize/negatives-pool";
import { SeededRandom } from "../../../trainer/personalize/random";
import { encodePng } from "../../../trainer/toyworld/index";
import { CLIP_DIR, photo } from "./fixture";

let dir: string;
let clip: ClipImageEncoder;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "yo-pool-"));
  for (let i = 0; i < 12; i++) writeFileSync(join(dir, `img-${i}.png`), await encodePng(photo(100 + i)));
  writeFileSync(join(dir, "broken.png"), new Uint8Array([137, 80, 78, 71, 0]));
  clip = await ClipImageEncoder.load(CLIP_DIR, new Runtime(), "test/tiny-clip");
});

describe("negatives pool", () => {
  it("builds a persisted index and retrieves the exact cosine top-m", async () => {
    const report = await buildNegativesPool(dir, clip, { batchSize: 5 });
    expect(report).toMatchObject({ images: 12, skipped: ["broken.png"], dim: 16 });
    const pool = await NegativesPool.open(dir, clip);
    const queries = await clip.embed([photo(100), photo(105)]);
    const top = pool.hardNegatives(queries, 4);
    // Brute force over freshly computed embeddings; the pool photo identical to a query is not a negative.
    const all = await clip.embed(await Promise.all(pool.files.map((_, i) => pool.image(i))));
    const mean = new Float64Array(16);
    for (let j = 0; j < 16; j++) mean[j] = queries[j]! + queries[16 + j]!;
    const norm = Math.hypot(...mean);
    const sims = pool.files.map((_, i) => {
      let s = 0;
      for (let j = 0; j < 16; j++) s += (all[i * 16 + j]! * mean[j]!) / norm;
      return s;
    });
    const expected = [...sims.keys()].filter((i) => sims[i]! < 0.999).sort((a, b) => sims[b]! - sims[a]!);
    // The index was embedded in batches of 5 and the brute force in one batch, so two near-equal
    // similarities may swap by float32 rounding: compare the similarity at each rank, not the index.
    expect(new Set(top).size).toBe(4);
    top.forEach((i, rank) => {
      expect(sims[i]!).toBeLessThan(0.999);
      expect(sims[i]!).toBeCloseTo(sims[expected[rank]!]!, 5);
    });
    const easy = pool.easyNegatives(5, new SeededRandom(1), new Set(top));
    expect(easy).toHaveLength(5);
    for (const i of easy) expect(top).not.toContain(i);
  });

  it("refuses an index made with another CLIP", async () => {
    await buildNegativesPool(dir, clip);
    await expect(
      NegativesPool.open(dir, {
        fingerprint: { ...clip.fingerprint, config_hash: "0000000000000000" },
        weights: clip.weights,
      }),
    ).rejects.toMatchObject({ code: "pool_mismatch" });
    await expect(
      NegativesPool.open(dir, { fingerprint: clip.fingerprint, weights: "retrained" }),
    ).rejects.toMatchObject({
      code: "pool_mismatch",
    });
    await expect(NegativesPool.open(mkdtempSync(join(tmpdir(), "yo-empty-")))).rejects.toMatchObject({
      code: "pool_mismatch",
    });
  });
});
