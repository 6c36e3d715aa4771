import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
import { HMAC_MAX_SKEW_SECONDS } from "../../shared/limits";
import { conceptKvKey } from "../../workers/lib/concept-cache";
import {
  artifactBytes,
  call,
  createConcept,
  createTenant,
  problem,
  signedCall,
  toBase64,
  trainConcept,
  trainerStub,
} from "./helpers";

beforeEach(() => trainerStub.reset());

async function queuedJob() {
  const tenant = await createTenant();
  const concept = await createConcept(tenant);
  const job = await trainConcept(tenant, concept);
  return { tenant, concept, job };
}

describe("internal: trainer node -> edge", () => {
  it("records progress on a job", async () => {
    const { tenant, job } = await queuedJob();
    const res = await signedCall("POST", `/v1/internal/jobs/${job.id}/progress`, {
      stage: "training",
      progress: 0.25,
    });
    expect(res.status).toBe(200);
    const got = (await (await call(`/v1/jobs/${job.id}`, { headers: tenant.auth })).json()) as Record<
      string,
      unknown
    >;
    expect(got).toMatchObject({ status: "running", stage: "training", progress: 0.25 });
    const invalid = await signedCall("POST", `/v1/internal/jobs/${job.id}/progress`, {
      stage: "x",
      progress: 2,
    });
    expect((await problem(invalid)).code).toBe("validation_failed");
  });

  it("stores a result in D1, then KV, then marks the concept ready", async () => {
    const { tenant, concept, job } = await queuedJob();
    const bytes = artifactBytes(concept.name, 1);
    const res = await signedCall("POST", `/v1/internal/jobs/${job.id}/result`, {
      status: "succeeded",
      artifact: toBase64(bytes),
    });
    expect(await res.json()).toEqual({ ok: true, concept_id: concept.id, version: 1 });
    const row = await env.DB.prepare(
      "SELECT version, size_bytes, training_report, artifact FROM concept_versions WHERE concept_id = ?",
    )
      .bind(concept.id)
      .first<{
        version: number;
        size_bytes: number;
        training_report: string;
        artifact: ArrayBuffer | number[];
      }>();
    expect(row).toMatchObject({ version: 1, size_bytes: bytes.byteLength });
    expect(JSON.parse(row!.training_report)).toEqual({ photos: 3, held_out_accuracy: 0.9 });
    expect(new Uint8Array(row!.artifact as ArrayBuffer)).toEqual(bytes);
    const cached = await env.CONCEPTS_KV.get(conceptKvKey(concept.id, 1), "arrayBuffer");
    expect(new Uint8Array(cached!)).toEqual(bytes);
    const got = (await (await call(`/v1/concepts/${concept.id}`, { headers: tenant.auth })).json()) as Record<
      string,
      unknown
    >;
    expect(got).toMatchObject({ status: "ready", current_version: 1 });
    const jobNow = (await (await call(`/v1/jobs/${job.id}`, { headers: tenant.auth })).json()) as Record<
      string,
      unknown
    >;
    expect(jobNow).toMatchObject({ status: "succeeded", progress: 1 });
    expect((await env.PHOTOS.list({ prefix: `jobs/${job.id}/` })).objects).toEqual([]);
  });

  it("records a result delivered twice at once only once", async () => {
    const { concept, job } = await queuedJob();
    const body = { status: "succeeded", artifact: toBase64(artifactBytes(concept.name, 1)) };
    const path = `/v1/internal/jobs/${job.id}/result`;
    const responses = await Promise.all([signedCall("POST", path, body), signedCall("POST", path, body)]);
    expect(responses.map((r) => r.status).sort()).toEqual([200, 409]);
    const versions = await env.DB.prepare("SELECT count(*) AS n FROM concept_versions WHERE concept_id = ?")
      .bind(concept.id)
      .first<{ n: number }>();
    expect(versions!.n).toBe(1);
  });

  it("records a failed result", async () => {
    const { tenant, job, concept } = await queuedJob();
    const res = await signedCall("POST", `/v1/internal/jobs/${job.id}/result`, {
      status: "failed",
      error: "loss diverged",
    });
    expect(res.status).toBe(200);
    const got = (await (await call(`/v1/jobs/${job.id}`, { headers: tenant.auth })).json()) as Record<
      string,
      unknown
    >;
    expect(got).toMatchObject({ status: "failed", error: "training failed: loss diverged" });
    const c = (await (await call(`/v1/concepts/${concept.id}`, { headers: tenant.auth })).json()) as Record<
      string,
      unknown
    >;
    expect(c.status).toBe("failed");
  });

  it("rejects artifacts that are corrupt, for another concept, version or base model", async () => {
    const { concept, job } = await queuedJob();
    const path = `/v1/internal/jobs/${job.id}/result`;
    const bad = async (artifact: string) =>
      (await problem(await signedCall("POST", path, { status: "succeeded", artifact }))).code;
    expect(await bad(toBase64(artifactBytes(concept.name, 1).subarray(0, 40)))).toBe("invalid_artifact");
    expect(await bad("!!!not base64")).toBe("invalid_artifact");
    expect(await bad(toBase64(artifactBytes("<someone-else>", 1)))).toBe("invalid_artifact");
    expect(await bad(toBase64(artifactBytes(concept.name, 2)))).toBe("invalid_artifact");
    expect(await bad(toBase64(artifactBytes(concept.name, 1, "other/model")))).toBe("invalid_artifact");
  });

  it("rejects unsigned, wrongly signed, replayed and skewed requests", async () => {
    const { job } = await queuedJob();
    const path = `/v1/internal/jobs/${job.id}/progress`;
    const body = { stage: "training", progress: 0.1 };
    const unsigned = await call(path, {
      method: "POST",
      body: JSON.stringify(body),
      headers: { "content-type": "application/json" },
    });
    expect((await problem(unsigned)).code).toBe("hmac_invalid");
    expect((await problem(await signedCall("POST", path, body, { secret: "not-the-secret" }))).code).toBe(
      "hmac_invalid",
    );
    const nonce = "replay-nonce-0123456789";
    expect((await signedCall("POST", path, body, { nonce })).status).toBe(200);
    expect((await problem(await signedCall("POST", path, body, { nonce }))).code).toBe("hmac_replay");
    const skew = (HMAC_MAX_SKEW_SECONDS + 30) * 1000;
    expect((await problem(await signedCall("POST", path, body, { now: Date.now() - skew }))).code).toBe(
      "hmac_clock_skew",
    );
    expect((await problem(await signedCall("POST", path, body, { now: Date.now() + skew }))).code).toBe(
      "hmac_clock_skew",
    );
    // Within the window is fine.
    expect((await signedCall("POST", path, body, { now: Date.now() - 60_000 })).status).toBe(200);
  });

  it("refuses API keys and admin keys on internal routes", async () => {
    const { tenant, job } = await queuedJob();
    const path = `/v1/internal/jobs/${job.id}/progress`;
    const init = (authorization: string) => ({
      method: "POST",
      body: JSON.stringify({ stage: "x", progress: 0.1 }),
      headers: { authorization, "content-type": "application/json" },
    });
    expect((await call(path, init(tenant.auth.authorization))).status).toBe(401);
    expect((await call(path, init(`Bearer ${env.ADMIN_KEY}`))).status).toBe(401);
  });
});
