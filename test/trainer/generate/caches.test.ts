// Embedding assembly (TS lookup and onnxruntime Gather), the LRU, the image-feature cache and the prefix
// cache's eviction.

import { afterAll, describe, expect, it } from "vitest";
import { Runtime } from "../../../trainer/engine/index";
import { contentKey } from "../../../trainer/generate/content-key";
import {
  ArrayEmbeddingTable,
  assembleEmbeddings,
  GatherEmbeddingTable,
} from "../../../trainer/generate/embeddings";
import { ImageFeatureCache } from "../../../trainer/generate/image-feature-cache";
import { KvCache } from "../../../trainer/generate/kv-cache";
import { LruCache } from "../../../trainer/generate/lru";
import { PrefixCache } from "../../../trainer/generate/prefix-cache";

const H = 4;
const V = 10;
const TABLE = Float32Array.from({ length: V * H }, (_, i) => i + 0.5);
const runtime = new Runtime({ intraOpNumThreads: 1 });
afterAll(async () => {
  await runtime.release();
});

describe("assembleEmbeddings", () => {
  const concept = Float32Array.from({ length: 2 * H }, (_, i) => -1 - i);
  const image = Float32Array.from({ length: H }, (_, i) => 100 + i);
  const ids = [3, -1, -1, 7, -2, 0];
  const splices = [
    { position: 1, rows: concept },
    { position: 4, rows: image },
  ];

  it.each([
    ["a Float32Array table", () => new ArrayEmbeddingTable(TABLE, H)],
    ["an onnxruntime Gather", () => GatherEmbeddingTable.build(TABLE, H, { runtime, modelId: "test-table" })],
  ])("splices rows over placeholders with %s", async (_, makeTable) => {
    const out = await assembleEmbeddings(ids, makeTable(), splices);
    const row = (t: number) => [...out.subarray(t * H, (t + 1) * H)];
    expect(row(0)).toEqual([...TABLE.subarray(3 * H, 4 * H)]);
    expect([...out.subarray(1 * H, 3 * H)]).toEqual([...concept]);
    expect(row(3)).toEqual([...TABLE.subarray(7 * H, 8 * H)]);
    expect(row(4)).toEqual([...image]);
    expect(row(5)).toEqual([...TABLE.subarray(0, H)]);
  });

  it("rejects splices outside the prompt, overlapping splices, partial rows and unknown ids", async () => {
    const table = new ArrayEmbeddingTable(TABLE, H);
    await expect(assembleEmbeddings([1, 2], table, [{ position: 1, rows: concept }])).rejects.toThrow(
      /outside/,
    );
    await expect(
      assembleEmbeddings([1, 2, 3], table, [
        { position: 0, rows: concept },
        { position: 1, rows: image },
      ]),
    ).rejects.toThrow(/overlap/);
    await expect(
      assembleEmbeddings([1, 2], table, [{ position: 0, rows: new Float32Array(3) }]),
    ).rejects.toThrow(/whole rows/);
    await expect(assembleEmbeddings([1, V], table)).rejects.toThrow(/outside/);
  });
});

describe("LruCache", () => {
  it("evicts least recently used entries beyond the byte budget", () => {
    const lru = new LruCache<string>(10, (v) => v.length);
    lru.set("a", "aaaa");
    lru.set("b", "bbbb");
    expect(lru.get("a")).toBe("aaaa"); // a is now the most recent
    lru.set("c", "cccc"); // 12 > 10: evicts b
    expect(lru.keys()).toEqual(["a", "c"]);
    expect(lru.get("b")).toBeUndefined();
    expect(lru.set("huge", "x".repeat(11))).toBe(false);
    expect(lru.stats).toMatchObject({ entries: 2, bytes: 8, hits: 1, misses: 1, evictions: 1 });
  });
});

describe("ImageFeatureCache", () => {
  const image = new Uint8Array([1, 2, 3, 4]);
  const config = { size: 512, mean: [0.5, 0.5, 0.5], model: "siglip" };

  it("computes once per image bytes + processor config, whatever the key order", async () => {
    const cache = new ImageFeatureCache(1024);
    let calls = 0;
    const compute = async () => {
      calls++;
      return new Float32Array(8).fill(calls);
    };
    const [a, b] = await Promise.all([
      cache.getOrCompute(image, config, compute),
      cache.getOrCompute(image, { model: "siglip", mean: [0.5, 0.5, 0.5], size: 512 }, compute),
    ]);
    expect(calls).toBe(1); // the second request joined the first computation
    expect(b).toBe(a);
    await cache.getOrCompute(image, config, compute);
    expect(calls).toBe(1);
    await cache.getOrCompute(image, { ...config, size: 384 }, compute);
    await cache.getOrCompute(new Uint8Array([1, 2, 3, 5]), config, compute);
    expect(calls).toBe(3);
    expect(ImageFeatureCache.key(image, config)).not.toBe(
      ImageFeatureCache.key(image, { ...config, size: 384 }),
    );
  });

  it("evicts by its byte budget and does not cache failures", async () => {
    const cache = new ImageFeatureCache(2 * 32);
    const features = async () => new Float32Array(8); // 32 bytes
    for (let i = 0; i < 3; i++) await cache.getOrCompute(new Uint8Array([i]), config, features);
    expect(cache.stats).toMatchObject({ entries: 2, evictions: 1 });
    await expect(
      cache.getOrCompute(image, config, async () => {
        throw new Error("decode failed");
      }),
    ).rejects.toThrow("decode failed");
    await expect(cache.getOrCompute(image, config, features)).resolves.toHaveLength(8);
  });
});

describe("PrefixCache", () => {
  it("keys by model id and prefix key, evicting the least recently used prefix", () => {
    const entry = () => ({
      cache: new KvCache(2, 1, 8, 4),
      lastLogits: new Float32Array(16),
      lastHidden: new Float32Array(8),
    });
    const one = entry();
    const bytes = one.cache.bytes + one.lastLogits.byteLength + one.lastHidden.byteLength;
    const cache = new PrefixCache(2 * bytes);
    cache.set("model-a", "p1", one);
    cache.set("model-b", "p1", entry());
    expect(cache.get("model-a", "p1")).toBe(one);
    expect(cache.get("model-a", "p2")).toBeUndefined();
    cache.set("model-a", "p3", entry()); // evicts model-b/p1
    expect(cache.get("model-b", "p1")).toBeUndefined();
    expect(cache.get("model-a", "p1")).toBe(one);
    expect(cache.stats.entries).toBe(2);
  });

  it("content keys separate their parts", () => {
    expect(contentKey("ab", "c")).not.toBe(contentKey("a", "bc"));
    expect(contentKey(new Float32Array([1, 2]))).toBe(contentKey(new Float32Array([1, 2])));
    expect(contentKey(new Float32Array([1, 2]))).not.toBe(contentKey(new Float32Array([1, 3])));
  });
});
