import { describe, expect, it } from "vitest";
import {
  type ConceptArtifact,
  ConceptArtifactError,
  decodeConceptArtifact,
  encodeConceptArtifact,
  float16BitsToFloat32,
  float32ToFloat16Bits,
  readConceptArtifactHeader,
} from "../../shared/concept-artifact";
import { MAX_LATENT_TOKENS } from "../../shared/limits";

function makeArtifact(k = 3, hidden = 8, generation = 0): ConceptArtifact {
  const row = (seed: number) => Float32Array.from({ length: hidden }, (_, i) => Math.sin(seed * 31 + i) * 2);
  return {
    header: {
      format_version: 1,
      model: { repo: "yo/toy-llava", revision: "main", config_hash: "0123abcd" },
      name: "<bo>",
      kind: "pet",
      k,
      hidden_size: hidden,
      dtype: "fp16",
      rows: { identifier_input: 1, latent_input: k, identifier_output: 1, generation },
      training_report: { photos: 5, final_loss: 0.12 },
      version: 2,
    },
    rows: {
      identifierInput: row(0),
      latentInput: Array.from({ length: k }, (_, i) => row(i + 1)),
      identifierOutput: row(100),
      generation: Array.from({ length: generation }, (_, i) => row(200 + i)),
    },
  };
}

describe("fp16 conversion", () => {
  const f16 = (x: number) => float16BitsToFloat32(float32ToFloat16Bits(x));

  it("is exact on representable values", () => {
    for (const x of [0, 1, -1, 0.5, 65504, -65504, 2 ** -14, 2 ** -24, 1 + 2 ** -10]) expect(f16(x)).toBe(x);
    expect(Object.is(f16(-0), -0)).toBe(true);
  });

  it("rounds ties to even", () => {
    // 1 + 2^-11 is halfway between 1 and 1 + 2^-10: even mantissa (1) wins.
    expect(f16(1 + 2 ** -11)).toBe(1);
    // 1 + 3*2^-11 is halfway between 1+2^-10 (odd) and 1+2^-9 (even): rounds up.
    expect(f16(1 + 3 * 2 ** -11)).toBe(1 + 2 ** -9);
    // Just above the tie rounds up.
    expect(f16(1 + 2 ** -11 + 2 ** -20)).toBe(1 + 2 ** -10);
  });

  it("handles overflow, subnormals, underflow and NaN", () => {
    expect(f16(65520)).toBe(Number.POSITIVE_INFINITY); // tie between 65504 and 2^16 rounds to even = Inf
    expect(f16(65519)).toBe(65504);
    expect(f16(-1e6)).toBe(Number.NEGATIVE_INFINITY);
    expect(f16(3 * 2 ** -25)).toBe(2 ** -23); // subnormal tie (1.5 units) -> even (2 units)
    expect(f16(2 ** -25)).toBe(0); // exactly half the smallest subnormal -> even (0)
    expect(f16(2 ** -25 + 2 ** -35)).toBe(2 ** -24);
    expect(f16(1e-10)).toBe(0);
    expect(f16(2 ** -14 - 2 ** -25)).toBe(2 ** -14); // rounds up out of the subnormal range
    expect(Number.isNaN(f16(Number.NaN))).toBe(true);
  });
});

describe("concept artifact", () => {
  it("round trips header and rows (within fp16 precision)", () => {
    const artifact = makeArtifact(4, 16, 2);
    const bytes = encodeConceptArtifact(artifact);
    expect(new TextDecoder().decode(bytes.subarray(0, 4))).toBe("YOCN");
    const decoded = decodeConceptArtifact(bytes);
    expect(decoded.header).toEqual(artifact.header);
    expect(decoded.rows.latentInput).toHaveLength(4);
    expect(decoded.rows.generation).toHaveLength(2);
    const original = artifact.rows.latentInput[2]!;
    decoded.rows.latentInput[2]!.forEach((value, i) => {
      expect(Math.abs(value - original[i]!)).toBeLessThanOrEqual(Math.abs(original[i]!) * 2 ** -11 + 1e-7);
    });
    // Re-encoding decoded rows is lossless.
    expect(encodeConceptArtifact(decoded)).toEqual(bytes);
    expect(readConceptArtifactHeader(bytes).name).toBe("<bo>");
  });

  it("k = 0: identifier input and output rows only, within the codec's limits", () => {
    const artifact = makeArtifact(0, 16);
    const bytes = encodeConceptArtifact(artifact);
    const headerLength = new DataView(bytes.buffer).getUint32(4, true);
    expect(bytes.length).toBe(8 + headerLength + 2 * 16 * 2);
    const decoded = decodeConceptArtifact(bytes);
    expect(decoded.header.k).toBe(0);
    expect(decoded.rows.latentInput).toEqual([]);
    expect(decoded.rows.identifierOutput[3]).toBeCloseTo(artifact.rows.identifierOutput[3]!, 2);
    expect(encodeConceptArtifact(decoded)).toEqual(bytes);
    // Still validated: k bounds, integer k, latent_input = k, the row count.
    for (const k of [-1, 1.5, MAX_LATENT_TOKENS + 1]) {
      const bad = makeArtifact(0, 16);
      bad.header.k = k;
      expect(() => encodeConceptArtifact(bad)).toThrow(/invalid header at k/);
    }
    const mismatch = makeArtifact(0, 16);
    mismatch.header.rows.latent_input = 1;
    expect(() => encodeConceptArtifact(mismatch)).toThrow(/must equal k/);
    const extraRow = makeArtifact(0, 16);
    extraRow.rows.latentInput = [new Float32Array(16)];
    expect(() => encodeConceptArtifact(extraRow)).toThrow(/expected 0 latent rows/);
    // A k = 1 header over k = 0 rows is a payload mismatch, not a silent misread.
    const k1 = encodeConceptArtifact(makeArtifact(1, 16));
    expect(() => decodeConceptArtifact(k1.subarray(0, k1.length - 32))).toThrow(/payload is/);
    expect(encodeConceptArtifact(makeArtifact(MAX_LATENT_TOKENS, 4)).length).toBeGreaterThan(0);
  });

  it("aligns rows to 8 bytes", () => {
    const bytes = encodeConceptArtifact(makeArtifact());
    const headerLength = new DataView(bytes.buffer).getUint32(4, true);
    expect((8 + headerLength) % 8).toBe(0);
  });

  it("rejects corrupted input with clear errors", () => {
    const bytes = encodeConceptArtifact(makeArtifact());
    const bad = (mutate: (b: Uint8Array) => Uint8Array, message: RegExp) =>
      expect(() => decodeConceptArtifact(mutate(bytes.slice()))).toThrow(message);
    const patch = (at: number, values: number[]) => (b: Uint8Array) => {
      b.set(values, at < 0 ? b.length + at : at);
      return b;
    };
    bad((b) => b.subarray(0, 5), /truncated/);
    bad(patch(0, [0x58]), /bad magic/);
    bad(patch(4, [0, 0, 0, 0x40]), /header length/);
    bad((b) => b.subarray(0, b.length - 2), /payload is/);
    bad(patch(9, [0xff]), /not valid UTF-8 JSON|invalid header/);
    bad(patch(-2, [0x00, 0x7c]), /not finite/);
    const wrongK = makeArtifact();
    wrongK.header.rows.latent_input = 2;
    expect(() => encodeConceptArtifact(wrongK)).toThrow(ConceptArtifactError);
    const badName = makeArtifact();
    badName.header.name = "bo";
    expect(() => encodeConceptArtifact(badName)).toThrow(/invalid header at name/);
    const overflow = makeArtifact();
    overflow.rows.identifierInput[0] = 1e6;
    expect(() => encodeConceptArtifact(overflow)).toThrow(/overflows fp16/);
  });
});
