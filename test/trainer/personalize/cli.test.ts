import { mkdtempSync, readdirSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterEach, describe, expect, it, vi } from "vitest";
import { personalizeCli } from "../../../trainer/personalize/cli";
import { encodePng } from "../../../trainer/toyworld/index";
import { CLIP_DIR, LLAVA_DIR, photo } from "./fixture";

function captured() {
  const lines: Record<string, unknown>[] = [];
  vi.spyOn(console, "log").mockImplementation((line: string) => {
    lines.push(JSON.parse(line));
  });
  return lines;
}

afterEach(() => {
  vi.restoreAllMocks();
});

describe("personalize cli", () => {
  it("pool build indexes a folder and prints JSON lines", async () => {
    const dir = mkdtempSync(join(tmpdir(), "yo-cli-pool-"));
    for (let i = 0; i < 3; i++) writeFileSync(join(dir, `p${i}.png`), await encodePng(photo(i)));
    const lines = captured();
    expect(
      await personalizeCli(["pool", "build", "--images", dir, "--clip", CLIP_DIR, "--threads", "1"]),
    ).toBe(0);
    expect(lines.at(-1)).toMatchObject({ pool: { images: 3, dim: 16 } });
  });

  it("train reports typed errors as JSON", async () => {
    const photos = mkdtempSync(join(tmpdir(), "yo-cli-photos-"));
    const lines = captured();
    const code = await personalizeCli([
      "train",
      "--model",
      LLAVA_DIR, // the fixture has no tokenizer.json next to it
      "--photos",
      photos,
      "--name",
      "<bo>",
      "--kind",
      "pet",
      "--out",
      join(photos, "bo.yocn"),
    ]);
    expect(code).toBe(1);
    expect(lines.at(-1)).toMatchObject({ error: "unknown_base_model" });
    expect(await personalizeCli(["train", "--kind", "dragon"])).toBe(1);
    expect(lines.at(-1)).toMatchObject({ error: "bad_options" });
    expect(await personalizeCli(["train", "--kind", "pet", "--weights", "fp16"])).toBe(1);
    expect(lines.at(-1)).toMatchObject({
      error: "bad_options",
      message: expect.stringContaining("--weights"),
    });
    // int8 loads (and fails on the missing tokenizer, as float32 does): the converted weights are cleaned up.
    const before = readdirSync(tmpdir()).filter((d) => d.startsWith("yo-concept-weights-")).length;
    expect(
      await personalizeCli([
        "train",
        "--kind",
        "pet",
        "--model",
        LLAVA_DIR,
        "--weights",
        "int8",
        "--threads",
        "1",
      ]),
    ).toBe(1);
    expect(lines.at(-1)).toMatchObject({ error: "unknown_base_model" });
    expect(readdirSync(tmpdir()).filter((d) => d.startsWith("yo-concept-weights-")).length).toBe(before);
  });
});
