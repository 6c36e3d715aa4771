// Key-value cache buffers for CachedDecoder: per layer one position-major Float32Array
// [capacity, B, kvHeads * headDim], plus per row which cached positions are real keys (left padding) and
// the next position id. Grows by doubling (a copy of the filled part) when a step does not fit.

export class KvCache {
  keys: Float32Array[];
  values: Float32Array[];
  /** Cached positions (all rows share the slot count; padding makes rows' real lengths differ). */
  length = 0;
  private capacityValue: number;
  /** [capacity * B], slot-major: 1 where slot s of row b holds a real key. */
  private realKeys: Uint8Array;
  /** Next position id per row (count of real tokens so far). */
  readonly nextPosition: number[];
  private pendingReal: Uint8Array | null = null;

  constructor(
    readonly layers: number,
    readonly batch: number,
    /** kvHeads * headDim */
    readonly width: number,
    capacity: number,
  ) {
    this.capacityValue = Math.max(1, capacity);
    const n = this.capacityValue * batch * width;
    this.keys = Array.from({ length: layers }, () => new Float32Array(n));
    this.values = Array.from({ length: layers }, () => new Float32Array(n));
    this.realKeys = new Uint8Array(this.capacityValue * batch);
    this.nextPosition = new Array<number>(batch).fill(0);
  }

  get capacity(): number {
    return this.capacityValue;
  }

  /** Floats per cached position (all rows of the batch). */
  get slotSize(): number {
    return this.batch * this.width;
  }

  /** Bytes held by the key/value buffers. */
  get bytes(): number {
    return 2 * this.layers * this.capacityValue * this.slotSize * 4;
  }

  /** Makes room for `positions` cached positions in total. */
  reserve(positions: number): void {
    if (positions <= this.capacityValue) return;
    let next = this.capacityValue;
    while (next < positions) next *= 2;
    const grow = (old: Float32Array) => {
      const fresh = new Float32Array(next * this.slotSize);
      fresh.set(old.subarray(0, this.length * this.slotSize));
      return fresh;
    };
    this.keys = this.keys.map(grow);
    this.values = this.values.map(grow);
    const real = new Uint8Array(next * this.batch);
    real.set(this.realKeys.subarray(0, this.length * this.batch));
    this.realKeys = real;
    this.capacityValue = next;
  }

  /**
   * Takes buffers holding exactly `positions` positions (a "concat" graph's full present outputs) as
   * the cache's storage.
   */
  adopt(keys: Float32Array[], values: Float32Array[], positions: number): void {
    if (positions > this.capacityValue) {
      const real = new Uint8Array(positions * this.batch);
      real.set(this.realKeys.subarray(0, this.length * this.batch));
      this.realKeys = real;
    }
    this.keys = keys;
    this.values = values;
    this.capacityValue = positions;
  }

  pastView(buffer: Float32Array, past: number): Float32Array {
    return buffer.subarray(0, past * this.slotSize);
  }

  appendView(buffer: Float32Array, past: number, seq: number): Float32Array {
    return buffer.subarray(past * this.slotSize, (past + seq) * this.slotSize);
  }

  /**
   * Position ids [B, T] and the additive attention bias [B, 1, T, P+T] for `seq` new positions: each new
   * query sees the real cached keys and the real new keys up to itself. Call commit() after the run.
   */
  admit(seq: number, real?: ArrayLike<boolean | number>): { positions: BigInt64Array; bias: Float32Array } {
    const { batch } = this;
    const past = this.length;
    const total = past + seq;
    const isReal = new Uint8Array(batch * seq);
    for (let i = 0; i < batch * seq; i++) isReal[i] = real === undefined || real[i] ? 1 : 0;
    const positions = new BigInt64Array(batch * seq);
    // Finite, so a fully masked (padding) query row gives a uniform softmax instead of NaN.
    const blocked = -1e9;
    const bias = new Float32Array(batch * seq * total).fill(blocked);
    for (let b = 0; b < batch; b++) {
      let position = this.nextPosition[b]!;
      for (let t = 0; t < seq; t++) {
        const real = isReal[b * seq + t] === 1;
        positions[b * seq + t] = BigInt(real ? position : 0);
        if (real) position++;
        const row = (b * seq + t) * total;
        for (let s = 0; s < past; s++) if (this.realKeys[s * batch + b]) bias[row + s] = 0;
        for (let s = 0; s <= t; s++) if (isReal[b * seq + s]) bias[row + past + s] = 0;
      }
    }
    this.pendingReal = isReal;
    return { positions, bias };
  }

  /** Records `seq` positions written by the last run. */
  commit(seq: number): void {
    const isReal = this.pendingReal;
    if (!isReal) throw new Error("KvCache.commit without admit");
    for (let b = 0; b < this.batch; b++) {
      for (let t = 0; t < seq; t++) {
        const real = isReal[b * seq + t]!;
        this.realKeys[(this.length + t) * this.batch + b] = real;
        if (real) this.nextPosition[b]!++;
      }
    }
    this.length += seq;
    this.pendingReal = null;
  }

  /** A copy holding exactly the cached positions of row `row` (batch 1), with `extra` spare capacity. */
  copyRow(row: number, extra = 0): KvCache {
    const out = new KvCache(this.layers, 1, this.width, this.length + extra);
    const w = this.width;
    const copy = (src: Float32Array, dst: Float32Array) => {
      for (let s = 0; s < this.length; s++) {
        const from = (s * this.batch + row) * w;
        dst.set(src.subarray(from, from + w), s * w);
      }
    };
    for (let l = 0; l < this.layers; l++) {
      copy(this.keys[l]!, out.keys[l]!);
      copy(this.values[l]!, out.values[l]!);
    }
    for (let s = 0; s < this.length; s++) out.realKeys[s] = this.realKeys[s * this.batch + row]!;
    out.length = this.length;
    out.nextPosition[0] = this.nextPosition[row]!;
    return out;
  }

  /**
   * A batch-`batch` cache whose every row starts as this batch-1 cache (a shared prompt or prefix), with
   * room for `extra` more positions.
   */
  broadcast(batch: number, extra = 0): KvCache {
    if (this.batch !== 1) throw new Error("KvCache.broadcast needs a batch-1 cache");
    const out = new KvCache(this.layers, batch, this.width, this.length + extra);
    const w = this.width;
    const fill = (src: Float32Array, dst: Float32Array) => {
      for (let s = 0; s < this.length; s++) {
        const row = src.subarray(s * w, (s + 1) * w);
        for (let b = 0; b < batch; b++) dst.set(row, (s * batch + b) * w);
      }
    };
    for (let l = 0; l < this.layers; l++) {
      fill(this.keys[l]!, out.keys[l]!);
      fill(this.values[l]!, out.values[l]!);
    }
    for (let s = 0; s < this.length; s++) out.realKeys.fill(this.realKeys[s]!, s * batch, (s + 1) * batch);
    out.length = this.length;
    out.nextPosition.fill(this.nextPosition[0]!);
    return out;
  }
}
