import { describe, expect, it } from "vitest";
import { composeScene } from "../../../trainer/toyworld/compose";
import { pixelAt } from "../../../trainer/toyworld/image";
import { renderScene } from "../../../trainer/toyworld/render";
import type { Scene, SceneObject } from "../../../trainer/toyworld/scene";
import { SHAPE_INSIDE } from "../../../trainer/toyworld/shapes";
import { BACKGROUNDS, COLOUR_RGB, SHAPES } from "../../../trainer/toyworld/vocabulary";

const near = (a: readonly number[], b: readonly number[], tol = 2) =>
  a.every((v, i) => Math.abs(v - b[i]!) <= tol);

function single(object: Partial<SceneObject>): Scene {
  return {
    seed: 1,
    background: "cream",
    relations: [],
    objects: [
      {
        id: 0,
        shape: "square",
        colour: "red",
        pattern: "solid",
        mark: "none",
        size: "large",
        cell: "center",
        box: { x0: 0.3, y0: 0.3, x1: 0.68, y1: 0.68 },
        ...object,
      },
    ],
  };
}

describe("renderScene", () => {
  it("is deterministic: same seed, same bytes; different seeds differ", () => {
    const a = renderScene(composeScene({ seed: 42 }));
    const b = renderScene(composeScene({ seed: 42 }));
    const c = renderScene(composeScene({ seed: 43 }));
    expect(a.data.length).toBe(64 * 64 * 3);
    expect(Buffer.from(a.data).equals(Buffer.from(b.data))).toBe(true);
    expect(Buffer.from(a.data).equals(Buffer.from(c.data))).toBe(false);
  });

  it("renders at other sizes from the same scene graph", () => {
    const image = renderScene(composeScene({ seed: 5 }), { size: 96 });
    expect([image.width, image.height, image.data.length]).toEqual([96, 96, 96 * 96 * 3]);
  });

  it("paints every shape in its colour inside its box and leaves the background elsewhere", () => {
    const cream = BACKGROUNDS.cream.colours[0];
    for (const shape of SHAPES) {
      const scene = single({ shape, colour: "blue" });
      const image = renderScene(scene);
      const box = scene.objects[0]!.box;
      let inside = 0;
      let insideBlue = 0;
      for (let y = 0; y < 64; y++) {
        for (let x = 0; x < 64; x++) {
          const px = pixelAt(image, x, y);
          const u = (((x + 0.5) / 64 - (box.x0 + box.x1) / 2) / (box.x1 - box.x0)) * 2;
          const v = (((y + 0.5) / 64 - (box.y0 + box.y1) / 2) / (box.y1 - box.y0)) * 2;
          const inBox = Math.abs(u) <= 1 && Math.abs(v) <= 1;
          if (!inBox) {
            expect(near(px, cream), `${shape} background at ${x},${y}`).toBe(true);
          } else if (SHAPE_INSIDE[shape](u, v)) {
            inside++;
            if (near(px, COLOUR_RGB.blue)) insideBlue++;
          }
        }
      }
      expect(inside, shape).toBeGreaterThan(50);
      // Edge pixels are blended (anti-aliased), so "mostly" rather than "all".
      expect(insideBlue / inside, shape).toBeGreaterThan(0.75);
    }
  });

  it("anti-aliases edges with intermediate colours", () => {
    const image = renderScene(single({ shape: "circle" }));
    const cream = BACKGROUNDS.cream.colours[0];
    let blended = 0;
    for (let i = 0; i < 64 * 64; i++) {
      const px = [image.data[i * 3]!, image.data[i * 3 + 1]!, image.data[i * 3 + 2]!];
      if (!near(px, cream, 4) && !near(px, COLOUR_RGB.red, 4)) blended++;
    }
    expect(blended).toBeGreaterThan(20);
  });

  it("draws marks in the contrast colour where declared", () => {
    const dotted = renderScene(single({ mark: "dot" }));
    expect(near(pixelAt(dotted, 31, 31), [248, 248, 248])).toBe(true); // white dot at the centre of a red square
    const plain = renderScene(single({}));
    expect(near(pixelAt(plain, 31, 31), COLOUR_RGB.red)).toBe(true);
  });
});
