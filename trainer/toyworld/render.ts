// The rasterizer: background first, then each object by supersampling its inside-test and surface colour
// over its box. Averaging sub-samples anti-aliases edges, stripes and marks alike.

import { paintBackground } from "./background";
import type { RgbImage } from "./image";
import type { Scene, SceneObject } from "./scene";
import { SHAPE_INSIDE } from "./shapes";
import { COLOUR_RGB, contrastColourName, luminance, type Rgb } from "./vocabulary";

export const DEFAULT_IMAGE_SIZE = 64;
/** Sub-samples per pixel side: 4x4 = 16 samples, plenty for edges this small. */
export const DEFAULT_SUPERSAMPLING = 4;

export interface RenderOptions {
  /** Square image side in pixels; default 64. */
  size?: number;
  supersampling?: number;
}

export function renderScene(scene: Scene, options: RenderOptions = {}): RgbImage {
  const size = options.size ?? DEFAULT_IMAGE_SIZE;
  const ss = options.supersampling ?? DEFAULT_SUPERSAMPLING;
  const canvas = new Float32Array(size * size * 3);
  paintBackground(canvas, size, size, scene.background, scene.seed);
  for (const object of scene.objects) paintObject(canvas, size, ss, object);
  const data = new Uint8Array(canvas.length);
  for (let i = 0; i < canvas.length; i++) data[i] = Math.max(0, Math.min(255, Math.round(canvas[i]!)));
  return { width: size, height: size, data };
}

function mix(a: Rgb, b: Rgb, t: number): Rgb {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

const WHITE: Rgb = [255, 255, 255];
const BLACK: Rgb = [0, 0, 0];

/** Sizes of pattern and mark features in object units (the box spans 2); chosen to stay a couple of
 * pixels wide on a small object at 64x64. */
const STRIPE_WIDTH = 0.42;
const DOT_CELL = 0.66;
const DOT_RADIUS = 0.2;
const CHECK_CELL = 0.5;
const MARK_DOT_RADIUS = 0.34;
const MARK_BAND_HALF = 0.2;
/** The outline is a sticker-like stroke *around* the shape, not inside it: drawn inside, it would eat
 * most of a ring's or a cross's thin body and hide the object's colour. The shape shrinks to make room. */
const MARK_OUTLINE = 0.16;
const OUTLINE_SHRINK = 0.82;
const MARK_CAP_BELOW = -0.4;

/** Offsets probed to find the shape within MARK_OUTLINE of a point: 16 directions at two radii, dense
 * enough that the stroke has no gaps around star tips. */
const OUTLINE_PROBES: ReadonlyArray<readonly [number, number]> = Array.from({ length: 32 }, (_, k) => {
  const r = k < 16 ? MARK_OUTLINE : MARK_OUTLINE / 2;
  const a = ((k % 16) * Math.PI) / 8;
  return [r * Math.cos(a), r * Math.sin(a)];
});

/** The colour of `object` at (u, v) in its own coordinates, or undefined where it does not cover. */
export function objectSampler(object: SceneObject): (u: number, v: number) => Rgb | undefined {
  const shape = SHAPE_INSIDE[object.shape];
  const inside =
    object.mark === "outline"
      ? (u: number, v: number) => shape(u / OUTLINE_SHRINK, v / OUTLINE_SHRINK)
      : shape;
  const base = COLOUR_RGB[object.colour];
  // Pattern secondaries are a tint of the object's own colour, so "what colour is it?" has one answer.
  const secondary = luminance(base) < 0.5 ? mix(base, WHITE, 0.55) : mix(base, BLACK, 0.45);
  const markRgb = COLOUR_RGB[contrastColourName(object.colour)];
  const top = mix(base, WHITE, 0.4);
  const bottom = mix(base, BLACK, 0.4);
  const wrap = (x: number, cell: number) => x / cell - Math.floor(x / cell);

  return (u, v) => {
    if (object.mark === "dot" && u * u + v * v <= MARK_DOT_RADIUS * MARK_DOT_RADIUS) return markRgb;
    if (!inside(u, v)) {
      if (object.mark === "outline" && OUTLINE_PROBES.some(([du, dv]) => inside(u + du, v + dv)))
        return markRgb;
      return undefined;
    }
    switch (object.mark) {
      case "band":
        if (Math.abs(v) <= MARK_BAND_HALF) return markRgb;
        break;
      case "cap":
        if (v <= MARK_CAP_BELOW) return markRgb;
        break;
    }
    switch (object.pattern) {
      case "solid":
        return base;
      case "striped":
        return Math.floor((u + v + 8) / STRIPE_WIDTH) % 2 === 0 ? base : secondary;
      case "dotted": {
        const du = wrap(u + 8, DOT_CELL) - 0.5;
        const dv = wrap(v + 8, DOT_CELL) - 0.5;
        const r = DOT_RADIUS / DOT_CELL;
        return du * du + dv * dv <= r * r ? secondary : base;
      }
      case "checkered":
        return (Math.floor((u + 8) / CHECK_CELL) + Math.floor((v + 8) / CHECK_CELL)) % 2 === 0
          ? base
          : secondary;
      case "gradient":
        return mix(top, bottom, (v + 1) / 2);
    }
  };
}

function paintObject(canvas: Float32Array, size: number, ss: number, object: SceneObject): void {
  const sample = objectSampler(object);
  const cx = ((object.box.x0 + object.box.x1) / 2) * size;
  const cy = ((object.box.y0 + object.box.y1) / 2) * size;
  const half = ((object.box.x1 - object.box.x0) / 2) * size;
  const px0 = Math.max(0, Math.floor(cx - half));
  const px1 = Math.min(size, Math.ceil(cx + half));
  const py0 = Math.max(0, Math.floor(cy - half));
  const py1 = Math.min(size, Math.ceil(cy + half));
  const samples = ss * ss;
  const lo = 0.5 / ss;
  const hi = 1 - 0.5 / ss;
  for (let py = py0; py < py1; py++) {
    for (let px = px0; px < px1; px++) {
      const i = (py * size + px) * 3;
      // Most pixels are uniform (all background or all one colour). The outermost sub-samples decide
      // that cheaply; features here are wider than their spacing, so only mixed pixels pay for all.
      const u0 = (px + lo - cx) / half;
      const u1 = (px + hi - cx) / half;
      const v0 = (py + lo - cy) / half;
      const v1 = (py + hi - cy) / half;
      const a = sample(u0, v0);
      const b = sample(u1, v0);
      const c = sample(u0, v1);
      const d = sample(u1, v1);
      if (!a && !b && !c && !d) continue;
      if (a && b && c && d && close(a, b) && close(a, c) && close(a, d)) {
        canvas[i] = (a[0] + b[0] + c[0] + d[0]) / 4;
        canvas[i + 1] = (a[1] + b[1] + c[1] + d[1]) / 4;
        canvas[i + 2] = (a[2] + b[2] + c[2] + d[2]) / 4;
        continue;
      }
      let r = 0;
      let g = 0;
      let bl = 0;
      let covered = 0;
      for (let sy = 0; sy < ss; sy++) {
        const v = (py + (sy + 0.5) / ss - cy) / half;
        for (let sx = 0; sx < ss; sx++) {
          const u = (px + (sx + 0.5) / ss - cx) / half;
          const colour = sample(u, v);
          if (!colour) continue;
          r += colour[0];
          g += colour[1];
          bl += colour[2];
          covered++;
        }
      }
      if (covered === 0) continue;
      const keep = 1 - covered / samples;
      canvas[i] = canvas[i]! * keep + r / samples;
      canvas[i + 1] = canvas[i + 1]! * keep + g / samples;
      canvas[i + 2] = canvas[i + 2]! * keep + bl / samples;
    }
  }
}

/** Colours within a rounding step of each other: a gradient across one pixel still counts as uniform. */
function close(a: Rgb, b: Rgb): boolean {
  return Math.abs(a[0] - b[0]) <= 2 && Math.abs(a[1] - b[1]) <= 2 && Math.abs(a[2] - b[2]) <= 2;
}
