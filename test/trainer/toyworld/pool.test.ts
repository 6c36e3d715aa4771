import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import sharp from "sharp";
import { describe, expect, it } from "vitest";
import { composeScene } from "../../../trainer/toyworld/compose";
import { CONCEPTS } from "../../../trainer/toyworld/concepts";
import { type PoolManifest, poolRecipe, writeNegativesPool } from "../../../trainer/toyworld/pool";
import { renderScene } from "../../../trainer/toyworld/render";
import { sameIdentity } from "../../../trainer/toyworld/scene";
import { SPLITS } from "../../../trainer/toyworld/splits";

describe("negatives pool", () => {
  it("writes PNGs whose pixels re-render exactly from the manifest", async () => {
    const dir = await mkdtemp(join(tmpdir(), "toyworld-pool-"));
    try {
      const manifest = await writeNegativesPool({ out: dir, count: 3 });
      const onDisk = JSON.parse(await readFile(join(dir, "manifest.json"), "utf8")) as PoolManifest;
      expect(onDisk).toEqual(manifest);
      expect(manifest.items.map((i) => i.seed)).toEqual([0, 1, 2].map((i) => SPLITS.pool.start + i));
      for (const item of manifest.items) {
        const { data, info } = await sharp(join(dir, item.file)).raw().toBuffer({ resolveWithObject: true });
        expect([info.width, info.height, info.channels]).toEqual([64, 64, 3]);
        const scene = composeScene(item.recipe);
        expect(scene).toEqual(item.scene);
        expect(Buffer.from(renderScene(scene).data).equals(data)).toBe(true);
      }
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("refuses held-out seeds, and never shows a catalogue concept", async () => {
    await expect(
      writeNegativesPool({ out: "/nonexistent", count: 2, seed: SPLITS.test.start }),
    ).rejects.toThrow(RangeError);
    for (let seed = SPLITS.pool.start; seed < SPLITS.pool.start + 50; seed++) {
      const scene = composeScene(poolRecipe(seed));
      for (const c of CONCEPTS) expect(scene.objects.some((o) => sameIdentity(o, c.identity))).toBe(false);
    }
  });
});
