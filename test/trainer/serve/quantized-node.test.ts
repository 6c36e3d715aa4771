// The node with quantized weights (YO_WEIGHTS / --weights): readiness reports the format, the converted
// weights live under YO_CACHE_DIR/converted/ while the node runs (removed at shutdown), recognition's P(yes)
// stays close to the float32 node's, and chat answers. (A concept-training step on int8/int4 weights is
// test/trainer/personalize/quantized-concept.test.ts: the serve fixture's character-level prompts exceed
// the tiny model's 128 positions in trainConcept.)

import { existsSync, mkdtempSync, readdirSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { localConfig } from "../../../trainer/cli/local-model";
import { ServeConfigError, serveConfigFromEnv } from "../../../trainer/serve/config";
import { chatPlan, type NodeUnderTest, recognizePlan, SECRET, startNode, toyPng } from "./fixture";

const cacheDir = mkdtempSync(path.join(tmpdir(), "yo-serve-cache-"));
let float32: NodeUnderTest;
let int8: NodeUnderTest;
let images: string[];
beforeAll(async () => {
  images = await Promise.all([0, 1, 2].map((i) => toyPng(i)));
  float32 = await startNode(undefined, undefined, undefined, { YO_CACHE_DIR: cacheDir });
  int8 = await startNode(undefined, undefined, undefined, { YO_CACHE_DIR: cacheDir, YO_WEIGHTS: "int8" });
});
afterAll(async () => {
  await float32?.node.shutdown();
  await int8?.node.shutdown();
  rmSync(cacheDir, { recursive: true, force: true });
});

describe("weight format configuration", () => {
  it("YO_WEIGHTS defaults to float32, accepts int8/int4 and rejects anything else", () => {
    const env = { YO_HMAC_SECRET: SECRET };
    expect(serveConfigFromEnv(env).weights).toBe("float32");
    expect(serveConfigFromEnv({ ...env, YO_WEIGHTS: "int4" }).weights).toBe("int4");
    expect(() => serveConfigFromEnv({ ...env, YO_WEIGHTS: "fp16" })).toThrow(ServeConfigError);
    expect(serveConfigFromEnv({ ...env, YO_CACHE_DIR: "/var/cache/yo" }).cacheDir).toBe("/var/cache/yo");
  });

  it("--weights sets it for the local commands", () => {
    expect(localConfig({ weights: "int8" }).weights).toBe("int8");
  });
});

describe("a node serving int8 weights", () => {
  it("/readyz reports the weight format", async () => {
    const body = async (t: NodeUnderTest) => (await (await t.app.request("/readyz")).json()) as unknown;
    expect(await body(int8)).toMatchObject({ ready: true, model: { weights: "int8" } });
    expect(await body(float32)).toMatchObject({ ready: true, model: { weights: "float32" } });
  });

  it("keeps the converted weights under the cache directory, one directory per process", () => {
    const dirs = readdirSync(path.join(cacheDir, "converted"));
    expect(dirs).toEqual([expect.stringMatching(new RegExp(`-int8\\.${process.pid}$`))]);
    expect(existsSync(path.join(cacheDir, "converted", dirs[0]!, "weights-int8.bin"))).toBe(true);
    expect(int8.node.loaded!.model.quantized?.directory).toBe(path.join(cacheDir, "converted", dirs[0]!));
  });

  it("recognition P(yes) is close to the float32 node's", async () => {
    const pYes = async (t: NodeUnderTest) => {
      const res = await t.call("POST", "/v1/infer", recognizePlan(images));
      expect(res.status).toBe(200);
      return ((await res.json()) as { results: { p_yes: number }[] }).results.map((r) => r.p_yes);
    };
    const [q, f] = [await pYes(int8), await pYes(float32)];
    const diff = Math.max(...q.map((p, i) => Math.abs(p - f[i]!)));
    console.log(JSON.stringify({ test: "quantized-node-recognize", int8: q, float32: f, diff }));
    // As in generate's scoring test: int8 moves the fixture's logits by <= ~0.4, P(yes) by a quarter of that.
    expect(diff).toBeLessThan(0.1);
  });

  it("chat answers", async () => {
    const res = await int8.call("POST", "/v1/infer", chatPlan("?"));
    expect(res.status).toBe(200);
    const body = (await res.json()) as { choices: { finish_reason: string }[] };
    expect(body.choices[0]!.finish_reason).toBeDefined();
  });

  it("removes its converted weights at shutdown", async () => {
    const dir = int8.node.loaded!.model.quantized!.directory;
    const other = await startNode(undefined, undefined, undefined, {
      YO_CACHE_DIR: cacheDir,
      YO_WEIGHTS: "int4",
    });
    const otherDir = other.node.loaded!.model.quantized!.directory;
    expect(otherDir).not.toBe(dir);
    await other.node.shutdown();
    expect(existsSync(otherDir)).toBe(false);
    expect(existsSync(dir)).toBe(true);
  });
});
