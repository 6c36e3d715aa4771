import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { conceptKvKey } from "../../workers/lib/concept-cache";
import {
  call,
  createConcept,
  createTenant,
  jsonInit,
  problem,
  readyConcept,
  trainerStub,
  uniqueName,
} from "./helpers";

beforeEach(() => trainerStub.reset());

describe("concepts", () => {
  it("creates, gets and lists concepts with cursor pagination", async () => {
    const tenant = await createTenant();
    const created = await Promise.all([0, 1, 2, 3, 4].map(() => createConcept(tenant)));
    expect(created[0]).toMatchObject({
      kind: "pet",
      status: "draft",
      current_version: null,
      base_model: "yo/toy-llava",
    });
    const got = await call(`/v1/concepts/${created[2]!.id}`, { headers: tenant.auth });
    expect(await got.json()).toEqual(created[2]);
    const seen: string[] = [];
    let cursor: string | null = null;
    do {
      const page: Response = await call(`/v1/concepts?limit=2${cursor ? `&cursor=${cursor}` : ""}`, {
        headers: tenant.auth,
      });
      const body = (await page.json()) as { data: { id: string }[]; next_cursor: string | null };
      expect(body.data.length).toBeLessThanOrEqual(2);
      seen.push(...body.data.map((c) => c.id));
      cursor = body.next_cursor;
    } while (cursor);
    expect(seen.sort()).toEqual(created.map((c) => c.id).sort());
  });

  it("validates names, kinds and list queries", async () => {
    const tenant = await createTenant();
    for (const name of ["bo", "<Bo>", "<>", `<${"a".repeat(33)}>`, "<b o>", "<bo>x"]) {
      const res = await call("/v1/concepts", jsonInit("POST", { name, kind: "pet" }, tenant.auth));
      expect((await problem(res)).code, name).toBe("validation_failed");
    }
    const kind = await call("/v1/concepts", jsonInit("POST", { name: "<ok>", kind: "robot" }, tenant.auth));
    expect(kind.status).toBe(400);
    expect((await call("/v1/concepts?limit=0", { headers: tenant.auth })).status).toBe(400);
    expect((await call("/v1/concepts?limit=1000", { headers: tenant.auth })).status).toBe(400);
  });

  it("keeps names unique per tenant but not across tenants", async () => {
    const a = await createTenant();
    const b = await createTenant();
    const name = uniqueName();
    await createConcept(a, name);
    const again = await call("/v1/concepts", jsonInit("POST", { name, kind: "pet" }, a.auth));
    expect((await problem(again)).code).toBe("concept_name_taken");
    expect((await createConcept(b, name)).name).toBe(name);
  });

  it("rejects missing, malformed, unknown and revoked keys, and keys without the scope", async () => {
    expect((await problem(await call("/v1/concepts"))).code).toBe("unauthorized");
    const bad = ["Bearer yo_short", "Basic abc", `Bearer yo_${"a".repeat(12)}_${"b".repeat(32)}`];
    for (const authorization of bad) {
      expect((await call("/v1/concepts", { headers: { authorization } })).status).toBe(401);
    }
    const tenant = await createTenant();
    // Right prefix, wrong secret.
    const forged = `${tenant.key.slice(0, 16)}${"0".repeat(32)}`;
    expect((await call("/v1/concepts", { headers: { authorization: `Bearer ${forged}` } })).status).toBe(401);
    const readOnly = await createTenant(["concepts:read"]);
    const denied = await call("/v1/concepts", jsonInit("POST", { name: "<x>", kind: "pet" }, readOnly.auth));
    expect((await problem(denied)).code).toBe("forbidden");
  });

  it("hides other tenants' concepts: get and delete by id are not found, lists are scoped", async () => {
    const a = await createTenant();
    const b = await createTenant();
    const concept = await createConcept(a);
    expect((await problem(await call(`/v1/concepts/${concept.id}`, { headers: b.auth }))).code).toBe(
      "concept_not_found",
    );
    const del = await call(`/v1/concepts/${concept.id}`, { method: "DELETE", headers: b.auth });
    expect((await problem(del)).code).toBe("concept_not_found");
    const list = (await (await call("/v1/concepts", { headers: b.auth })).json()) as { data: unknown[] };
    expect(list.data).toEqual([]);
    expect((await call(`/v1/concepts/${concept.id}`, { headers: a.auth })).status).toBe(200);
  });

  it("delete purges D1 rows and KV keys and asks the trainer node to drop caches", async () => {
    const tenant = await createTenant();
    const concept = await readyConcept(tenant);
    expect(await env.CONCEPTS_KV.get(conceptKvKey(concept.id, 1))).not.toBeNull();
    const res = await call(`/v1/concepts/${concept.id}`, { method: "DELETE", headers: tenant.auth });
    expect(res.status).toBe(204);
    expect(await env.CONCEPTS_KV.get(conceptKvKey(concept.id, 1))).toBeNull();
    for (const table of ["concepts", "concept_versions", "jobs"]) {
      const column = table === "concepts" ? "id" : "concept_id";
      const row = await env.DB.prepare(`SELECT count(*) AS n FROM ${table} WHERE ${column} = ?`)
        .bind(concept.id)
        .first<{ n: number }>();
      expect(row!.n, table).toBe(0);
    }
    expect((await call(`/v1/concepts/${concept.id}`, { headers: tenant.auth })).status).toBe(404);
    await expect
      .poll(async () =>
        (await trainerStub.requests()).some((r) => r.path === `/v1/concepts/${concept.id}/purge`),
      )
      .toBe(true);
  });

  it("replays concept creation with the same Idempotency-Key", async () => {
    const tenant = await createTenant();
    const headers = { ...tenant.auth, "idempotency-key": "create-bo" };
    const body = { name: uniqueName(), kind: "pet" };
    const first = await call("/v1/concepts", jsonInit("POST", body, headers));
    const second = await call("/v1/concepts", jsonInit("POST", body, headers));
    expect(await second.json()).toEqual(await first.json());
    // The same key under another tenant is a different key.
    const other = await createTenant();
    expect(
      (await call("/v1/concepts", jsonInit("POST", body, { ...other.auth, "idempotency-key": "create-bo" })))
        .status,
    ).toBe(201);
  });

  it("returns a request id (echoing a valid one) and a D1 bookmark", async () => {
    const tenant = await createTenant();
    const res = await call("/v1/concepts", {
      headers: { ...tenant.auth, "x-request-id": "client-req-0001" },
    });
    expect(res.headers.get("x-request-id")).toBe("client-req-0001");
    const bookmark = res.headers.get("x-d1-bookmark");
    expect(bookmark).toBeTruthy();
    const next = await call("/v1/concepts", { headers: { ...tenant.auth, "x-d1-bookmark": bookmark! } });
    expect(next.status).toBe(200);
    const generated = await call("/v1/concepts", {
      headers: { ...tenant.auth, "x-request-id": "bad id with spaces" },
    });
    expect(generated.headers.get("x-request-id")).toMatch(/^[0-9a-f-]{36}$/);
  });

  it("reads its own writes through the session bookmark", async () => {
    const tenant = await createTenant();
    const res = await call(
      "/v1/concepts",
      jsonInit("POST", { name: uniqueName(), kind: "object" }, tenant.auth),
    );
    const { id } = (await res.json()) as { id: string };
    const read = await call(`/v1/concepts/${id}`, {
      headers: { ...tenant.auth, "x-d1-bookmark": res.headers.get("x-d1-bookmark")! },
    });
    expect(read.status).toBe(200);
  });

  it("rate limits per key with 429 and Retry-After", { timeout: 30_000 }, async () => {
    const tenant = await createTenant();
    let limited: Response | undefined;
    // Windows are fixed 10 s slots; 1300 calls trip the limit even when a slot boundary falls inside the loop.
    for (let i = 0; i < 1300 && !limited; i++) {
      const res = await call("/v1/concepts?limit=1", { headers: tenant.auth });
      if (res.status === 429) limited = res;
      else await res.arrayBuffer(); // unread bodies hold connections open
    }
    expect(limited).toBeDefined();
    expect(limited!.headers.get("retry-after")).toBe("10");
    expect((await problem(limited!)).code).toBe("rate_limited");
    // Another key is unaffected.
    const other = await createTenant();
    expect((await call("/v1/concepts", { headers: other.auth })).status).toBe(200);
  });
});

describe("problems and documents", () => {
  it("answers unknown routes with problem+json", async () => {
    const res = await call("/v1/nope");
    expect(res.status).toBe(404);
    expect((await problem(res)).code).toBe("route_not_found");
  });

  it("serves an OpenAPI 3.1 document generated from the valibot schemas", async () => {
    const res = await call("/openapi.json");
    // biome-ignore lint/suspicious/noExplicitAny: walking a JSON document
    const doc = (await res.json()) as { openapi: string; paths: Record<string, Record<string, any>> };
    expect(doc.openapi).toBe("3.1.0");
    const create = doc.paths["/v1/concepts"]!.post;
    const schema = create.requestBody.content["application/json"].schema;
    expect(schema.properties.name.pattern).toBe("^<[a-z0-9_-]{1,32}>$");
    expect(schema.properties.kind.enum).toContain("pet");
    expect(doc.paths["/v1/concepts/{id}/train"]!.post.requestBody.content).toHaveProperty(
      "multipart/form-data",
    );
    expect(Object.keys(doc.paths)).toEqual(
      expect.arrayContaining([
        "/v1/chat",
        "/v1/recognize",
        "/v1/generate",
        "/v1/jobs/{id}/events",
        "/v1/admin/tenants",
      ]),
    );
  });

  it("rejects oversized JSON bodies with 413", async () => {
    const tenant = await createTenant();
    const huge = JSON.stringify({ name: "<x>", kind: "pet", pad: "x".repeat(33 * 1024 * 1024) });
    const res = await call("/v1/concepts", {
      method: "POST",
      body: huge,
      headers: { ...tenant.auth, "content-type": "application/json" },
    });
    expect((await problem(res)).code).toBe("payload_too_large");
  });
});
