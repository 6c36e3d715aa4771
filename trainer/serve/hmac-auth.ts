/**
 * Verifies the edge's HMAC signature on every /v1 request: signature, timestamp window (shared/hmac.ts) and
 * one-time nonce (NonceStore). The body is read once here and kept for the handler.
 */
import { createMiddleware } from "hono/factory";
import { verifyRequest } from "../../shared/hmac";
import { ServeError } from "./errors";
import type { NonceStore } from "./nonce-store";

export type ServeVariables = { rawBody: Uint8Array; requestId: string };

export function requireEdgeSignature(secret: string, nonces: NonceStore) {
  return createMiddleware<{ Variables: ServeVariables }>(async (c, next) => {
    const url = new URL(c.req.url);
    const body = new Uint8Array(await c.req.arrayBuffer());
    const verdict = await verifyRequest(
      secret,
      c.req.method,
      url.pathname + url.search,
      body,
      c.req.raw.headers,
    );
    if (!verdict.ok) {
      throw new ServeError(
        verdict.reason === "clock_skew" ? "hmac_clock_skew" : "hmac_invalid",
        verdict.reason,
      );
    }
    if (!nonces.claim(verdict.nonce)) throw new ServeError("hmac_replay", "nonce already used");
    c.set("rawBody", body);
    c.set("requestId", c.req.header("x-request-id") ?? "none");
    await next();
  });
}
