/**
 * One-time HMAC nonces, remembered for HMAC_NONCE_TTL_SECONDS (longer than the accepted clock skew, so a
 * replay inside the window is always caught). In memory and bounded: when full, the oldest nonce goes
 * first; a nonce that old is already outside the timestamp window unless the node sees more than
 * MAX_REMEMBERED_NONCES requests per window.
 */
import { HMAC_NONCE_TTL_SECONDS } from "../../shared/limits";
import { MAX_REMEMBERED_NONCES } from "./limits";

export class NonceStore {
  /** nonce -> expiry (ms); Map order is insertion order, so the first entry expires first. */
  private readonly seen = new Map<string, number>();

  constructor(
    private readonly ttlMs = HMAC_NONCE_TTL_SECONDS * 1000,
    private readonly capacity = MAX_REMEMBERED_NONCES,
  ) {}

  /** True the first time a nonce is seen, false for a replay. */
  claim(nonce: string, now = Date.now()): boolean {
    this.sweep(now);
    if (this.seen.has(nonce)) return false;
    if (this.seen.size >= this.capacity) {
      const oldest = this.seen.keys().next().value;
      if (oldest !== undefined) this.seen.delete(oldest);
    }
    this.seen.set(nonce, now + this.ttlMs);
    return true;
  }

  private sweep(now: number): void {
    for (const [nonce, expiry] of this.seen) {
      if (expiry > now) break;
      this.seen.delete(nonce);
    }
  }

  get size(): number {
    return this.seen.size;
  }
}
