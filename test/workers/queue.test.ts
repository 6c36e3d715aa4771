import {
  createExecutionContext,
  createMessageBatch,
  createScheduledController,
  env,
  getQueueResult,
  waitOnExecutionContext,
} from "cloudflare:test";
import * as v from "valibot";
import { beforeEach, describe, expect, it, vi } from "vitest";
import { verifyRequest } from "../../shared/hmac";
import { TrainDispatchSchema } from "../../shared/trainer-api";
import worker from "../../workers/index";
import {
  retryDelaySeconds,
  STALLED_JOB_MS,
  TRAINING_DLQ,
  TRAINING_QUEUE,
} from "../../workers/jobs/training-queue";
import { createConcept, createTenant, png, type TestTenant, trainerStub } from "./helpers";

beforeEach(() => trainerStub.reset());

/** A queued job staged the way the train route stages it, but not put on the real queue. */
async function stagedJob(tenant: TestTenant, photos = 2) {
  const concept = await createConcept(tenant);
  const id = `job_TEST${crypto.randomUUID().replaceAll("-", "").slice(0, 20)}`;
  const now = new Date().toISOString();
  await env.DB.prepare(
    `INSERT INTO jobs (id, tenant_id, concept_id, status, stage, progress, attempts, options, photo_count, request_id, created_at, updated_at)
     VALUES (?, ?, ?, 'queued', 'queued', 0, 0, ?, ?, 'req-queue-test', ?, ?)`,
  )
    .bind(
      id,
      tenant.tenantId,
      concept.id,
      JSON.stringify({ latent_tokens: 16, preset: "standard" }),
      photos,
      now,
      now,
    )
    .run();
  for (let i = 0; i < photos; i++) {
    await env.PHOTOS.put(`jobs/${id}/${String(i).padStart(2, "0")}`, png(), {
      httpMetadata: { contentType: "image/png" },
    });
  }
  return { id, concept, body: { job_id: id, tenant_id: tenant.tenantId, request_id: "req-queue-test" } };
}

async function deliver(queue: string, body: unknown, attempts = 1) {
  const batch = createMessageBatch(queue, [{ id: "msg-1", timestamp: new Date(), attempts, body }]);
  // getQueueResult reports which messages were retried but not their delay; spy on retry() for that.
  const retry = vi.spyOn(batch.messages[0]!, "retry");
  const ctx = createExecutionContext();
  await worker.queue(batch, env, ctx);
  const result = await getQueueResult(batch, ctx);
  return { ...result, retryDelays: retry.mock.calls.map((call) => call[0]?.delaySeconds) };
}

async function jobRow(id: string) {
  return (await env.DB.prepare("SELECT * FROM jobs WHERE id = ?").bind(id).first<Record<string, unknown>>())!;
}

describe("training queue consumer", () => {
  it("dispatches the job with its photos to the node (HMAC-signed, request id) and acks", async () => {
    const tenant = await createTenant();
    const job = await stagedJob(tenant);
    const result = await deliver(TRAINING_QUEUE, job.body);
    expect(result.explicitAcks).toEqual(["msg-1"]);
    expect(result.retryMessages).toEqual([]);
    expect(await jobRow(job.id)).toMatchObject({ status: "running", stage: "dispatched", attempts: 1 });
    // Other tests' jobs also reach the stub through the real local queue; pick this job's dispatch.
    const [sent] = (await trainerStub.requests()).filter((r) => r.body.includes(job.id));
    expect(sent!.path).toBe("/v1/train");
    expect(sent!.headers["x-request-id"]).toBe("req-queue-test");
    const verdict = await verifyRequest(
      env.HMAC_SECRET,
      "POST",
      "/v1/train",
      sent!.body,
      new Headers(sent!.headers),
    );
    expect(verdict.ok).toBe(true);
    const payload = v.parse(TrainDispatchSchema, JSON.parse(sent!.body));
    expect(payload.photos).toHaveLength(2);
    expect(payload.photos[0]!.mime).toBe("image/png");
    expect(payload.concept).toMatchObject({ id: job.concept.id, name: job.concept.name, next_version: 1 });
  });

  it("retries with exponential backoff while the node is down", async () => {
    const tenant = await createTenant();
    const job = await stagedJob(tenant);
    await trainerStub.mode("down");
    const first = await deliver(TRAINING_QUEUE, job.body, 1);
    expect(first.retryMessages).toEqual([expect.objectContaining({ msgId: "msg-1" })]);
    expect(first.retryDelays).toEqual([retryDelaySeconds(1)]);
    expect(first.explicitAcks).toEqual([]);
    const third = await deliver(TRAINING_QUEUE, job.body, 3);
    expect(third.retryDelays).toEqual([retryDelaySeconds(3)]);
    expect(retryDelaySeconds(3)).toBe(4 * retryDelaySeconds(1));
    const row = await jobRow(job.id);
    expect(row).toMatchObject({ status: "queued", attempts: 2 });
    expect(String(row.error)).toContain("503");
  });

  it("fails the job at once when the node refuses it", async () => {
    const tenant = await createTenant();
    const job = await stagedJob(tenant);
    await trainerStub.mode("refuse");
    const result = await deliver(TRAINING_QUEUE, job.body);
    expect(result.explicitAcks).toEqual(["msg-1"]);
    expect(await jobRow(job.id)).toMatchObject({ status: "failed" });
    expect((await env.PHOTOS.list({ prefix: `jobs/${job.id}/` })).objects).toEqual([]);
  });

  it("marks dead-lettered jobs failed with the last error", async () => {
    const tenant = await createTenant();
    const job = await stagedJob(tenant);
    await trainerStub.mode("down");
    await deliver(TRAINING_QUEUE, job.body, 6);
    const result = await deliver(TRAINING_DLQ, job.body);
    expect(result.explicitAcks).toEqual(["msg-1"]);
    const row = await jobRow(job.id);
    expect(row.status).toBe("failed");
    expect(String(row.error)).toMatch(
      /dead-lettered after \d+ attempts; last error: attempt 6: trainer node answered 503/,
    );
    const concept = await env.DB.prepare("SELECT status FROM concepts WHERE id = ?")
      .bind(job.concept.id)
      .first<{ status: string }>();
    expect(concept!.status).toBe("failed");
  });

  it("acks malformed messages and messages for cancelled or deleted jobs without calling the node", async () => {
    const tenant = await createTenant();
    const job = await stagedJob(tenant);
    await env.DB.prepare("UPDATE jobs SET status = 'cancelled' WHERE id = ?").bind(job.id).run();
    expect((await deliver(TRAINING_QUEUE, job.body)).explicitAcks).toEqual(["msg-1"]);
    expect((await deliver(TRAINING_QUEUE, { nonsense: true })).explicitAcks).toEqual(["msg-1"]);
    expect(
      (await deliver(TRAINING_QUEUE, { ...job.body, job_id: "job_missing0000000000" })).explicitAcks,
    ).toEqual(["msg-1"]);
    // A message naming another tenant's job does nothing to it.
    const other = await createTenant();
    const foreign = await stagedJob(other);
    expect(
      (await deliver(TRAINING_QUEUE, { ...foreign.body, tenant_id: tenant.tenantId })).explicitAcks,
    ).toEqual(["msg-1"]);
    expect((await jobRow(foreign.id)).status).toBe("queued");
    const mine = (await trainerStub.requests()).filter(
      (r) => r.body.includes(job.id) || r.body.includes(foreign.id),
    );
    expect(mine).toEqual([]);
  });

  it("fails a job whose staged photos are gone", async () => {
    const tenant = await createTenant();
    const job = await stagedJob(tenant);
    await env.PHOTOS.delete(`jobs/${job.id}/01`);
    expect((await deliver(TRAINING_QUEUE, job.body)).explicitAcks).toEqual(["msg-1"]);
    expect(await jobRow(job.id)).toMatchObject({ status: "failed", error: "staged photo 1 is missing" });
  });

  it("the cron trigger fails running jobs the node stopped reporting on", async () => {
    const tenant = await createTenant();
    const stalled = await stagedJob(tenant);
    const fresh = await stagedJob(tenant);
    const old = new Date(Date.now() - STALLED_JOB_MS - 60_000).toISOString();
    await env.DB.prepare("UPDATE jobs SET status = 'running', updated_at = ? WHERE id = ?")
      .bind(old, stalled.id)
      .run();
    await env.DB.prepare("UPDATE jobs SET status = 'running' WHERE id = ?").bind(fresh.id).run();
    const ctx = createExecutionContext();
    await worker.scheduled(createScheduledController(), env, ctx);
    await waitOnExecutionContext(ctx);
    expect(await jobRow(stalled.id)).toMatchObject({ status: "failed" });
    expect(String((await jobRow(stalled.id)).error)).toContain("no progress");
    expect((await jobRow(fresh.id)).status).toBe("running");
  });
});
