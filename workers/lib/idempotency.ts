/**
 * Idempotency-Key for creating calls: the first successful (2xx) response is stored with a hash of the
 * request; a retry with the same key and body replays it, a different body is rejected. Scoped per tenant
 * (or "admin"). Failed attempts are forgotten so that the client can retry; records expire after
 * IDEMPOTENCY_TTL_MS.
 *
 * The stored response may contain a secret (a new API key is shown once), so the database holds neither the
 * Idempotency-Key nor the plaintext response: rows are found by SHA-256 of the key, and the response is
 * AES-GCM encrypted under a key derived from the Idempotency-Key, which only the client knows.
 */
import { and, eq } from "drizzle-orm";
import { createMiddleware } from "hono/factory";
import { sha256Hex } from "../../shared/hmac";
import { idempotencyKeys } from "../db/schema";
import type { AppEnv } from "../env";
import { ApiError } from "./errors";
import { nowIso } from "./ids";
import { base64ToBytes, bytesToBase64 } from "./images";

export const IDEMPOTENCY_TTL_MS = 24 * 60 * 60 * 1000;
const KEY_PATTERN = /^[\x21-\x7e]{1,255}$/;
const encoder = new TextEncoder();

async function responseKey(idempotencyKey: string, scope: string) {
  const material = await crypto.subtle.digest(
    "SHA-256",
    encoder.encode(`yo-idempotency\n${scope}\n${idempotencyKey}`),
  );
  return crypto.subtle.importKey("raw", material, "AES-GCM", false, ["encrypt", "decrypt"]);
}

async function seal(text: string, key: CryptoKey): Promise<string> {
  const iv = crypto.getRandomValues(new Uint8Array(12));
  const sealed = new Uint8Array(
    await crypto.subtle.encrypt({ name: "AES-GCM", iv }, key, encoder.encode(text)),
  );
  const out = new Uint8Array(iv.length + sealed.length);
  out.set(iv);
  out.set(sealed, iv.length);
  return bytesToBase64(out);
}

async function open(stored: string, key: CryptoKey): Promise<string> {
  const bytes = base64ToBytes(stored);
  const plain = await crypto.subtle.decrypt(
    { name: "AES-GCM", iv: bytes.subarray(0, 12) },
    key,
    bytes.subarray(12),
  );
  return new TextDecoder().decode(plain);
}

export const idempotent = createMiddleware<AppEnv>(async (c, next) => {
  const key = c.req.header("idempotency-key");
  if (key === undefined) return next();
  if (!KEY_PATTERN.test(key)) {
    throw new ApiError("validation_failed", "Idempotency-Key must be 1-255 visible ASCII chars");
  }
  const scope = c.get("actor") === "admin" ? "admin" : c.get("tenantId");
  const keyHash = await sha256Hex(`${scope}\n${key}`);
  const body = await c.req.arrayBuffer();
  const requestHash = await sha256Hex(
    new Uint8Array([
      ...encoder.encode(`${c.req.method} ${new URL(c.req.url).pathname}\n`),
      ...new Uint8Array(body),
    ]),
  );
  const db = c.get("db");
  const where = and(eq(idempotencyKeys.scope, scope), eq(idempotencyKeys.keyHash, keyHash));
  // Writes go to the primary, so this check is not subject to replica lag.
  const claim = () =>
    db
      .insert(idempotencyKeys)
      .values({ scope, keyHash, requestHash, createdAt: nowIso() })
      .onConflictDoNothing()
      .returning({ keyHash: idempotencyKeys.keyHash });
  let claimed = await claim();
  if (claimed.length === 0) {
    const first = await db.query.idempotencyKeys.findFirst({ where });
    if (first && Date.now() - Date.parse(first.createdAt) > IDEMPOTENCY_TTL_MS) {
      await db.delete(idempotencyKeys).where(where).run();
      claimed = await claim();
    } else {
      if (!first || first.requestHash !== requestHash) throw new ApiError("idempotency_key_reused");
      if (first.status === null || first.body === null) throw new ApiError("idempotency_in_progress");
      return c.body(await open(first.body, await responseKey(key, scope)), first.status as 200, {
        "content-type": "application/json",
        "idempotent-replayed": "true",
      });
    }
    if (claimed.length === 0) throw new ApiError("idempotency_in_progress");
  }
  await next();
  if (c.res.status >= 200 && c.res.status < 300) {
    const sealed = await seal(await c.res.clone().text(), await responseKey(key, scope));
    await db.update(idempotencyKeys).set({ status: c.res.status, body: sealed }).where(where).run();
  } else {
    await db.delete(idempotencyKeys).where(where).run();
  }
});
