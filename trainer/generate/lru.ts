// A least-recently-used map with a byte budget: the shared core of the prefix KV cache and the
// image-feature cache. An entry larger than the whole budget is not stored.

export interface LruStats {
  entries: number;
  bytes: number;
  hits: number;
  misses: number;
  evictions: number;
}

export class LruCache<V> {
  private readonly map = new Map<string, { value: V; bytes: number }>();
  private bytesValue = 0;
  private hits = 0;
  private misses = 0;
  private evictions = 0;

  constructor(
    readonly budgetBytes: number,
    private readonly sizeOf: (value: V) => number,
  ) {}

  get(key: string): V | undefined {
    const entry = this.map.get(key);
    if (!entry) {
      this.misses++;
      return undefined;
    }
    this.hits++;
    // Map iteration order is insertion order: re-inserting marks it most recently used.
    this.map.delete(key);
    this.map.set(key, entry);
    return entry.value;
  }

  has(key: string): boolean {
    return this.map.has(key);
  }

  /** Stores `value` (replacing an entry under the same key), evicting least recently used entries. */
  set(key: string, value: V): boolean {
    const bytes = this.sizeOf(value);
    this.delete(key);
    if (bytes > this.budgetBytes) return false;
    while (this.bytesValue + bytes > this.budgetBytes) {
      const oldest = this.map.keys().next().value as string;
      this.delete(oldest);
      this.evictions++;
    }
    this.map.set(key, { value, bytes });
    this.bytesValue += bytes;
    return true;
  }

  delete(key: string): void {
    const entry = this.map.get(key);
    if (!entry) return;
    this.map.delete(key);
    this.bytesValue -= entry.bytes;
  }

  clear(): void {
    this.map.clear();
    this.bytesValue = 0;
  }

  keys(): string[] {
    return [...this.map.keys()];
  }

  get stats(): LruStats {
    return {
      entries: this.map.size,
      bytes: this.bytesValue,
      hits: this.hits,
      misses: this.misses,
      evictions: this.evictions,
    };
  }
}
