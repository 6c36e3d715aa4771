// Where the subject is in each positive photo, without labels: the image rows (the base's projected
// patch features) that have a close match in the other positives but not in random negatives. The subject
// is the one thing every photo shares; backgrounds and other objects rarely repeat, and what repeats
// everywhere (CLS-like rows, common textures) matches the negatives as well. On the toy LLaVA at 8 photos
// the rows picked lie inside the subject's box 81-100% of the time and cover 69-98% of it (per concept;
// README.md, "The locating head").
//
// The locating head's loss (concept-batch.ts) aims a "yes" at these rows instead of the whole photo: with
// the whole photo as the target, 4-5 training photos let the rows settle on whatever else those photos
// share.

/** Unit-length copy of each of the `rows` rows of `features` ([rows * hidden]). */
function normalizedRows(features: Float32Array, hidden: number): Float32Array {
  const out = new Float32Array(features.length);
  for (let r = 0; r * hidden < features.length; r++) {
    let sq = 0;
    for (let j = 0; j < hidden; j++) sq += features[r * hidden + j]! ** 2;
    const scale = sq > 0 ? 1 / Math.sqrt(sq) : 0;
    for (let j = 0; j < hidden; j++) out[r * hidden + j] = features[r * hidden + j]! * scale;
  }
  return out;
}

/**
 * For each row of `a`, its best cosine against the rows of `b`, and for each row of `b` its best against
 * `a` (both normalized): one pass over the dot products serves both directions.
 */
function bestMatches(a: Float32Array, b: Float32Array, hidden: number): [Float64Array, Float64Array] {
  const ra = a.length / hidden;
  const rb = b.length / hidden;
  const bestA = new Float64Array(ra).fill(-Infinity);
  const bestB = new Float64Array(rb).fill(-Infinity);
  for (let p = 0; p < ra; p++) {
    for (let q = 0; q < rb; q++) {
      let dot = 0;
      for (let j = 0; j < hidden; j++) dot += a[p * hidden + j]! * b[q * hidden + j]!;
      if (dot > bestA[p]!) bestA[p] = dot;
      if (dot > bestB[q]!) bestB[q] = dot;
    }
  }
  return [bestA, bestB];
}

/**
 * Per positive image (features [rows * hidden] each), the rows where the subject most likely is: a row
 * scores its mean best cosine against the other positives minus its mean best cosine against the
 * negatives; rows within half the way from the median score to the top score are picked (at least one).
 */
export function subjectRows(
  positives: readonly Float32Array[],
  negatives: readonly Float32Array[],
  hidden: number,
): number[][] {
  const pos = positives.map((f) => normalizedRows(f, hidden));
  const neg = negatives.map((f) => normalizedRows(f, hidden));
  const scores = pos.map((image) => new Float64Array(image.length / hidden));
  // + or - the mean over `count` images, accumulated one image at a time.
  const addTo = (score: Float64Array, best: Float64Array, sign: number, count: number) => {
    for (let r = 0; r < score.length; r++) score[r] = score[r]! + (sign * best[r]!) / count;
  };
  // Each pair of positives once, both directions.
  for (let i = 0; i < pos.length; i++) {
    for (let j = i + 1; j < pos.length; j++) {
      const [fromI, fromJ] = bestMatches(pos[i]!, pos[j]!, hidden);
      addTo(scores[i]!, fromI, 1, pos.length - 1);
      addTo(scores[j]!, fromJ, 1, pos.length - 1);
    }
    for (const n of neg) addTo(scores[i]!, bestMatches(pos[i]!, n, hidden)[0], -1, neg.length);
  }
  return scores.map((score) => {
    const sorted = [...score].sort((a, b) => b - a);
    const top = sorted[0]!;
    const threshold = top - 0.5 * (top - sorted[Math.floor(sorted.length / 2)]!);
    const picked: number[] = [];
    score.forEach((s, r) => {
      if (s >= threshold) picked.push(r);
    });
    return picked;
  });
}
