// Next-token choice from a logits row: greedy, or temperature -> top-k -> top-p (nucleus) sampling, in
// transformers' order, with a seeded generator so a seed reproduces a sample.

export interface SamplingOptions {
  /** 0 (default) is greedy; otherwise logits are divided by it before top-k / top-p. */
  temperature?: number;
  /** Keep the k most likely tokens (0 or absent: all). */
  topK?: number;
  /** Keep the smallest set of most likely tokens whose probability reaches p (1 or absent: all). */
  topP?: number;
  /** Seed of the sampling generator (default 0). */
  seed?: number;
}

/** xoshiro128** seeded through splitmix32: small, fast, and the same sequence on every platform. */
export class SeededRandom {
  private s: Uint32Array;

  constructor(seed = 0) {
    let x = seed >>> 0;
    const splitmix = () => {
      x = (x + 0x9e3779b9) >>> 0;
      let z = x;
      z = Math.imul(z ^ (z >>> 16), 0x85ebca6b) >>> 0;
      z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35) >>> 0;
      return (z ^ (z >>> 16)) >>> 0;
    };
    this.s = Uint32Array.from([splitmix(), splitmix(), splitmix(), splitmix()]);
  }

  /** Uniform in [0, 1). */
  next(): number {
    const s = this.s;
    const [s0, s1, s2, s3] = [s[0]!, s[1]!, s[2]!, s[3]!];
    const result = Math.imul(rotl(Math.imul(s1, 5) >>> 0, 7), 9) >>> 0;
    const t = (s1 << 9) >>> 0;
    const n2 = s2 ^ s0;
    const n3 = s3 ^ s1;
    s[1] = s1 ^ n2;
    s[0] = s0 ^ n3;
    s[2] = n2 ^ t;
    s[3] = rotl(n3 >>> 0, 11);
    return result / 4294967296;
  }
}

function rotl(x: number, k: number): number {
  return ((x << k) | (x >>> (32 - k))) >>> 0;
}

/** Index of the largest value (the first one on ties, as torch.argmax). */
export function argmax(values: ArrayLike<number>): number {
  let best = 0;
  for (let i = 1; i < values.length; i++) if (values[i]! > values[best]!) best = i;
  return best;
}

/** log softmax of a logits row, in float64. */
export function logSoftmax(logits: ArrayLike<number>): Float64Array {
  let max = Number.NEGATIVE_INFINITY;
  for (let i = 0; i < logits.length; i++) max = Math.max(max, logits[i]!);
  let sum = 0;
  for (let i = 0; i < logits.length; i++) sum += Math.exp(logits[i]! - max);
  const lse = max + Math.log(sum);
  const out = new Float64Array(logits.length);
  for (let i = 0; i < logits.length; i++) out[i] = logits[i]! - lse;
  return out;
}

/**
 * The distribution sampling draws from: probabilities over the vocabulary after temperature, top-k and
 * top-p (zeros outside the kept set), renormalized. Greedy options give a one-hot at the argmax.
 */
export function samplingDistribution(logits: ArrayLike<number>, options: SamplingOptions = {}): Float64Array {
  const n = logits.length;
  const probs = new Float64Array(n);
  const temperature = options.temperature ?? 0;
  if (temperature <= 0) {
    probs[argmax(logits)] = 1;
    return probs;
  }
  const order = Array.from({ length: n }, (_, i) => i).sort((a, b) => logits[b]! - logits[a]! || a - b);
  const topK = options.topK && options.topK > 0 ? Math.min(options.topK, n) : n;
  const kept = order.slice(0, topK);
  const max = logits[kept[0]!]! / temperature;
  let sum = 0;
  for (const i of kept) {
    probs[i] = Math.exp(logits[i]! / temperature - max);
    sum += probs[i]!;
  }
  const topP = options.topP ?? 1;
  let keep = kept.length;
  if (topP < 1) {
    // Smallest prefix of the sorted tokens whose mass reaches topP (at least one token).
    let mass = 0;
    keep = 0;
    while (keep < kept.length && (keep === 0 || mass < topP * sum)) mass += probs[kept[keep++]!]!;
    for (let j = keep; j < kept.length; j++) probs[kept[j]!] = 0;
    sum = mass;
  }
  for (let j = 0; j < keep; j++) probs[kept[j]!]! /= sum;
  return probs;
}

/** Draws the next token id from a logits row. */
export function sampleToken(
  logits: ArrayLike<number>,
  options: SamplingOptions,
  random: SeededRandom,
): number {
  if ((options.temperature ?? 0) <= 0) return argmax(logits);
  const probs = samplingDistribution(logits, options);
  const u = random.next();
  let acc = 0;
  let last = 0;
  for (let i = 0; i < probs.length; i++) {
    if (probs[i] === 0) continue;
    acc += probs[i]!;
    last = i;
    if (u < acc) return i;
  }
  return last; // rounding left u above the total mass
}
