import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { MAX_PHOTO_BYTES } from "../../shared/limits";
import { jpegBytes, webpLossyBytes } from "../shared/image-fixtures";
import { call, createConcept, createTenant, photoForm, png, problem, trainerStub } from "./helpers";

beforeEach(() => trainerStub.reset());

function train(
  conceptId: string,
  auth: Record<string, string>,
  body: BodyInit,
  headers: Record<string, string> = {},
) {
  return call(`/v1/concepts/${conceptId}/train`, { method: "POST", body, headers: { ...auth, ...headers } });
}

describe("POST /v1/concepts/{id}/train", () => {
  it("stages photos in R2 under the job id and queues the job", async () => {
    const tenant = await createTenant();
    const concept = await createConcept(tenant);
    const photos = [png(640, 480), jpegBytes(800, 600), webpLossyBytes(320, 240)];
    const res = await train(concept.id, tenant.auth, photoForm(photos, { latent_tokens: 8, preset: "fast" }));
    expect(res.status).toBe(202);
    const job = (await res.json()) as { id: string; status: string; photo_count: number; options: unknown };
    expect(job).toMatchObject({
      status: "queued",
      photo_count: 3,
      options: { latent_tokens: 8, preset: "fast" },
    });
    const staged = await env.PHOTOS.list({ prefix: `jobs/${job.id}/` });
    expect(staged.objects.map((o) => o.key)).toEqual([
      `jobs/${job.id}/00`,
      `jobs/${job.id}/01`,
      `jobs/${job.id}/02`,
    ]);
    const second = await env.PHOTOS.get(`jobs/${job.id}/01`);
    expect(second!.httpMetadata!.contentType).toBe("image/jpeg");
    await second!.arrayBuffer();
    const got = (await (await call(`/v1/concepts/${concept.id}`, { headers: tenant.auth })).json()) as {
      status: string;
    };
    expect(got.status).toBe("training");
  });

  it("applies default options", async () => {
    const tenant = await createTenant();
    const concept = await createConcept(tenant);
    const job = (await (await train(concept.id, tenant.auth, photoForm([png()]))).json()) as {
      options: unknown;
    };
    expect(job.options).toEqual({ latent_tokens: 16, preset: "standard" });
  });

  it("checks photo count, type by magic bytes, byte size and pixel count", async () => {
    const tenant = await createTenant();
    const concept = await createConcept(tenant);
    const cases: [BodyInit, string][] = [
      [photoForm([]), "validation_failed"],
      [photoForm(Array.from({ length: 11 }, () => png())), "validation_failed"],
      [photoForm([new TextEncoder().encode("GIF89a not supported at all")]), "invalid_image"],
      [photoForm([png(), new Uint8Array([0x89, 0x50, 0x4e, 0x47, 1, 2, 3])]), "invalid_image"],
      [photoForm([png(10_000, 10_000)]), "image_too_large"],
      [photoForm([png(12_001, 10)]), "image_too_large"],
      [photoForm([new Uint8Array(MAX_PHOTO_BYTES + 1)]), "image_too_large"],
      [photoForm([png()], { latent_tokens: 0 }), "validation_failed"],
      [photoForm([png()], { preset: "ludicrous" }), "validation_failed"],
    ];
    for (const [body, code] of cases)
      expect((await problem(await train(concept.id, tenant.auth, body))).code).toBe(code);
    const badJson = photoForm([png()]);
    badJson.append("options", "{not json");
    expect((await problem(await train(concept.id, tenant.auth, badJson))).code).toBe("validation_failed");
    const json = await train(concept.id, tenant.auth, "{}", { "content-type": "application/json" });
    expect((await problem(json)).code).toBe("unsupported_media_type");
    const detail = await problem(
      await train(concept.id, tenant.auth, photoForm([png()], { latent_tokens: 999 })),
    );
    expect(detail.errors).toEqual([expect.objectContaining({ path: "options.latent_tokens" })]);
  });

  it("refuses a second job while one is queued or running", async () => {
    const tenant = await createTenant();
    const concept = await createConcept(tenant);
    expect((await train(concept.id, tenant.auth, photoForm([png()]))).status).toBe(202);
    expect((await problem(await train(concept.id, tenant.auth, photoForm([png()])))).code).toBe(
      "training_in_progress",
    );
  });

  it("does not let tenant B train tenant A's concept", async () => {
    const a = await createTenant();
    const b = await createTenant();
    const concept = await createConcept(a);
    expect((await problem(await train(concept.id, b.auth, photoForm([png()])))).code).toBe(
      "concept_not_found",
    );
    expect(
      (await env.DB.prepare("SELECT count(*) AS n FROM jobs WHERE concept_id = ?")
        .bind(concept.id)
        .first<{ n: number }>())!.n,
    ).toBe(0);
  });

  it("needs the train scope", async () => {
    const owner = await createTenant();
    const concept = await createConcept(owner);
    const key = await call(`/v1/admin/tenants/${owner.tenantId}/keys`, {
      method: "POST",
      body: JSON.stringify({ scopes: ["concepts:read"] }),
      headers: { authorization: `Bearer ${env.ADMIN_KEY}`, "content-type": "application/json" },
    });
    const readOnly = { authorization: `Bearer ${((await key.json()) as { key: string }).key}` };
    expect((await problem(await train(concept.id, readOnly, photoForm([png()])))).code).toBe("forbidden");
  });

  it("replays the same job for a retried upload with the same Idempotency-Key", async () => {
    const tenant = await createTenant();
    const concept = await createConcept(tenant);
    // A retry resends the same bytes (same multipart boundary).
    const encoded = new Request("http://x", { method: "POST", body: photoForm([png(), png(32, 32)]) });
    const bytes = await encoded.arrayBuffer();
    const headers = { "content-type": encoded.headers.get("content-type")!, "idempotency-key": "upload-1" };
    const first = (await (await train(concept.id, tenant.auth, bytes, headers)).json()) as { id: string };
    const retry = await train(concept.id, tenant.auth, bytes, headers);
    expect(retry.status).toBe(202);
    expect(((await retry.json()) as { id: string }).id).toBe(first.id);
    const other = await new Request("http://x", { method: "POST", body: photoForm([png()]) });
    const changed = await train(concept.id, tenant.auth, await other.arrayBuffer(), {
      "content-type": other.headers.get("content-type")!,
      "idempotency-key": "upload-1",
    });
    expect((await problem(changed)).code).toBe("idempotency_key_reused");
  });
});
