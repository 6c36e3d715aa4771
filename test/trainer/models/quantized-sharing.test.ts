// One conversion per process: a QuantizedWeightStore quantizes each Linear once, whichever graph binds it
// first. The cached decoder's fused projections (q/k/v with 1/sqrt(d) folded into q's scales, gate/up) and
// the training graph's separate ones share the quantized data; results equal a fresh store's exactly.

import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import {
  compile,
  Graph,
  matmul,
  ortTensor,
  Runtime,
  transpose,
  WeightFile,
} from "../../../trainer/engine/index";
import { buildCachedDecoderGraph, CachedDecoder } from "../../../trainer/generate/decoder";
import { causalAttentionBias, LlamaDecoder } from "../../../trainer/models/llama";
import { QuantizedWeightStore } from "../../../trainer/models/quantized-weights";
import { embedIds, loadTinyLlama } from "../generate/fixture";

const runtime = new Runtime({ intraOpNumThreads: 1 });
const dirs: string[] = [];
afterAll(async () => {
  await runtime.release();
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

const tiny = await loadTinyLlama();
const c = tiny.config;
const ids = [1, 5, 9, 14, 3, 7];
const embeds = embedIds(tiny.table, c.hiddenSize, ids);

function store(inFile: boolean): { store: QuantizedWeightStore; directory?: string } {
  const directory = inFile ? mkdtempSync(join(tmpdir(), "yo-quantized-sharing-")) : undefined;
  if (directory) dirs.push(directory);
  const file = directory ? new WeightFile(join(directory, "weights-int8.bin")) : undefined;
  return {
    store: new QuantizedWeightStore(tiny.values, { bits: 8 }, file),
    ...(directory ? { directory } : {}),
  };
}

/** The training-style forward (separate q/k/v, gate/up projections), logits at every position. */
function forwardGraph(s: QuantizedWeightStore) {
  const g = new Graph("forward");
  const decoder = new LlamaDecoder(g, c, s.bind(g));
  const hidden = decoder.forward(decoder.inputs());
  g.output(matmul(hidden, transpose(decoder.lmHead(), [1, 0])), "logits");
  return g;
}

async function runForward(g: Graph, directory?: string): Promise<Float32Array> {
  const seq = ids.length;
  const out = await runtime.run(compile(g, directory ? { directory } : {}), {
    inputs_embeds: ortTensor("float32", embeds, [1, seq, c.hiddenSize]),
    position_ids: ortTensor(
      "int64",
      BigInt64Array.from(ids, (_, i) => BigInt(i)),
      [1, seq],
    ),
    attention_bias: ortTensor("float32", causalAttentionBias(1, seq), [1, 1, seq, seq]),
  });
  return out.logits!.data as Float32Array;
}

async function runCached(g: Graph, directory?: string): Promise<Float32Array> {
  const model = compile(g, directory ? { directory } : {});
  const decoder = new CachedDecoder(model, c, { runtime, modelId: "sharing" });
  const cache = decoder.newCache(1, 16);
  return decoder.step(cache, { embeds, seq: ids.length, logitsAt: ids.map((_, i) => i) });
}

const cachedGraph = (s: QuantizedWeightStore) => buildCachedDecoderGraph(c, { binding: (g) => s.bind(g) });

describe.each([false, true])("int8 store (file-backed: %s)", (inFile) => {
  it("cached decoder first: the training graph quantizes nothing more and computes the same", async () => {
    const shared = store(inFile);
    const decoderGraph = cachedGraph(shared.store);
    const bytes = shared.store.quantizedBytes;
    expect(bytes).toBeGreaterThan(0);
    const forward = forwardGraph(shared.store);
    expect(shared.store.quantizedBytes).toBe(bytes);
    const fresh = store(inFile);
    expect(await runForward(forward, shared.directory)).toEqual(
      await runForward(forwardGraph(fresh.store), fresh.directory),
    );
    expect(await runCached(decoderGraph, shared.directory)).toEqual(
      await runCached(cachedGraph(store(false).store)),
    );
  });

  it("training graph first: the fused projections reuse its parts", async () => {
    const shared = store(inFile);
    const forward = forwardGraph(shared.store);
    const bytes = shared.store.quantizedBytes;
    const decoderGraph = cachedGraph(shared.store);
    expect(shared.store.quantizedBytes).toBe(bytes);
    const fresh = store(inFile);
    expect(await runCached(decoderGraph, shared.directory)).toEqual(
      await runCached(cachedGraph(fresh.store), fresh.directory),
    );
    expect(await runForward(forward, shared.directory)).toEqual(
      await runForward(forwardGraph(store(false).store)),
    );
  });
});
