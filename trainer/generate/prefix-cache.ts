// Prefix KV cache: the keys/values of a prompt prefix shared across requests (system prompt + concept
// rows), keyed by (model id, prefix content hash), within a byte budget with LRU eviction. A request whose
// prompt starts with a cached prefix prefills only its suffix.

import type { KvCache } from "./kv-cache";
import { LruCache, type LruStats } from "./lru";

/**
 * One cached prefix: a batch-1 cache holding exactly its positions, and the logits after its last one
 * with the final-norm hidden state they came from (extra output classes are dotted with it).
 */
export interface PrefixEntry {
  cache: KvCache;
  lastLogits: Float32Array;
  lastHidden: Float32Array;
}

/** Bytes a prefix entry holds (the cache budget's measure). */
export function prefixEntryBytes(entry: PrefixEntry): number {
  return entry.cache.bytes + entry.lastLogits.byteLength + entry.lastHidden.byteLength;
}

export const DEFAULT_PREFIX_CACHE_BYTES = 256 * 1024 * 1024;

export class PrefixCache {
  private readonly lru: LruCache<PrefixEntry>;

  constructor(budgetBytes = DEFAULT_PREFIX_CACHE_BYTES) {
    this.lru = new LruCache(budgetBytes, prefixEntryBytes);
  }

  private static key(modelId: string, prefixKey: string): string {
    return `${modelId}\u0000${prefixKey}`;
  }

  get(modelId: string, prefixKey: string): PrefixEntry | undefined {
    return this.lru.get(PrefixCache.key(modelId, prefixKey));
  }

  set(modelId: string, prefixKey: string, entry: PrefixEntry): boolean {
    return this.lru.set(PrefixCache.key(modelId, prefixKey), entry);
  }

  get stats(): LruStats {
    return this.lru.stats;
  }
}
