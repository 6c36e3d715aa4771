// Loss curves drawn into an RGB buffer (one panel per stage, loss against step, axes from 0) and written
// as PNG with sharp: no plotting dependency, and the picture is committed next to the models.

import sharp from "sharp";
import type { LossPoint } from "./optimize";

export interface StageCurve {
  curve: LossPoint[];
  seconds: number;
  finalLoss: number;
  wallSeconds?: number;
}

export type CurveSet = Record<string, StageCurve>;

const PANEL_W = 320;
const PANEL_H = 200;
const MARGIN = 24;
const COLOURS: [number, number, number][] = [
  [214, 39, 40],
  [31, 119, 180],
  [44, 160, 44],
  [148, 103, 189],
  [255, 127, 14],
];

// 3x5 digit glyphs, enough to label each panel's stage number and its top loss value.
const GLYPHS: Record<string, string[]> = {
  "0": ["111", "101", "101", "101", "111"],
  "1": ["010", "110", "010", "010", "111"],
  "2": ["111", "001", "111", "100", "111"],
  "3": ["111", "001", "111", "001", "111"],
  "4": ["101", "101", "111", "001", "001"],
  "5": ["111", "100", "111", "001", "111"],
  "6": ["111", "100", "111", "101", "111"],
  "7": ["111", "001", "001", "001", "001"],
  "8": ["111", "101", "111", "101", "111"],
  "9": ["111", "101", "111", "001", "111"],
  ".": ["000", "000", "000", "000", "010"],
};

export async function drawLossCurves(curves: CurveSet, path: string): Promise<void> {
  const stages = Object.entries(curves).filter(([, c]) => c.curve.length > 0);
  const width = PANEL_W * Math.max(1, stages.length);
  const height = PANEL_H;
  const rgb = new Uint8Array(width * height * 3).fill(255);
  const set = (x: number, y: number, c: readonly number[]) => {
    if (x < 0 || y < 0 || x >= width || y >= height) return;
    const i = (Math.round(y) * width + Math.round(x)) * 3;
    rgb[i] = c[0]!;
    rgb[i + 1] = c[1]!;
    rgb[i + 2] = c[2]!;
  };
  const text = (x0: number, y0: number, s: string, c: readonly number[]) => {
    [...s].forEach((ch, k) => {
      const glyph = GLYPHS[ch];
      if (!glyph) return;
      glyph.forEach((row, gy) => {
        [...row].forEach((bit, gx) => {
          if (bit === "1")
            for (let d = 0; d < 4; d++) set(x0 + k * 8 + gx * 2 + (d % 2), y0 + gy * 2 + (d >> 1), c);
        });
      });
    });
  };
  stages.forEach(([, stage], p) => {
    const left = p * PANEL_W + MARGIN;
    const right = (p + 1) * PANEL_W - 8;
    const top = MARGIN;
    const bottom = PANEL_H - MARGIN;
    for (let x = left; x <= right; x++) set(x, bottom, [0, 0, 0]);
    for (let y = top; y <= bottom; y++) set(left, y, [0, 0, 0]);
    const maxLoss = Math.max(...stage.curve.map((q) => q.loss));
    const maxStep = stage.curve[stage.curve.length - 1]!.step;
    const colour = COLOURS[p % COLOURS.length]!;
    const at = (q: LossPoint): [number, number] => [
      left + ((right - left) * q.step) / maxStep,
      bottom - ((bottom - top) * q.loss) / maxLoss,
    ];
    for (let i = 1; i < stage.curve.length; i++) {
      const [x0, y0] = at(stage.curve[i - 1]!);
      const [x1, y1] = at(stage.curve[i]!);
      const n = Math.ceil(Math.max(Math.abs(x1 - x0), Math.abs(y1 - y0))) + 1;
      for (let k = 0; k <= n; k++) {
        const x = x0 + ((x1 - x0) * k) / n;
        const y = y0 + ((y1 - y0) * k) / n;
        set(x, y, colour);
        set(x, y + 1, colour);
      }
    }
    text(p * PANEL_W + 4, 4, String(p + 1), [0, 0, 0]);
    text(left + 8, 4, maxLoss.toFixed(2), colour);
  });
  await sharp(Buffer.from(rgb), { raw: { width, height, channels: 3 } })
    .png()
    .toFile(path);
}
