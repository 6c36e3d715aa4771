/**
 * HMAC-SHA256 request signing between the edge and the trainer node (both directions), WebCrypto only.
 *
 * Canonical string: METHOD \n PATH(with query) \n TIMESTAMP(unix seconds) \n NONCE \n hex(sha256(body)).
 * The verifier checks the signature in constant time, rejects timestamps outside HMAC_MAX_SKEW_SECONDS and
 * leaves nonce replay tracking to the caller (it needs storage: D1 on the edge).
 */
import { HMAC_MAX_SKEW_SECONDS } from "./limits";

export const HMAC_HEADERS = {
  timestamp: "x-yo-timestamp",
  nonce: "x-yo-nonce",
  signature: "x-yo-signature",
} as const;

const NONCE_PATTERN = /^[A-Za-z0-9_-]{16,64}$/;
const encoder = new TextEncoder();

export function toHex(bytes: ArrayBuffer | Uint8Array): string {
  const view = bytes instanceof Uint8Array ? bytes : new Uint8Array(bytes);
  let out = "";
  for (const byte of view) out += byte.toString(16).padStart(2, "0");
  return out;
}

function fromHex(hex: string): Uint8Array | null {
  if (!/^(?:[0-9a-f]{2})+$/.test(hex)) return null;
  const out = new Uint8Array(hex.length / 2);
  for (let i = 0; i < out.length; i++) out[i] = Number.parseInt(hex.slice(i * 2, i * 2 + 2), 16);
  return out;
}

export async function sha256Hex(body: string | Uint8Array | ArrayBuffer): Promise<string> {
  const data = typeof body === "string" ? encoder.encode(body) : body;
  return toHex(await crypto.subtle.digest("SHA-256", data as Uint8Array<ArrayBuffer>));
}

export function canonicalRequest(
  method: string,
  path: string,
  timestamp: string,
  nonce: string,
  bodySha256: string,
): string {
  return [method.toUpperCase(), path, timestamp, nonce, bodySha256].join("\n");
}

type HmacKey = Awaited<ReturnType<typeof crypto.subtle.importKey>>;
const keyCache = new Map<string, Promise<HmacKey>>();
function importKey(secret: string): Promise<HmacKey> {
  let key = keyCache.get(secret);
  if (!key) {
    key = crypto.subtle.importKey("raw", encoder.encode(secret), { name: "HMAC", hash: "SHA-256" }, false, [
      "sign",
      "verify",
    ]);
    keyCache.set(secret, key);
  }
  return key;
}

export function newNonce(): string {
  return toHex(crypto.getRandomValues(new Uint8Array(16)));
}

export interface SignedHeaders {
  [HMAC_HEADERS.timestamp]: string;
  [HMAC_HEADERS.nonce]: string;
  [HMAC_HEADERS.signature]: string;
}

/** Signs a request; `path` is the URL pathname plus search, exactly as the receiver will see it. */
export async function signRequest(
  secret: string,
  method: string,
  path: string,
  body: string | Uint8Array | ArrayBuffer,
  now: number = Date.now(),
  nonce: string = newNonce(),
): Promise<SignedHeaders> {
  const timestamp = String(Math.floor(now / 1000));
  const canonical = canonicalRequest(method, path, timestamp, nonce, await sha256Hex(body));
  const signature = await crypto.subtle.sign("HMAC", await importKey(secret), encoder.encode(canonical));
  return {
    [HMAC_HEADERS.timestamp]: timestamp,
    [HMAC_HEADERS.nonce]: nonce,
    [HMAC_HEADERS.signature]: toHex(signature),
  };
}

export type HmacVerdict =
  | { ok: true; nonce: string; timestamp: number }
  | { ok: false; reason: "missing_headers" | "bad_signature" | "clock_skew" };

/** Checks signature and time window; the caller must still reject a nonce it has seen before. */
export async function verifyRequest(
  secret: string,
  method: string,
  path: string,
  body: string | Uint8Array | ArrayBuffer,
  headers: { get(name: string): string | null },
  now: number = Date.now(),
): Promise<HmacVerdict> {
  const timestamp = headers.get(HMAC_HEADERS.timestamp);
  const nonce = headers.get(HMAC_HEADERS.nonce);
  const signature = headers.get(HMAC_HEADERS.signature);
  if (!timestamp || !nonce || !signature || !/^\d{1,12}$/.test(timestamp) || !NONCE_PATTERN.test(nonce)) {
    return { ok: false, reason: "missing_headers" };
  }
  const signatureBytes = fromHex(signature);
  if (signatureBytes?.length !== 32) return { ok: false, reason: "bad_signature" };
  const canonical = canonicalRequest(method, path, timestamp, nonce, await sha256Hex(body));
  // crypto.subtle.verify compares in constant time.
  const valid = await crypto.subtle.verify(
    "HMAC",
    await importKey(secret),
    signatureBytes as Uint8Array<ArrayBuffer>,
    encoder.encode(canonical),
  );
  if (!valid) return { ok: false, reason: "bad_signature" };
  const seconds = Number(timestamp);
  if (Math.abs(now / 1000 - seconds) > HMAC_MAX_SKEW_SECONDS) return { ok: false, reason: "clock_skew" };
  return { ok: true, nonce, timestamp: seconds };
}
