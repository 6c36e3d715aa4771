/**
 * API keys look like `yo_<prefix>_<secret>`. The prefix is a public lookup handle; the whole key is stored
 * only as a SHA-256 hash and compared in constant time. Admin calls use the bootstrap ADMIN_KEY secret.
 */
import { eq } from "drizzle-orm";
import { createMiddleware } from "hono/factory";
import type { ApiKeyScope } from "../../shared/api";
import { sha256Hex } from "../../shared/hmac";
import { type ApiKeyRow, apiKeys } from "../db/schema";
import type { AppEnv, Db } from "../env";
import { ApiError } from "./errors";
import { nowIso, randomToken } from "./ids";

const KEY_PATTERN = /^yo_([0-9a-z]{12})_([0-9a-z]{32})$/;
const LAST_USED_RESOLUTION_MS = 60_000;
/**
 * Key rows are remembered per isolate for a few seconds, which saves a D1 read on every request. The secret
 * is still hashed and compared on every request; only revocation is delayed, by at most this long on other
 * isolates (the revoking isolate forgets the key at once).
 */
export const API_KEY_CACHE_TTL_MS = 10_000;
const API_KEY_CACHE_MAX_ENTRIES = 10_000;
const apiKeyCache = new Map<string, { row: ApiKeyRow; expiresAt: number }>();

export function forgetApiKey(prefix: string): void {
  apiKeyCache.delete(prefix);
}

async function findApiKey(db: Db, prefix: string): Promise<ApiKeyRow | undefined> {
  const cached = apiKeyCache.get(prefix);
  if (cached && cached.expiresAt > Date.now()) return cached.row;
  const [row] = await db.select().from(apiKeys).where(eq(apiKeys.prefix, prefix)).limit(1);
  if (row) {
    if (apiKeyCache.size >= API_KEY_CACHE_MAX_ENTRIES) apiKeyCache.clear();
    apiKeyCache.set(prefix, { row, expiresAt: Date.now() + API_KEY_CACHE_TTL_MS });
  } else {
    apiKeyCache.delete(prefix);
  }
  return row;
}
export const RATE_LIMIT_WINDOW_SECONDS = 10;

export function mintApiKey(): { key: string; prefix: string } {
  const prefix = randomToken(12);
  return { key: `yo_${prefix}_${randomToken(32)}`, prefix };
}

const encoder = new TextEncoder();

/** Equal-length comparison that does not leak where two strings differ. */
export function constantTimeEqual(a: string, b: string): boolean {
  const left = encoder.encode(a);
  const right = encoder.encode(b);
  if (left.byteLength !== right.byteLength) return false;
  return crypto.subtle.timingSafeEqual(left, right);
}

function bearer(header: string | undefined): string | null {
  const match = /^Bearer\s+(\S+)$/i.exec(header ?? "");
  return match ? match[1]! : null;
}

export const requireAdmin = createMiddleware<AppEnv>(async (c, next) => {
  const presented = bearer(c.req.header("authorization"));
  // Hash both sides first so the comparison is constant-time and length-independent.
  if (
    !presented ||
    !c.env.ADMIN_KEY ||
    !constantTimeEqual(await sha256Hex(presented), await sha256Hex(c.env.ADMIN_KEY))
  ) {
    throw new ApiError("unauthorized", "admin routes need Authorization: Bearer <ADMIN_KEY>");
  }
  c.set("actor", "admin");
  await next();
});

export const requireApiKey = (scope: ApiKeyScope) =>
  createMiddleware<AppEnv>(async (c, next) => {
    const presented = bearer(c.req.header("authorization"));
    const match = presented ? KEY_PATTERN.exec(presented) : null;
    if (!presented || !match) throw new ApiError("unauthorized", "send Authorization: Bearer <api key>");
    const db = c.get("db");
    const row = await findApiKey(db, match[1]!);
    const presentedHash = await sha256Hex(presented);
    // Compare against a dummy hash when the prefix is unknown, so both paths cost the same.
    const valid = constantTimeEqual(presentedHash, row?.keyHash ?? "0".repeat(64)) && row && !row.revokedAt;
    if (!valid || !row) throw new ApiError("unauthorized");
    if (!row.scopes.includes(scope)) throw new ApiError("forbidden", `this key lacks the ${scope} scope`);
    const { success } = await c.env.KEY_RATE_LIMITER.limit({ key: row.id });
    if (!success) {
      throw new ApiError("rate_limited", undefined, {
        headers: { "retry-after": String(RATE_LIMIT_WINDOW_SECONDS) },
      });
    }
    c.set("tenantId", row.tenantId);
    c.set("actor", row.id);
    if (!row.lastUsedAt || Date.now() - Date.parse(row.lastUsedAt) > LAST_USED_RESOLUTION_MS) {
      row.lastUsedAt = nowIso();
      c.executionCtx.waitUntil(
        db
          .update(apiKeys)
          .set({ lastUsedAt: row.lastUsedAt })
          .where(eq(apiKeys.id, row.id))
          .run()
          .catch(() => {}),
      );
    }
    await next();
  });
