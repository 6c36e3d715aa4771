import { env } from "cloudflare:test";
import { describe, expect, it } from "vitest";
import { admin, call, createTenant, jsonInit, problem } from "./helpers";

describe("admin: tenants and keys", () => {
  it("creates a tenant and issues a key whose secret is shown once and stored only as a hash", async () => {
    const res = await call("/v1/admin/tenants", jsonInit("POST", { name: "acme" }, admin));
    expect(res.status).toBe(201);
    const tenant = (await res.json()) as { id: string; name: string };
    expect(tenant).toMatchObject({ name: "acme" });
    const keyRes = await call(
      `/v1/admin/tenants/${tenant.id}/keys`,
      jsonInit("POST", { name: "ci", scopes: ["infer"] }, admin),
    );
    expect(keyRes.status).toBe(201);
    const key = (await keyRes.json()) as { key: string; prefix: string; scopes: string[] };
    expect(key.key).toMatch(/^yo_[0-9a-z]{12}_[0-9a-z]{32}$/);
    expect(key.scopes).toEqual(["infer"]);
    const row = await env.DB.prepare("SELECT * FROM api_keys WHERE prefix = ?")
      .bind(key.prefix)
      .first<Record<string, string>>();
    expect(JSON.stringify(row)).not.toContain(key.key.slice(17));
    expect(row!.key_hash).toMatch(/^[0-9a-f]{64}$/);
    const audit = await env.DB.prepare("SELECT action FROM audit_log WHERE tenant_id = ? ORDER BY id")
      .bind(tenant.id)
      .all();
    expect(audit.results.map((r) => r.action)).toEqual(["tenant.create", "api_key.create"]);
  });

  it("rejects missing and wrong admin keys, and tenant keys on admin routes", async () => {
    expect((await problem(await call("/v1/admin/tenants", jsonInit("POST", { name: "x" })))).code).toBe(
      "unauthorized",
    );
    const wrong = await call(
      "/v1/admin/tenants",
      jsonInit("POST", { name: "x" }, { authorization: "Bearer nope" }),
    );
    expect(wrong.status).toBe(401);
    const tenant = await createTenant();
    expect((await call("/v1/admin/tenants", jsonInit("POST", { name: "x" }, tenant.auth))).status).toBe(401);
  });

  it("validates bodies with field errors", async () => {
    const res = await call("/v1/admin/tenants", jsonInit("POST", { name: "", extra: 1 }, admin));
    expect(res.status).toBe(400);
    const body = await problem(res);
    expect(body.code).toBe("validation_failed");
    expect(body.errors!.length).toBeGreaterThan(0);
    const malformed = await call("/v1/admin/tenants", {
      method: "POST",
      body: "{",
      headers: { ...admin, "content-type": "application/json" },
    });
    expect((await problem(malformed)).code).toBe("invalid_json");
    const text = await call("/v1/admin/tenants", {
      method: "POST",
      body: "name=x",
      headers: { ...admin, "content-type": "text/plain" },
    });
    expect((await problem(text)).code).toBe("unsupported_media_type");
  });

  it("revokes keys; a revoked key no longer authenticates; another tenant's key id is not found", async () => {
    const a = await createTenant();
    const b = await createTenant();
    expect((await call("/v1/concepts", { headers: a.auth })).status).toBe(200);
    const crossed = await call(`/v1/admin/tenants/${b.tenantId}/keys/${a.keyId}/revoke`, {
      method: "POST",
      headers: admin,
    });
    expect((await problem(crossed)).code).toBe("api_key_not_found");
    const revoked = await call(`/v1/admin/tenants/${a.tenantId}/keys/${a.keyId}/revoke`, {
      method: "POST",
      headers: admin,
    });
    expect(revoked.status).toBe(200);
    expect(((await revoked.json()) as { revoked_at: string }).revoked_at).toBeTruthy();
    expect((await problem(await call("/v1/concepts", { headers: a.auth }))).code).toBe("unauthorized");
  });

  it("replays an issued key to a retry without storing the secret or the Idempotency-Key", async () => {
    const tenant = (await (
      await call("/v1/admin/tenants", jsonInit("POST", { name: "k" }, admin))
    ).json()) as { id: string };
    const idempotencyKey = `issue-${crypto.randomUUID()}`;
    const headers = { ...admin, "idempotency-key": idempotencyKey };
    const first = (await (
      await call(`/v1/admin/tenants/${tenant.id}/keys`, jsonInit("POST", {}, headers))
    ).json()) as { key: string };
    const retry = await call(`/v1/admin/tenants/${tenant.id}/keys`, jsonInit("POST", {}, headers));
    expect(retry.headers.get("idempotent-replayed")).toBe("true");
    expect(((await retry.json()) as { key: string }).key).toBe(first.key);
    const rows = await env.DB.prepare("SELECT * FROM idempotency_keys").all();
    const dump = JSON.stringify(rows.results);
    expect(dump).not.toContain(first.key.slice(17));
    expect(dump).not.toContain(idempotencyKey);
    const keys = await env.DB.prepare("SELECT count(*) AS n FROM api_keys WHERE tenant_id = ?")
      .bind(tenant.id)
      .first<{ n: number }>();
    expect(keys!.n).toBe(1);
  });

  it("keys for an unknown tenant are not found", async () => {
    const res = await call("/v1/admin/tenants/ten_00000000000000000000/keys", jsonInit("POST", {}, admin));
    expect((await problem(res)).code).toBe("tenant_not_found");
  });

  it("replays creating calls with the same Idempotency-Key and rejects a different body", async () => {
    const headers = { ...admin, "idempotency-key": `tenant-${crypto.randomUUID()}` };
    const first = await call("/v1/admin/tenants", jsonInit("POST", { name: "once" }, headers));
    const second = await call("/v1/admin/tenants", jsonInit("POST", { name: "once" }, headers));
    expect(first.status).toBe(201);
    expect(second.status).toBe(201);
    expect(second.headers.get("idempotent-replayed")).toBe("true");
    expect(await second.json()).toEqual(await first.json());
    const different = await call("/v1/admin/tenants", jsonInit("POST", { name: "twice" }, headers));
    expect((await problem(different)).code).toBe("idempotency_key_reused");
  });
});
