// Shared by the model parity tests: the fixture directories written by tools/reference/make_fixtures.py
// and small comparison helpers.

import { join } from "node:path";
import { readSafetensorsFile, type Tensor } from "../../../trainer/engine/safetensors";

export const MODEL_FIXTURES = join(import.meta.dirname, "../../fixtures/models");

export function fixtureDir(modelType: string): string {
  return join(MODEL_FIXTURES, modelType);
}

export async function readGolden(modelType: string): Promise<Map<string, Tensor>> {
  return (await readSafetensorsFile(join(fixtureDir(modelType), "golden.safetensors"))).tensors;
}

export function maxAbsDiff(actual: ArrayLike<number>, expected: ArrayLike<number>): number {
  if (actual.length !== expected.length) {
    throw new Error(`length ${actual.length} vs expected ${expected.length}`);
  }
  let worst = 0;
  for (let i = 0; i < expected.length; i++) {
    const d = Math.abs(actual[i]! - expected[i]!);
    if (Number.isNaN(d)) return Number.NaN;
    worst = Math.max(worst, d);
  }
  return worst;
}

export function ints(t: Tensor): number[] {
  return Array.from(t.data as BigInt64Array, Number);
}

export function floats(t: Tensor): Float32Array {
  return t.data as Float32Array;
}
