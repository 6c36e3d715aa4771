/**
 * Idempotency-Key for creating calls: the first successful (2xx) response is stored with a hash of the
 * request; a retry with the same key and body replays it, a different body is rejected. Scoped per tenant
 * (or "admin"). Failed attempts are forgotten so that the client can retry.
 */
import { and, eq } from "drizzle-orm";
import { createMiddleware } from "hono/factory";
import { sha256Hex } from "../../shared/hmac";
import { idempotencyKeys } from "../db/schema";
import type { AppEnv } from "../env";
import { ApiError } from "./errors";
import { nowIso } from "./ids";

const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;

export const idempotent = createMiddleware<AppEnv>(async (c, next) => {
  const key = c.req.header("idempotency-key");
  if (key === undefined) return next();
  if (!KEY_PATTERN.test(key))
    throw new ApiError("validation_failed", "Idempotency-Key must be 1-255 visible ASCII chars");
  const scope = c.get("actor") === "admin" ? "admin" : c.get("tenantId");
  const body = await c.req.arrayBuffer();
  const requestHash = await sha256Hex(
    new Uint8Array([
      ...new TextEncoder().encode(`${c.req.method} ${new URL(c.req.url).pathname}\n`),
      ...new Uint8Array(body),
    ]),
  );
  // Writes go to the primary, so this check is not subject to replica lag.
  const db = c.get("db");
  const inserted = await db
    .insert(idempotencyKeys)
    .values({ scope, key, requestHash, createdAt: nowIso() })
    .onConflictDoNothing()
    .returning({ key: idempotencyKeys.key });
  if (inserted.length === 0) {
    const first = await db.query.idempotencyKeys.findFirst({
      where: and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key)),
    });
    if (!first || first.requestHash !== requestHash) throw new ApiError("idempotency_key_reused");
    if (first.status === null || first.body === null) throw new ApiError("idempotency_in_progress");
    return c.body(first.body, first.status as 200, {
      "content-type": "application/json",
      "idempotent-replayed": "true",
    });
  }
  const where = and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.key, key));
  try {
    await next();
  } catch (error) {
    await db.delete(idempotencyKeys).where(where).run();
    throw error;
  }
  if (c.res.status >= 200 && c.res.status < 300) {
    const text = await c.res.clone().text();
    await db.update(idempotencyKeys).set({ status: c.res.status, body: text }).where(where).run();
  } else {
    await db.delete(idempotencyKeys).where(where).run();
  }
});
