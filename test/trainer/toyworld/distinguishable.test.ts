import { describe, expect, it } from "vitest";
import { CONCEPTS } from "../../../trainer/toyworld/concepts";
import { renderScene } from "../../../trainer/toyworld/render";
import type { ObjectIdentity, Scene } from "../../../trainer/toyworld/scene";
import { MARKS, NEAR_COLOURS, NEAR_SHAPES, PATTERNS } from "../../../trainer/toyworld/vocabulary";

/** Pixels whose summed channel difference exceeds this count as visibly different. */
const VISIBLE = 60;
/** Every possible one-attribute hard negative must differ from its concept in at least this many pixels
 * when both are drawn at the smallest size at 64x64: otherwise personalization would be unlearnable. */
const MIN_DIFFERENT_PIXELS = 10;

function alone(o: ObjectIdentity): Scene {
  const object = { id: 0, ...o, size: "small" as const, cell: "center" as const };
  return {
    seed: 1,
    background: "slate",
    relations: [],
    objects: [{ ...object, box: { x0: 0.38, y0: 0.38, x1: 0.62, y1: 0.62 } }],
  };
}

function differentPixels(a: ObjectIdentity, b: ObjectIdentity): number {
  const x = renderScene(alone(a)).data;
  const y = renderScene(alone(b)).data;
  let n = 0;
  for (let i = 0; i < x.length; i += 3) {
    const d = Math.abs(x[i]! - y[i]!) + Math.abs(x[i + 1]! - y[i + 1]!) + Math.abs(x[i + 2]! - y[i + 2]!);
    if (d > VISIBLE) n++;
  }
  return n;
}

describe("hard negatives are visible at 64x64", () => {
  it("for every concept and every one-attribute change, even at the smallest size", () => {
    for (const c of CONCEPTS) {
      const o = c.identity;
      const variants: ObjectIdentity[] = [
        ...MARKS.filter((m) => m !== o.mark).map((mark) => ({ ...o, mark })),
        ...PATTERNS.filter((p) => p !== o.pattern).map((pattern) => ({ ...o, pattern })),
        ...NEAR_COLOURS[o.colour].map((colour) => ({ ...o, colour })),
        ...NEAR_SHAPES[o.shape].map((shape) => ({ ...o, shape })),
      ];
      for (const v of variants) {
        expect(differentPixels(o, v), `${c.name} vs ${JSON.stringify(v)}`).toBeGreaterThanOrEqual(
          MIN_DIFFERENT_PIXELS,
        );
      }
    }
  });
});
