// yo-edge's local commands on the tiny fixture: train (through the stand-in trainer module) writes a YOCN
// artifact, recognize prints one P(yes) line per photo, chat streams text; bad usage is exit code 2.
import { mkdtempSync, readFileSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from "vitest";
import { readConceptArtifactHeader } from "../../../shared/concept-artifact";
import { main } from "../../../trainer/cli/main";
import { toyPng } from "./fixture";

const dir = mkdtempSync(path.join(tmpdir(), "yo-cli-"));
const env = {
  YO_MODEL_DIR: path.join(import.meta.dirname, "../../fixtures/models/llava"),
  YO_MODEL_ID: "fixture/llava",
  YO_CONCEPT_TRAINER_MODULE: path.join(import.meta.dirname, "../../e2e/stand-in-trainer.ts"),
  YO_STAND_IN_STEPS: "3",
  YO_STAND_IN_STEP_MS: "1",
};

beforeAll(async () => {
  for (let i = 0; i < 3; i++)
    writeFileSync(path.join(dir, `p${i}.png`), Buffer.from(await toyPng(i), "base64"));
  Object.assign(process.env, env);
});
afterAll(() => {
  for (const key of Object.keys(env)) delete process.env[key];
});
afterEach(() => {
  vi.restoreAllMocks();
});

describe("yo-edge", () => {
  it("train -> recognize -> chat, without the edge", async () => {
    const lines: string[] = [];
    vi.spyOn(console, "log").mockImplementation((line: string) => lines.push(line));
    vi.spyOn(process.stderr, "write").mockImplementation(() => true);
    const out = path.join(dir, "bo.yocn");
    expect(
      await main([
        "train",
        "--name",
        "<bo>",
        "--kind",
        "pet",
        "--k",
        "2",
        "--out",
        out,
        path.join(dir, "p0.png"),
        path.join(dir, "p1.png"),
      ]),
    ).toBe(0);
    const header = readConceptArtifactHeader(new Uint8Array(readFileSync(out)));
    expect(header).toMatchObject({ name: "<bo>", k: 2, version: 1, model: { repo: "fixture/llava" } });

    lines.length = 0;
    expect(await main(["recognize", "--concept", out, dir])).toBe(0);
    const results = lines.map((l) => JSON.parse(l) as { image: string; p_yes: number });
    expect(results.map((r) => path.basename(r.image))).toEqual(["p0.png", "p1.png", "p2.png"]);
    for (const r of results) expect(r.p_yes).toBeGreaterThanOrEqual(0);

    const written: string[] = [];
    vi.spyOn(process.stdout, "write").mockImplementation((chunk) => {
      written.push(String(chunk));
      return true;
    });
    expect(await main(["chat", "--concept", out, "--max-tokens", "3", "What colour is <bo>?"])).toBe(0);
    expect(written.join("").endsWith("\n")).toBe(true);
  });

  it("exits 2 on bad usage", async () => {
    vi.spyOn(console, "error").mockImplementation(() => {});
    expect(await main(["train"])).toBe(2);
    expect(await main(["nope"])).toBe(2);
    expect(await main(["chat", "What is <mochi>?"])).toBe(2);
  });
});
