// A concept at a glance: one row of positives, one row per kind of hard negative (single attribute
// changed), one row of easy negatives. For people checking that the world is learnable by eye.

import { renderSample } from "./batches";
import {
  type ConceptSample,
  conceptEasyNegative,
  conceptHardNegative,
  conceptPositive,
} from "./concept-data";
import type { ToyConcept } from "./concepts";
import type { RgbImage } from "./image";
import { contactSheet } from "./png";
import { IDENTITY_ATTRIBUTES } from "./scene";
import { SPLITS, type Split } from "./splits";

export interface ConceptSheet {
  image: RgbImage;
  /** One line per row: label, and for hard negatives the values shown. */
  legend: string[];
}

export function conceptSheet(
  concept: ToyConcept,
  options: { split?: Split; perRow?: number; size?: number; scale?: number } = {},
): ConceptSheet {
  const start = SPLITS[options.split ?? "train"].start;
  const perRow = options.perRow ?? 8;
  const seeds = Array.from({ length: perRow }, (_, i) => start + i);
  const rows: ConceptSample[][] = [seeds.map((s) => conceptPositive(concept, s))];
  const legend = [`positives: ${JSON.stringify(concept.identity)}`];
  for (const attribute of IDENTITY_ATTRIBUTES) {
    const row: ConceptSample[] = [];
    // Scan seeds for single-attribute variants of this attribute; the variant draw is seed-keyed.
    for (let s = start; row.length < perRow && s < start + 10_000; s++) {
      const sample = conceptHardNegative(concept, s, 1);
      if (sample.differs![0] === attribute) row.push(sample);
    }
    rows.push(row);
    legend.push(`hard negatives, ${attribute} differs: ${row.map((x) => x.variant![attribute]).join(" ")}`);
  }
  rows.push(seeds.map((s) => conceptEasyNegative(concept, s)));
  legend.push("easy negatives");
  const size = options.size ?? 64;
  const image = contactSheet(
    rows.map((row) => row.map((sample) => renderSample(sample, { size }))),
    2,
    options.scale ?? 3,
  );
  return { image, legend };
}
