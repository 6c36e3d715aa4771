import { describe, expect, it } from "vitest";
import { MicroBatcher } from "../../../trainer/serve/micro-batcher";
import { NonceStore } from "../../../trainer/serve/nonce-store";

describe("MicroBatcher", () => {
  it("runs same-key items that arrive within the window as one batch and hands each caller its slice", async () => {
    const runs: { key: string; items: number[] }[] = [];
    // A window far longer than the test's synchronous submits: they always land in it.
    const batcher = new MicroBatcher<number, number>(
      async (key, items) => {
        runs.push({ key, items });
        return items.map((x) => x * 10);
      },
      60_000,
      100,
    );
    const a = batcher.submit("k", [1, 2]);
    const b = batcher.submit("k", [3]);
    // maxItems is 100: force the flush by filling the batch.
    const d = batcher.submit(
      "k",
      Array.from({ length: 97 }, (_, i) => 100 + i),
    );
    expect(await a).toEqual([10, 20]);
    expect(await b).toEqual([30]);
    expect((await d).slice(0, 2)).toEqual([1000, 1010]);
    expect(runs.filter((r) => r.key === "k")).toHaveLength(1);
    expect(batcher.stats.mergedRequests).toBe(3);
  });

  it("flushes on the window and propagates a failed run to every caller", async () => {
    const batcher = new MicroBatcher<number, number>(
      async () => {
        throw new Error("boom");
      },
      1,
      10,
    );
    await expect(Promise.all([batcher.submit("k", [1]), batcher.submit("k", [2])])).rejects.toThrow("boom");
    expect(batcher.stats.batches).toBe(1);
  });

  it("starts a new batch when the next request would not fit", async () => {
    const sizes: number[] = [];
    const batcher = new MicroBatcher<number, number>(
      async (_key, items) => {
        sizes.push(items.length);
        return items;
      },
      1,
      3,
    );
    await Promise.all([batcher.submit("k", [1, 2]), batcher.submit("k", [3, 4])]);
    expect(sizes).toEqual([2, 2]);
  });
});

describe("NonceStore", () => {
  it("accepts a nonce once, forgets it after the TTL, and stays within its capacity", () => {
    const store = new NonceStore(1_000, 2);
    expect(store.claim("a", 0)).toBe(true);
    expect(store.claim("a", 10)).toBe(false);
    expect(store.claim("a", 1_001)).toBe(true);
    store.claim("b", 1_002);
    store.claim("c", 1_003);
    expect(store.size).toBe(2);
  });
});
