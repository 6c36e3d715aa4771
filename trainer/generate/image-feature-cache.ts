// Image features keyed by content: sha256 of the image bytes and the processor config, in an LRU with a
// byte budget. Concurrent requests for the same image share one computation.

import { contentKey, stableJson } from "./content-key";
import { LruCache, type LruStats } from "./lru";

export const DEFAULT_IMAGE_FEATURE_CACHE_BYTES = 128 * 1024 * 1024;

export class ImageFeatureCache {
  private readonly lru: LruCache<Float32Array>;
  private readonly inFlight = new Map<string, Promise<Float32Array>>();

  constructor(budgetBytes = DEFAULT_IMAGE_FEATURE_CACHE_BYTES) {
    this.lru = new LruCache(budgetBytes, (f) => f.byteLength);
  }

  /** The cache key of an image under a processor config (resize, crop, normalization, model id...). */
  static key(imageBytes: ArrayBufferView, processorConfig: unknown): string {
    return contentKey(imageBytes, stableJson(processorConfig));
  }

  async getOrCompute(
    imageBytes: ArrayBufferView,
    processorConfig: unknown,
    compute: () => Promise<Float32Array>,
  ): Promise<Float32Array> {
    const key = ImageFeatureCache.key(imageBytes, processorConfig);
    const cached = this.lru.get(key);
    if (cached) return cached;
    const pending = this.inFlight.get(key);
    if (pending) return pending;
    const work = compute().then(
      (features) => {
        this.lru.set(key, features);
        this.inFlight.delete(key);
        return features;
      },
      (error: unknown) => {
        this.inFlight.delete(key);
        throw error;
      },
    );
    this.inFlight.set(key, work);
    return work;
  }

  get stats(): LruStats {
    return this.lru.stats;
  }
}
