import { describe, expect, it } from "vitest";
import { composeScene } from "../../../trainer/toyworld/compose";
import { boxCenter, sameIdentity } from "../../../trainer/toyworld/scene";
import { backgroundContrasts, CELLS } from "../../../trainer/toyworld/vocabulary";

const SEEDS = Array.from({ length: 300 }, (_, i) => i);

describe("composeScene", () => {
  it("is deterministic by recipe", () => {
    expect(composeScene({ seed: 9 })).toEqual(composeScene({ seed: 9 }));
    expect(composeScene({ seed: 9 })).not.toEqual(composeScene({ seed: 10 }));
    expect(composeScene({ seed: 9, stream: "x" })).not.toEqual(composeScene({ seed: 9 }));
    // Round-trips through JSON: records store recipes and scene graphs as plain data.
    const scene = composeScene({ seed: 9 });
    expect(JSON.parse(JSON.stringify(scene))).toEqual(scene);
  });

  it("places 1-4 visible, non-overlapping objects, one per grid cell, inside the image", () => {
    const counts = new Set<number>();
    for (const seed of SEEDS) {
      const scene = composeScene({ seed });
      counts.add(scene.objects.length);
      expect(scene.objects.length).toBeGreaterThanOrEqual(1);
      expect(scene.objects.length).toBeLessThanOrEqual(4);
      expect(new Set(scene.objects.map((o) => o.cell)).size).toBe(scene.objects.length);
      scene.objects.forEach((o, i) => {
        expect(o.id).toBe(i);
        expect(backgroundContrasts(scene.background, o.colour)).toBe(true);
        expect(Math.min(o.box.x0, o.box.y0)).toBeGreaterThanOrEqual(0);
        expect(Math.max(o.box.x1, o.box.y1)).toBeLessThanOrEqual(1);
        const [cx, cy] = boxCenter(o.box);
        expect(CELLS[Math.floor(cy * 3) * 3 + Math.floor(cx * 3)]).toBe(o.cell);
        for (const p of scene.objects.slice(i + 1)) {
          const apart =
            o.box.x1 <= p.box.x0 || p.box.x1 <= o.box.x0 || o.box.y1 <= p.box.y0 || p.box.y1 <= o.box.y0;
          expect(apart).toBe(true);
        }
      });
    }
    expect([...counts].sort()).toEqual([1, 2, 3, 4]);
  });

  it("states relations that hold geometrically", () => {
    for (const seed of SEEDS.slice(0, 100)) {
      const scene = composeScene({ seed });
      for (const r of scene.relations) {
        const a = scene.objects[r.subject]!.box;
        const b = scene.objects[r.object]!.box;
        const holds = {
          "left of": a.x1 <= b.x0,
          "right of": a.x0 >= b.x1,
          above: a.y1 <= b.y0,
          below: a.y0 >= b.y1,
        }[r.relation];
        expect(holds).toBe(true);
      }
    }
  });

  it("always includes subjects and never gives a distractor an excluded identity", () => {
    const bo = { shape: "star", colour: "red", pattern: "striped", mark: "dot" } as const;
    for (const seed of SEEDS.slice(0, 100)) {
      const withBo = composeScene({ seed, subjects: [{ ...bo, concept: "<bo>" }] });
      expect(withBo.objects.filter((o) => sameIdentity(o, bo))).toHaveLength(1);
      expect(withBo.objects.find((o) => sameIdentity(o, bo))?.concept).toBe("<bo>");
      const without = composeScene({ seed, exclude: [bo], minObjects: 4 });
      expect(without.objects.some((o) => sameIdentity(o, bo))).toBe(false);
    }
  });
});
