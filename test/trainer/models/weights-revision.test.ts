import { copyFileSync, mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { localWeightsRevision } from "../../../trainer/models/weights-revision";
import { modelFingerprint } from "../../../trainer/personalize/concept-model";
import { LLAVA_DIR } from "../personalize/fixture";

function copyOfFixture(): string {
  const dir = mkdtempSync(join(tmpdir(), "yo-revision-"));
  for (const f of ["config.json", "model.safetensors"]) copyFileSync(join(LLAVA_DIR, f), join(dir, f));
  return dir;
}

describe("localWeightsRevision", () => {
  it("names the weights' content: equal copies agree, retrained weights under the same config do not", () => {
    const a = copyOfFixture();
    const b = copyOfFixture();
    expect(localWeightsRevision(a)).toMatch(/^local-[0-9a-f]{16}$/);
    expect(localWeightsRevision(b)).toBe(localWeightsRevision(a));
    // "Retrain": every float changes a little, the file's size and config.json stay.
    const bytes = readFileSync(join(b, "model.safetensors"));
    const headerEnd = 8 + Number(bytes.readBigUInt64LE(0));
    for (let i = headerEnd; i < bytes.length; i += 4) bytes[i] = bytes[i]! ^ 1;
    writeFileSync(join(b, "model.safetensors"), bytes);
    expect(localWeightsRevision(b)).not.toBe(localWeightsRevision(a));
    const [fa, fb] = [modelFingerprint(a, "m"), modelFingerprint(b, "m")];
    expect(fb.config_hash).toBe(fa.config_hash);
    expect(fb.revision).not.toBe(fa.revision);
  });

  it("is plain 'local' for a directory without safetensors", () => {
    const dir = mkdtempSync(join(tmpdir(), "yo-revision-"));
    writeFileSync(join(dir, "config.json"), "{}");
    expect(localWeightsRevision(dir)).toBe("local");
  });
});
