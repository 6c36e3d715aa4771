/**
 * Verifies HMAC-signed calls from the trainer node: signature, timestamp window, and one-time nonces.
 * Nonces live in D1 (primary key insert), which makes replay detection atomic, unlike eventually
 * consistent KV; expired nonces are swept opportunistically.
 */
import { lt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import { createMiddleware } from "hono/factory";
import { verifyRequest } from "../../shared/hmac";
import { HMAC_NONCE_TTL_SECONDS } from "../../shared/limits";
import { hmacNonces } from "../db/schema";
import type { AppEnv } from "../env";
import { ApiError } from "./errors";

export const requireTrainerSignature = createMiddleware<AppEnv>(async (c, next) => {
  const url = new URL(c.req.url);
  const body = await c.req.arrayBuffer();
  const verdict = await verifyRequest(
    c.env.HMAC_SECRET,
    c.req.method,
    url.pathname + url.search,
    body,
    c.req.raw.headers,
  );
  if (!verdict.ok) throw new ApiError(verdict.reason === "clock_skew" ? "hmac_clock_skew" : "hmac_invalid");
  const now = Math.floor(Date.now() / 1000);
  const primary = drizzle(c.env.DB);
  const inserted = await primary
    .insert(hmacNonces)
    .values({ nonce: verdict.nonce, expiresAt: now + HMAC_NONCE_TTL_SECONDS })
    .onConflictDoNothing()
    .returning({ nonce: hmacNonces.nonce });
  if (inserted.length === 0) throw new ApiError("hmac_replay");
  c.executionCtx.waitUntil(
    primary
      .delete(hmacNonces)
      .where(lt(hmacNonces.expiresAt, now))
      .run()
      .catch(() => {}),
  );
  c.set("actor", "trainer");
  await next();
});
