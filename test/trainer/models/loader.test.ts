// The registry and HF snapshot loader: text-only decoders (llama, qwen2) from their tiny transformers
// fixtures, and the typed errors for broken snapshots.

import { copyFile, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Runtime } from "../../../trainer/engine/index";
import { HfSnapshotError, loadCausalLm, openHfSnapshot } from "../../../trainer/models/loader";
import { architectureFor, UnsupportedArchitectureError } from "../../../trainer/models/registry";
import { fixtureDir, floats, ints, maxAbsDiff, readGolden } from "./golden";

// float32 engine vs the float64 golden (observed < 1e-5).
const LOGIT_TOLERANCE = 1e-4;

const runtime = new Runtime();
afterAll(() => runtime.release());

describe.each(["llama", "qwen2"])("text-only %s vs transformers", (modelType) => {
  it("prompt logits and 20 greedy tokens", async () => {
    const golden = await readGolden(modelType);
    const { snapshot, runner } = await loadCausalLm(fixtureDir(modelType), runtime);
    expect(snapshot.modelType).toBe(modelType);
    const prompt = ints(golden.get("input_ids")!);
    const out = await runner.forward([prompt]);
    expect(maxAbsDiff(out.logits, floats(golden.get("logits")!))).toBeLessThanOrEqual(LOGIT_TOLERANCE);
    expect(await runner.greedy(prompt, 20)).toEqual(ints(golden.get("greedy_tokens")!));
  });
});

describe("snapshot errors", () => {
  const withSnapshot = async (
    files: Record<string, string | null>,
    check: (dir: string) => Promise<void>,
  ) => {
    const dir = await mkdtemp(join(tmpdir(), "hf-snapshot-"));
    try {
      for (const [name, content] of Object.entries(files)) {
        if (content === null) await copyFile(join(fixtureDir("llava"), name), join(dir, name));
        else await writeFile(join(dir, name), content);
      }
      await check(dir);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  };

  it("names a missing config.json", async () => {
    await withSnapshot({}, async (dir) => {
      const error = await openHfSnapshot(dir).catch((e: unknown) => e);
      expect(error).toBeInstanceOf(HfSnapshotError);
      expect((error as HfSnapshotError).code).toBe("MISSING_FILE");
      expect((error as HfSnapshotError).path).toBe(join(dir, "config.json"));
    });
  });

  it("names an unsupported architecture and lists the supported ones", async () => {
    const config = JSON.stringify({ model_type: "mamba", architectures: ["MambaForCausalLM"] });
    await withSnapshot({ "config.json": config }, async (dir) => {
      await expect(openHfSnapshot(dir)).rejects.toThrow(UnsupportedArchitectureError);
      await expect(openHfSnapshot(dir)).rejects.toThrow(/"mamba" \(MambaForCausalLM\).*llava, idefics3/);
    });
    expect(() => architectureFor(undefined)).toThrow(UnsupportedArchitectureError);
  });

  it("requires preprocessor_config.json for an image model, and the weights", async () => {
    await withSnapshot({ "config.json": null }, async (dir) => {
      await expect(openHfSnapshot(dir)).rejects.toMatchObject({
        code: "MISSING_FILE",
        path: join(dir, "preprocessor_config.json"),
      });
    });
    await withSnapshot({ "config.json": null, "preprocessor_config.json": null }, async (dir) => {
      await expect(openHfSnapshot(dir)).rejects.toMatchObject({
        code: "MISSING_FILE",
        path: join(dir, "model.safetensors"),
      });
    });
  });

  it("rejects malformed config.json", async () => {
    await withSnapshot({ "config.json": "{not json" }, async (dir) => {
      await expect(openHfSnapshot(dir)).rejects.toMatchObject({ code: "BAD_CONFIG" });
    });
  });

  it("names a weight the builder needs but the checkpoint lacks", async () => {
    // The llama fixture's config with one layer more than its checkpoint holds.
    const config = JSON.parse(await readFile(join(fixtureDir("llama"), "config.json"), "utf8")) as Record<
      string,
      unknown
    >;
    await withSnapshot(
      { "config.json": JSON.stringify({ ...config, num_hidden_layers: 3 }) },
      async (dir) => {
        await copyFile(join(fixtureDir("llama"), "model.safetensors"), join(dir, "model.safetensors"));
        const { runner } = await loadCausalLm(dir, runtime);
        await expect(runner.forward([[1, 2, 3]])).rejects.toMatchObject({
          code: "MISSING_WEIGHT",
          message: expect.stringContaining("model.layers.2.input_layernorm.weight"),
        });
      },
    );
  });
});
