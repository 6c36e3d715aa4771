/**
 * The prefix KV cache per (model, concept versions, template), under one byte budget, with what
 * trainer/generate's PrefixCache lacks for serving: dropping every prefix of a purged concept. Each request
 * gets a one-entry PrefixCache view (generate() takes that type); a prefix it computed is adopted back.
 */
import { LruCache, type LruStats, PrefixCache, type PrefixEntry, prefixEntryBytes } from "../generate/index";

export class ConceptPrefixStore {
  private readonly lru: LruCache<PrefixEntry>;
  /** concept id -> prefix keys that include it. */
  private readonly byConcept = new Map<string, Set<string>>();

  constructor(budgetBytes: number) {
    this.lru = new LruCache(budgetBytes, prefixEntryBytes);
  }

  /** A PrefixCache for one request: holds the stored entry for `key` when there is one. */
  view(modelId: string, key: string): PrefixCache {
    const cache = new PrefixCache(Number.MAX_SAFE_INTEGER);
    const hit = this.lru.get(`${modelId}\u0000${key}`);
    if (hit) cache.set(modelId, key, hit);
    return cache;
  }

  /** Keeps the entry a request's view computed (a miss), indexed by the concepts in the prefix. */
  adopt(view: PrefixCache, modelId: string, key: string, conceptIds: readonly string[]): void {
    const full = `${modelId}\u0000${key}`;
    if (this.lru.has(full)) return;
    const entry = view.get(modelId, key);
    if (!entry) return;
    if (!this.lru.set(full, entry)) return;
    for (const id of conceptIds) {
      let keys = this.byConcept.get(id);
      if (!keys) {
        keys = new Set();
        this.byConcept.set(id, keys);
      }
      keys.add(full);
    }
  }

  /** Drops every prefix that includes the concept; returns how many were held. */
  purge(conceptId: string): number {
    const keys = this.byConcept.get(conceptId);
    this.byConcept.delete(conceptId);
    if (!keys) return 0;
    let dropped = 0;
    for (const key of keys) {
      if (this.lru.has(key)) dropped++;
      this.lru.delete(key);
    }
    return dropped;
  }

  /** Whether any prefix including the concept is still held. */
  holds(conceptId: string): boolean {
    return [...(this.byConcept.get(conceptId) ?? [])].some((key) => this.lru.has(key));
  }

  get stats(): LruStats {
    return this.lru.stats;
  }
}
