// Input embeddings for a prompt: token rows from the embedding table, with extra rows (concept vectors,
// image features) spliced in at placeholder positions.

import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { type CompiledModel, compile, Graph, gather, ortTensor, type Runtime } from "../engine/index";

/** Rows of a [vocab, hidden] embedding table. */
export interface EmbeddingTable {
  readonly vocabSize: number;
  readonly hiddenSize: number;
  /** Rows for `ids`, concatenated ([ids.length * hidden]). */
  lookup(ids: readonly number[]): Float32Array | Promise<Float32Array>;
}

function checkIds(ids: readonly number[], vocab: number): void {
  for (const id of ids) {
    if (!Number.isInteger(id) || id < 0 || id >= vocab)
      throw new RangeError(`token id ${id} outside [0, ${vocab})`);
  }
}

/** The table as a Float32Array in this process: a lookup is one copy per row. */
export class ArrayEmbeddingTable implements EmbeddingTable {
  readonly vocabSize: number;

  constructor(
    readonly table: Float32Array,
    readonly hiddenSize: number,
  ) {
    if (table.length % hiddenSize !== 0) throw new Error("embedding table size is not a multiple of hidden");
    this.vocabSize = table.length / hiddenSize;
  }

  lookup(ids: readonly number[]): Float32Array {
    checkIds(ids, this.vocabSize);
    const h = this.hiddenSize;
    const out = new Float32Array(ids.length * h);
    ids.forEach((id, i) => {
      out.set(this.table.subarray(id * h, (id + 1) * h), i * h);
    });
    return out;
  }
}

/**
 * The table as an onnxruntime Gather over an initializer. Written with external data and loaded from the
 * path, the table is memory-mapped by onnxruntime instead of being held in the JS heap.
 */
export class GatherEmbeddingTable implements EmbeddingTable {
  private constructor(
    private readonly runtime: Runtime,
    private readonly model: CompiledModel,
    readonly vocabSize: number,
    readonly hiddenSize: number,
  ) {}

  static build(
    table: Float32Array,
    hiddenSize: number,
    options: { runtime: Runtime; modelId: string; directory?: string },
  ): GatherEmbeddingTable {
    const vocab = table.length / hiddenSize;
    const g = new Graph("embed_tokens");
    const weight = g.initializer("model.embed_tokens.weight", "float32", [vocab, hiddenSize], table);
    const ids = g.input("input_ids", "int64", ["n"]);
    g.output(
      g.scope("model/embed_tokens", () => gather(weight, ids, 0)),
      "inputs_embeds",
    );
    const directory = options.directory ?? mkdtempSync(join(tmpdir(), "yo-embed-"));
    const model = compile(g, { directory, weightsFingerprint: `${options.modelId}/embed_tokens` });
    return new GatherEmbeddingTable(options.runtime, model, vocab, hiddenSize);
  }

  async lookup(ids: readonly number[]): Promise<Float32Array> {
    checkIds(ids, this.vocabSize);
    const out = await this.runtime.run(this.model, {
      input_ids: ortTensor("int64", BigInt64Array.from(ids, BigInt), [ids.length]),
    });
    return out.inputs_embeds!.data as Float32Array;
  }
}

/** Rows that replace the embeddings at positions position .. position + rows/hidden - 1. */
export interface Splice {
  position: number;
  /** [n * hidden] */
  rows: Float32Array;
}

/**
 * inputs_embeds [T * hidden] for token ids, with `splices` written over their positions (the ids there
 * are placeholders and are not looked up). Splices must lie inside the prompt and must not overlap.
 */
export async function assembleEmbeddings(
  ids: readonly number[],
  table: EmbeddingTable,
  splices: readonly Splice[] = [],
): Promise<Float32Array> {
  const h = table.hiddenSize;
  const spliced = new Uint8Array(ids.length);
  for (const { position, rows } of splices) {
    const n = rows.length / h;
    if (!Number.isInteger(n) || n === 0)
      throw new Error(`splice at ${position}: ${rows.length} values is not whole rows of ${h}`);
    if (!Number.isInteger(position) || position < 0 || position + n > ids.length) {
      throw new RangeError(`splice of ${n} rows at ${position} is outside the ${ids.length}-token prompt`);
    }
    for (let t = position; t < position + n; t++) {
      if (spliced[t]) throw new Error(`splices overlap at position ${t}`);
      spliced[t] = 1;
    }
  }
  // Placeholder ids may be outside the vocabulary: look up id 0 there and overwrite it.
  const out = await table.lookup(ids.map((id, t) => (spliced[t] ? 0 : id)));
  for (const { position, rows } of splices) out.set(rows, position * h);
  return out;
}
