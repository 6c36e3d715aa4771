// Seed ranges. Every record, image and concept sample is keyed by an integer seed, and the split a seed
// belongs to is decided by its range alone, so "held-out" is a property anyone can check: no training
// code path takes a seed at or above HELD_OUT_START.

export const SPLITS = {
  /** Base-model pretraining/instruction data and concept training positives/negatives. */
  train: { start: 0, end: 1_000_000 },
  /** Model selection and early stopping during training. */
  val: { start: 1_000_000, end: 2_000_000 },
  /** The negatives pool (retrieval), disjoint from train so pool images are not also training scenes. */
  pool: { start: 2_000_000, end: 100_000_000 },
  /** Held out: evaluation only, never seen by any training. */
  test: { start: 1_000_000_000, end: 2_000_000_000 },
} as const;

export type Split = keyof typeof SPLITS;
export const SPLIT_NAMES = Object.keys(SPLITS) as Split[];
export const HELD_OUT_START = SPLITS.test.start;

export function splitOf(seed: number): Split | undefined {
  return SPLIT_NAMES.find((s) => seed >= SPLITS[s].start && seed < SPLITS[s].end);
}

/** Seeds `offset, offset + 1, ...` of a split, failing loudly when a request would leave the range. */
export function splitSeeds(split: Split, offset: number, count: number): number[] {
  const { start, end } = SPLITS[split];
  if (!Number.isInteger(offset) || offset < 0 || start + offset + count > end) {
    throw new RangeError(
      `splitSeeds: ${split} has ${end - start} seeds; asked for [${offset}, ${offset + count})`,
    );
  }
  return Array.from({ length: count }, (_, i) => start + offset + i);
}

/** Guard for training code paths: throws if any seed is held out. */
export function assertTrainingSeeds(seeds: Iterable<number>): void {
  for (const seed of seeds) {
    if (seed >= HELD_OUT_START) throw new RangeError(`seed ${seed} is held out for evaluation`);
  }
}
