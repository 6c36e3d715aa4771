// subjectRows: the rows every positive shares and the negatives lack, found without labels.

import { describe, expect, it } from "vitest";
import { SeededRandom } from "../../../trainer/personalize/random";
import { subjectRows } from "../../../trainer/personalize/subject-location";

const H = 24;
const ROWS = 12;
const rng = new SeededRandom(5);
const randomRow = () => Array.from({ length: H }, () => rng.normal());
const near = (row: number[]) => row.map((x) => x + 0.1 * rng.normal());

/** An image of random rows with `placed` rows set (row index -> vector). */
function image(placed: Map<number, number[]>): Float32Array {
  const f = new Float32Array(ROWS * H);
  for (let r = 0; r < ROWS; r++) f.set(placed.get(r) ?? randomRow(), r * H);
  return f;
}

describe("subjectRows", () => {
  it("picks the rows of the subject every positive shows, not what the negatives show too", () => {
    const subject = randomRow();
    const texture = randomRow(); // in every image, positives and negatives alike
    const where = [[2, 3], [7], [0, 1], [10, 11]];
    // The texture sits at row 5 of every positive and row 6 of every negative.
    const positives = where.map((rows) =>
      image(new Map([...rows.map((r) => [r, near(subject)] as const), [5, near(texture)]])),
    );
    const negatives = [0, 1, 2, 3].map(() => image(new Map([[6, near(texture)]])));
    expect(subjectRows(positives, negatives, H)).toEqual(where);
  });

  it("without negatives still finds what the positives share", () => {
    const subject = randomRow();
    const positives = [3, 8, 1].map((r) => image(new Map([[r, near(subject)]])));
    expect(subjectRows(positives, [], H)).toEqual([[3], [8], [1]]);
  });
});
