// Trained concept <-> YOCN artifact (shared/concept-artifact.ts): fp16 rows in the order identifier input,
// k latent input rows (k = 0 allowed), identifier output row; the model fingerprint is checked when a
// concept is loaded for a base model.

import {
  type ConceptArtifact,
  type ConceptArtifactHeader,
  decodeConceptArtifact,
  encodeConceptArtifact,
  type ModelFingerprint,
  type TrainingReport,
} from "../../shared/concept-artifact";
import type { ConceptKind } from "../../shared/concept-name";
import type { ConceptRowsInput } from "./concept-batch";
import { ConceptTrainingError } from "./errors";

export function conceptArtifact(
  rows: ConceptRowsInput,
  meta: { fingerprint: ModelFingerprint; kind: ConceptKind; report: TrainingReport; version?: number },
): ConceptArtifact {
  const h = rows.output.length;
  const header: ConceptArtifactHeader = {
    format_version: 1,
    model: meta.fingerprint,
    name: rows.name,
    kind: meta.kind,
    k: rows.k,
    hidden_size: h,
    dtype: "fp16",
    rows: { identifier_input: 1, latent_input: rows.k, identifier_output: 1, generation: 0 },
    training_report: meta.report,
    version: meta.version ?? 1,
  };
  return {
    header,
    rows: {
      identifierInput: rows.input.slice(0, h),
      latentInput: Array.from({ length: rows.k }, (_, i) => rows.input.slice((1 + i) * h, (2 + i) * h)),
      identifierOutput: rows.output.slice(),
      generation: [],
    },
  };
}

export function encodeConcept(artifact: ConceptArtifact): Uint8Array {
  return encodeConceptArtifact(artifact);
}

export function sameModel(a: ModelFingerprint, b: ModelFingerprint): boolean {
  return a.repo === b.repo && a.revision === b.revision && a.config_hash === b.config_hash;
}

/** Decodes an artifact for `fingerprint`'s model; `fingerprint_mismatch` when it was trained for another. */
export function loadConceptRows(
  bytes: Uint8Array,
  fingerprint: ModelFingerprint,
): {
  header: ConceptArtifactHeader;
  rows: ConceptRowsInput;
} {
  const artifact = decodeConceptArtifact(bytes);
  const m = artifact.header.model;
  if (!sameModel(m, fingerprint)) {
    throw new ConceptTrainingError(
      "fingerprint_mismatch",
      `${artifact.header.name} was trained for ${m.repo}@${m.revision}#${m.config_hash}, ` +
        `not ${fingerprint.repo}@${fingerprint.revision}#${fingerprint.config_hash}`,
    );
  }
  const h = artifact.header.hidden_size;
  const input = new Float32Array((1 + artifact.header.k) * h);
  input.set(artifact.rows.identifierInput, 0);
  artifact.rows.latentInput.forEach((r, i) => {
    input.set(r, (1 + i) * h);
  });
  return {
    header: artifact.header,
    rows: { name: artifact.header.name, k: artifact.header.k, input, output: artifact.rows.identifierOutput },
  };
}
