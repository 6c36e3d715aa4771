// Shapes as inside-tests in the object's own coordinates: u, v in [-1, 1] across its box, v grows down.
// The rasterizer supersamples these tests, which gives anti-aliased edges for any shape without
// per-shape edge code.

import type { Shape } from "./vocabulary";

type Point = readonly [number, number];

function regularPolygon(sides: number, radius: number, rotation: number): Point[] {
  return Array.from({ length: sides }, (_, i) => {
    const a = rotation + (2 * Math.PI * i) / sides;
    return [radius * Math.cos(a), radius * Math.sin(a)] as const;
  });
}

function starPolygon(points: number, outer: number, inner: number): Point[] {
  return Array.from({ length: points * 2 }, (_, i) => {
    const r = i % 2 === 0 ? outer : inner;
    const a = -Math.PI / 2 + (Math.PI * i) / points;
    return [r * Math.cos(a), r * Math.sin(a) + 0.1] as const; // nudged down: a star's mass sits low
  });
}

/** Even-odd crossing test; fine for the simple polygons used here. */
function insidePolygon(polygon: readonly Point[], u: number, v: number): boolean {
  let inside = false;
  for (let i = 0, j = polygon.length - 1; i < polygon.length; j = i++) {
    const [xi, yi] = polygon[i]!;
    const [xj, yj] = polygon[j]!;
    if (yi > v !== yj > v && u < ((xj - xi) * (v - yi)) / (yj - yi) + xi) inside = !inside;
  }
  return inside;
}

const TRIANGLE: Point[] = [
  [0, -0.92],
  [0.95, 0.8],
  [-0.95, 0.8],
];
const STAR = starPolygon(5, 1.0, 0.45);
const HEXAGON = regularPolygon(6, 0.95, 0);

export const SHAPE_INSIDE: Record<Shape, (u: number, v: number) => boolean> = {
  circle: (u, v) => u * u + v * v <= 0.92 * 0.92,
  square: (u, v) => Math.abs(u) <= 0.82 && Math.abs(v) <= 0.82,
  triangle: (u, v) => insidePolygon(TRIANGLE, u, v),
  star: (u, v) => insidePolygon(STAR, u, v),
  heart: (u, v) => {
    // The classic implicit heart (x^2 + y^2 - 1)^3 - x^2 y^3 <= 0, scaled to fill the box.
    const x = u * 1.2;
    const y = -v * 1.2 + 0.15;
    const q = x * x + y * y - 1;
    return q * q * q - x * x * y * y * y <= 0;
  },
  ring: (u, v) => {
    const r2 = u * u + v * v;
    return r2 <= 0.95 * 0.95 && r2 >= 0.5 * 0.5;
  },
  cross: (u, v) => {
    const au = Math.abs(u);
    const av = Math.abs(v);
    return (au <= 0.3 && av <= 0.92) || (av <= 0.3 && au <= 0.92);
  },
  diamond: (u, v) => Math.abs(u) / 0.8 + Math.abs(v) <= 0.98,
  hexagon: (u, v) => insidePolygon(HEXAGON, u, v),
  crescent: (u, v) => {
    const inOuter = u * u + v * v <= 0.92 * 0.92;
    const du = u - 0.42;
    const dv = v + 0.18;
    return inOuter && du * du + dv * dv > 0.7 * 0.7;
  },
};
