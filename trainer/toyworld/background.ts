// Background textures. Each is a function of the pixel and the scene seed only, so the texture is fixed
// for a scene and different between scenes; "grass" and "sand" give tiny models clutter to ignore.

import { hashUnit } from "./random";
import { BACKGROUNDS, type Background, type BackgroundStyle, type Rgb } from "./vocabulary";

function mix(a: Rgb, b: Rgb, t: number): [number, number, number] {
  return [a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t, a[2] + (b[2] - a[2]) * t];
}

/** Fills `out` (Float32 RGB, 0..255) with the background of a width x height image. */
export function paintBackground(
  out: Float32Array,
  width: number,
  height: number,
  background: Background,
  seed: number,
): void {
  const style: BackgroundStyle = BACKGROUNDS[background];
  const c0 = style.colours[0]!;
  const c1 = style.colours[1] ?? c0;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let rgb: [number, number, number];
      switch (style.kind) {
        case "plain":
          rgb = [c0[0], c0[1], c0[2]];
          break;
        case "gradient":
          rgb = mix(c0, c1, (y + 0.5) / height);
          break;
        case "noise":
          rgb = mix(c0, c1, hashUnit(seed, x, y));
          break;
        case "grass": {
          // Vertical blades: a column's shade holds for a few rows, plus fine per-pixel jitter.
          const blade = hashUnit(seed, x, Math.floor(y / 5 + hashUnit(seed ^ 1, x, 0) * 5));
          rgb = mix(c0, c1, 0.65 * blade + 0.35 * hashUnit(seed ^ 2, x, y));
          break;
        }
        case "sand": {
          const grain = hashUnit(seed, x, y);
          rgb = grain > 0.92 ? mix(c0, c1, 1) : mix(c0, c1, 0.35 * hashUnit(seed ^ 3, x, y));
          break;
        }
      }
      const i = (y * width + x) * 3;
      out[i] = rgb[0];
      out[i + 1] = rgb[1];
      out[i + 2] = rgb[2];
    }
  }
}
