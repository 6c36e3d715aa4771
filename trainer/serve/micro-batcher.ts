/**
 * Micro-batching: work items with the same key that arrive within `windowMs` of the first one run as one
 * batch (or sooner, when `maxItems` are waiting). Each caller gets its own slice of the results back.
 */
export interface MicroBatchStats {
  batches: number;
  items: number;
  /** Items that shared a run with another request's items. */
  mergedRequests: number;
}

interface Pending<I, O> {
  items: I[];
  waiters: { start: number; count: number; resolve: (out: O[]) => void; reject: (error: unknown) => void }[];
  timer: NodeJS.Timeout | undefined;
}

export class MicroBatcher<I, O> {
  private readonly pending = new Map<string, Pending<I, O>>();
  readonly stats: MicroBatchStats = { batches: 0, items: 0, mergedRequests: 0 };

  constructor(
    private readonly run: (key: string, items: I[]) => Promise<O[]>,
    private readonly windowMs: number,
    private readonly maxItems: number,
  ) {}

  submit(key: string, items: I[]): Promise<O[]> {
    return new Promise<O[]>((resolve, reject) => {
      let batch = this.pending.get(key);
      if (batch && batch.items.length + items.length > this.maxItems) {
        this.flush(key);
        batch = undefined;
      }
      if (!batch) {
        batch = { items: [], waiters: [], timer: undefined };
        this.pending.set(key, batch);
        batch.timer = setTimeout(() => this.flush(key), this.windowMs);
      }
      batch.waiters.push({ start: batch.items.length, count: items.length, resolve, reject });
      batch.items.push(...items);
      if (batch.items.length >= this.maxItems) this.flush(key);
    });
  }

  private flush(key: string): void {
    const batch = this.pending.get(key);
    if (!batch) return;
    this.pending.delete(key);
    clearTimeout(batch.timer);
    this.stats.batches++;
    this.stats.items += batch.items.length;
    if (batch.waiters.length > 1) this.stats.mergedRequests += batch.waiters.length;
    this.run(key, batch.items).then(
      (out) => {
        for (const w of batch.waiters) w.resolve(out.slice(w.start, w.start + w.count));
      },
      (error: unknown) => {
        for (const w of batch.waiters) w.reject(error);
      },
    );
  }
}
