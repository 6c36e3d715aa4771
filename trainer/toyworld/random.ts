// The world's only source of randomness. Scenes must be reproducible from a seed on any machine and any
// Node version, so we never touch Math.random and keep the generator tiny and fully specified:
// a SplitMix32-style counter (golden-ratio increment) finished by the murmur3 fmix32 avalanche.

const GOLDEN = 0x9e3779b9;

/** murmur3's 32-bit finalizer: every input bit flips about half of the output bits. */
export function fmix32(h: number): number {
  let z = h >>> 0;
  z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
  z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
  return (z ^ (z >>> 16)) >>> 0;
}

/** FNV-1a over UTF-16 code units, so that named streams ("positive", "<bo>") become numbers. */
export function hashString(text: string): number {
  let h = 0x811c9dc5;
  for (let i = 0; i < text.length; i++) h = Math.imul(h ^ text.charCodeAt(i), 0x01000193);
  return h >>> 0;
}

/**
 * Combines a seed with stream labels into one 32-bit state. Different labels give unrelated streams
 * for the same seed, which is how a concept's positives and its hard negatives at seed 7 differ.
 */
export function mixSeed(seed: number, ...labels: (string | number)[]): number {
  // Seeds above 2^32 (the held-out range may reach there) keep their high bits.
  let h = fmix32((seed >>> 0) ^ GOLDEN) ^ fmix32(Math.floor(seed / 0x100000000) + 0x632be5ab);
  for (const label of labels) {
    const v = typeof label === "number" ? fmix32(label >>> 0) : hashString(label);
    h = fmix32((h ^ v) + GOLDEN);
  }
  return h >>> 0;
}

/** Stateless hash of integer coordinates to [0, 1): per-pixel noise that needs no generator state. */
export function hashUnit(seed: number, x: number, y: number): number {
  return fmix32(fmix32(fmix32(seed ^ 0x27d4eb2d) + (x >>> 0)) + (y >>> 0)) / 0x100000000;
}

export class Random {
  private state: number;

  constructor(seed: number, ...labels: (string | number)[]) {
    this.state = mixSeed(seed, ...labels);
  }

  /** Next 32-bit unsigned integer. */
  nextUint32(): number {
    this.state = (this.state + GOLDEN) >>> 0;
    return fmix32(this.state);
  }

  /** Uniform in [0, 1). */
  next(): number {
    return this.nextUint32() / 0x100000000;
  }

  /** Uniform in [lo, hi). */
  uniform(lo: number, hi: number): number {
    return lo + (hi - lo) * this.next();
  }

  /** Uniform integer in [0, n). */
  int(n: number): number {
    return Math.floor(this.next() * n);
  }

  /** Uniform integer in [lo, hi] (both inclusive). */
  intBetween(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }

  chance(p: number): boolean {
    return this.next() < p;
  }

  pick<T>(items: readonly T[]): T {
    if (items.length === 0) throw new Error("Random.pick: empty list");
    return items[this.int(items.length)]!;
  }

  /** One key drawn with probability proportional to its weight (weights need not sum to 1). */
  weighted<T extends string>(weights: Partial<Record<T, number>>): T {
    const entries = Object.entries(weights) as [T, number][];
    if (entries.length === 0) throw new Error("Random.weighted: no weights");
    let r = this.next() * entries.reduce((a, [, w]) => a + w, 0);
    for (const [key, w] of entries) {
      r -= w;
      if (r < 0) return key;
    }
    // Rounding can leave r a hair above the last weight's share.
    return entries[entries.length - 1]![0];
  }

  /** Fisher-Yates on a copy. */
  shuffle<T>(items: readonly T[]): T[] {
    const out = items.slice();
    for (let i = out.length - 1; i > 0; i--) {
      const j = this.int(i + 1);
      [out[i], out[j]] = [out[j]!, out[i]!];
    }
    return out;
  }

  /** A child generator for an independent sub-task, so adding draws in one place never shifts another. */
  fork(label: string | number): Random {
    return new Random(this.nextUint32(), label);
  }
}
