import { describe, expect, it } from "vitest";
import { HMAC_HEADERS, signRequest, verifyRequest } from "../../shared/hmac";

const secret = "test-secret";
const headersOf = (h: Record<string, string>) => new Headers(h);

describe("hmac", () => {
  it("verifies what it signs", async () => {
    const signed = await signRequest(secret, "POST", "/v1/internal/jobs/x/progress", '{"a":1}');
    const verdict = await verifyRequest(
      secret,
      "POST",
      "/v1/internal/jobs/x/progress",
      '{"a":1}',
      headersOf({ ...signed }),
    );
    expect(verdict.ok).toBe(true);
  });
  it("rejects a changed body, path, method or secret", async () => {
    const signed = headersOf({ ...(await signRequest(secret, "POST", "/p", "body")) });
    expect((await verifyRequest(secret, "POST", "/p", "body2", signed)).ok).toBe(false);
    expect((await verifyRequest(secret, "POST", "/q", "body", signed)).ok).toBe(false);
    expect((await verifyRequest(secret, "PUT", "/p", "body", signed)).ok).toBe(false);
    expect(await verifyRequest("other", "POST", "/p", "body", signed)).toEqual({
      ok: false,
      reason: "bad_signature",
    });
  });
  it("rejects clock skew and missing headers", async () => {
    const old = Date.now() - 10 * 60 * 1000;
    const signed = headersOf({ ...(await signRequest(secret, "GET", "/p", "", old)) });
    expect(await verifyRequest(secret, "GET", "/p", "", signed)).toEqual({ ok: false, reason: "clock_skew" });
    const partial = headersOf({ [HMAC_HEADERS.timestamp]: "1" });
    expect(await verifyRequest(secret, "GET", "/p", "", partial)).toEqual({
      ok: false,
      reason: "missing_headers",
    });
  });
});
