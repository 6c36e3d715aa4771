/**
 * Concept artifact codec: what a trained concept is, byte for byte. Stored in D1 (source of truth), cached in
 * KV, sent inline in prompt plans, written by the trainer node.
 *
 * Layout (little-endian):
 *   0      4 bytes  magic "YOCN"
 *   4      u32      header length H (bytes of UTF-8 JSON, space-padded so rows start 8-byte aligned)
 *   8      H bytes  JSON header (ConceptArtifactHeader)
 *   8+H    fp16     rows, each hidden_size wide, in this order:
 *                   identifier input row, k latent input rows, identifier output row (lm_head),
 *                   generation rows (0 or more, unified models only)
 *
 * Runtime-neutral: Web APIs only (TextEncoder, DataView), so the edge and the node share it.
 */
import * as v from "valibot";
import { CONCEPT_KINDS, CONCEPT_NAME_PATTERN } from "./concept-name";
import { MAX_ARTIFACT_BYTES, MAX_LATENT_TOKENS } from "./limits";

export const CONCEPT_ARTIFACT_MAGIC = "YOCN";
export const CONCEPT_ARTIFACT_FORMAT_VERSION = 1;
const PREFIX_BYTES = 8;
const MAX_HEADER_BYTES = 256 * 1024;
const MAX_HIDDEN_SIZE = 16_384;
const MAX_GENERATION_ROWS = 256;

export const ModelFingerprintSchema = v.object({
  repo: v.pipe(v.string(), v.minLength(1), v.maxLength(200)),
  revision: v.pipe(v.string(), v.minLength(1), v.maxLength(100)),
  config_hash: v.pipe(v.string(), v.regex(/^[0-9a-f]{8,128}$/)),
});
export type ModelFingerprint = v.InferOutput<typeof ModelFingerprintSchema>;

export const TrainingReportSchema = v.record(v.string(), v.unknown());
export type TrainingReport = v.InferOutput<typeof TrainingReportSchema>;

export const ConceptArtifactHeaderSchema = v.object({
  format_version: v.literal(CONCEPT_ARTIFACT_FORMAT_VERSION),
  model: ModelFingerprintSchema,
  name: v.pipe(v.string(), v.regex(CONCEPT_NAME_PATTERN)),
  kind: v.picklist(CONCEPT_KINDS),
  // k = 0 is the identifier alone (input + output rows); the edge's training API still asks for k >= 1.
  k: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_LATENT_TOKENS)),
  hidden_size: v.pipe(v.number(), v.integer(), v.minValue(1), v.maxValue(MAX_HIDDEN_SIZE)),
  dtype: v.literal("fp16"),
  rows: v.object({
    identifier_input: v.literal(1),
    latent_input: v.pipe(v.number(), v.integer()),
    identifier_output: v.literal(1),
    generation: v.pipe(v.number(), v.integer(), v.minValue(0), v.maxValue(MAX_GENERATION_ROWS)),
  }),
  training_report: TrainingReportSchema,
  version: v.pipe(v.number(), v.integer(), v.minValue(1)),
});
export type ConceptArtifactHeader = v.InferOutput<typeof ConceptArtifactHeaderSchema>;

export interface ConceptRows {
  identifierInput: Float32Array;
  latentInput: Float32Array[];
  identifierOutput: Float32Array;
  generation: Float32Array[];
}

export interface ConceptArtifact {
  header: ConceptArtifactHeader;
  rows: ConceptRows;
}

export class ConceptArtifactError extends Error {
  override name = "ConceptArtifactError";
}

// --- fp16 <-> float32 ----------------------------------------------------------------------------------

const scratchF32 = new Float32Array(1);
const scratchU32 = new Uint32Array(scratchF32.buffer);

/** float32 -> IEEE 754 binary16 bits, round to nearest, ties to even; overflow -> +-Inf; NaN stays NaN. */
export function float32ToFloat16Bits(value: number): number {
  scratchF32[0] = value;
  const bits = scratchU32[0]!;
  const sign = (bits >>> 16) & 0x8000;
  const exponent = (bits >>> 23) & 0xff;
  let mantissa = bits & 0x7fffff;
  if (exponent === 0xff) return sign | 0x7c00 | (mantissa !== 0 ? 0x200 | (mantissa >>> 13) : 0);
  const halfExponent = exponent - 127 + 15;
  if (halfExponent >= 0x1f) return sign | 0x7c00;
  if (halfExponent <= 0) {
    // Result is subnormal (or zero): shift the mantissa, implicit bit included, by the extra amount.
    if (halfExponent < -10) return sign;
    mantissa |= 0x800000;
    const shift = 14 - halfExponent;
    const halfway = 1 << (shift - 1);
    const remainder = mantissa & ((1 << shift) - 1);
    let half = mantissa >>> shift;
    if (remainder > halfway || (remainder === halfway && (half & 1) === 1)) half++;
    return sign | half;
  }
  let half = (halfExponent << 10) | (mantissa >>> 13);
  const remainder = mantissa & 0x1fff;
  // A carry out of the mantissa correctly bumps the exponent (and reaches Inf at the top).
  if (remainder > 0x1000 || (remainder === 0x1000 && (half & 1) === 1)) half++;
  return sign | half;
}

export function float16BitsToFloat32(half: number): number {
  const sign = half & 0x8000 ? -1 : 1;
  const exponent = (half >>> 10) & 0x1f;
  const mantissa = half & 0x3ff;
  if (exponent === 0) return sign * mantissa * 2 ** -24;
  if (exponent === 0x1f) return mantissa !== 0 ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + mantissa / 1024) * 2 ** (exponent - 15);
}

// --- encode / decode -----------------------------------------------------------------------------------

function rowCount(header: ConceptArtifactHeader): number {
  return 1 + header.k + 1 + header.rows.generation;
}

function checkHeader(raw: unknown): ConceptArtifactHeader {
  const parsed = v.safeParse(ConceptArtifactHeaderSchema, raw);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const path = issue.path?.map((p) => String(p.key)).join(".") ?? "";
    throw new ConceptArtifactError(`invalid header${path ? ` at ${path}` : ""}: ${issue.message}`);
  }
  const header = parsed.output;
  if (header.rows.latent_input !== header.k) {
    throw new ConceptArtifactError(
      `rows.latent_input (${header.rows.latent_input}) must equal k (${header.k})`,
    );
  }
  return header;
}

/** Rows must be finite: a NaN or Inf row would poison every prompt that mentions the concept. */
export function encodeConceptArtifact(artifact: ConceptArtifact): Uint8Array {
  const header = checkHeader(artifact.header);
  const { rows } = artifact;
  if (rows.latentInput.length !== header.k) {
    throw new ConceptArtifactError(`expected ${header.k} latent rows, got ${rows.latentInput.length}`);
  }
  if (rows.generation.length !== header.rows.generation) {
    throw new ConceptArtifactError(
      `expected ${header.rows.generation} generation rows, got ${rows.generation.length}`,
    );
  }
  const ordered = [rows.identifierInput, ...rows.latentInput, rows.identifierOutput, ...rows.generation];
  const json = new TextEncoder().encode(JSON.stringify(header));
  const padding = (8 - ((PREFIX_BYTES + json.length) % 8)) % 8;
  const headerLength = json.length + padding;
  const total = PREFIX_BYTES + headerLength + ordered.length * header.hidden_size * 2;
  if (total > MAX_ARTIFACT_BYTES) throw new ConceptArtifactError(`artifact too large: ${total} bytes`);
  const bytes = new Uint8Array(total);
  const view = new DataView(bytes.buffer);
  bytes.set(new TextEncoder().encode(CONCEPT_ARTIFACT_MAGIC), 0);
  view.setUint32(4, headerLength, true);
  bytes.set(json, PREFIX_BYTES);
  bytes.fill(0x20, PREFIX_BYTES + json.length, PREFIX_BYTES + headerLength);
  let offset = PREFIX_BYTES + headerLength;
  ordered.forEach((row, index) => {
    if (row.length !== header.hidden_size) {
      throw new ConceptArtifactError(`row ${index} has ${row.length} values, expected ${header.hidden_size}`);
    }
    for (let i = 0; i < row.length; i++) {
      const value = row[i]!;
      if (!Number.isFinite(value)) throw new ConceptArtifactError(`row ${index} value ${i} is not finite`);
      const half = float32ToFloat16Bits(value);
      if ((half & 0x7c00) === 0x7c00) {
        throw new ConceptArtifactError(`row ${index} value ${i} (${value}) overflows fp16`);
      }
      view.setUint16(offset, half, true);
      offset += 2;
    }
  });
  return bytes;
}

/** Reads and validates only the prefix and JSON header; cheap, used where rows are passed through as bytes. */
export function readConceptArtifactHeader(bytes: Uint8Array): ConceptArtifactHeader {
  return parseLayout(bytes).header;
}

function parseLayout(bytes: Uint8Array): { header: ConceptArtifactHeader; rowsOffset: number } {
  if (bytes.length < PREFIX_BYTES)
    throw new ConceptArtifactError("truncated: shorter than the 8-byte prefix");
  if (bytes.length > MAX_ARTIFACT_BYTES) throw new ConceptArtifactError(`too large: ${bytes.length} bytes`);
  const magic = new TextDecoder().decode(bytes.subarray(0, 4));
  if (magic !== CONCEPT_ARTIFACT_MAGIC)
    throw new ConceptArtifactError("bad magic: not a YOCN concept artifact");
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const headerLength = view.getUint32(4, true);
  if (headerLength > MAX_HEADER_BYTES || PREFIX_BYTES + headerLength > bytes.length) {
    throw new ConceptArtifactError(`truncated or corrupt header length ${headerLength}`);
  }
  let raw: unknown;
  try {
    const text = new TextDecoder("utf-8", { fatal: true, ignoreBOM: false }).decode(
      bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength),
    );
    raw = JSON.parse(text);
  } catch {
    throw new ConceptArtifactError("header is not valid UTF-8 JSON");
  }
  const header = checkHeader(raw);
  const rowsOffset = PREFIX_BYTES + headerLength;
  const expected = rowsOffset + rowCount(header) * header.hidden_size * 2;
  if (bytes.length !== expected) {
    throw new ConceptArtifactError(`payload is ${bytes.length} bytes, header implies ${expected}`);
  }
  return { header, rowsOffset };
}

export function decodeConceptArtifact(bytes: Uint8Array): ConceptArtifact {
  const { header, rowsOffset } = parseLayout(bytes);
  const view = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  const all: Float32Array[] = [];
  let offset = rowsOffset;
  for (let r = 0; r < rowCount(header); r++) {
    const row = new Float32Array(header.hidden_size);
    for (let i = 0; i < row.length; i++) {
      const half = view.getUint16(offset, true);
      if ((half & 0x7c00) === 0x7c00) throw new ConceptArtifactError(`row ${r} value ${i} is not finite`);
      row[i] = float16BitsToFloat32(half);
      offset += 2;
    }
    all.push(row);
  }
  return {
    header,
    rows: {
      identifierInput: all[0]!,
      latentInput: all.slice(1, 1 + header.k),
      identifierOutput: all[1 + header.k]!,
      generation: all.slice(2 + header.k),
    },
  };
}
