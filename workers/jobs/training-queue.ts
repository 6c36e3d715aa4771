/**
 * Queue consumer for training jobs. Each message names a job; the consumer loads its staged photos from R2
 * and dispatches it to the trainer node. Node down or overloaded: retry with exponential backoff. The node
 * refusing the job (4xx): fail it now. After max_retries the message lands in the dead-letter queue, whose
 * consumer marks the job failed with the last error.
 */
import { and, eq, lt } from "drizzle-orm";
import { drizzle } from "drizzle-orm/d1";
import * as v from "valibot";
import type { ImageMime } from "../../shared/prompt-plan";
import type { TrainDispatch } from "../../shared/trainer-api";
import * as schema from "../db/schema";
import { concepts, jobs } from "../db/schema";
import type { Db, EdgeEnv, TrainingMessage } from "../env";
import { auditEntry } from "../lib/audit";
import { ApiError } from "../lib/errors";
import { nowIso } from "../lib/ids";
import { bytesToBase64 } from "../lib/images";
import { createLogger } from "../lib/log";
import { callTrainer } from "../lib/trainer-client";
import { photoKey } from "./job";

export const TRAINING_QUEUE = "yo-training";
export const TRAINING_DLQ = "yo-training-dlq";
const BACKOFF_BASE_SECONDS = 5;
const BACKOFF_MAX_SECONDS = 300;
const DISPATCH_TIMEOUT_MS = 60_000;

const TrainingMessageSchema = v.object({ job_id: v.string(), tenant_id: v.string(), request_id: v.string() });

export function retryDelaySeconds(attempt: number): number {
  return Math.min(BACKOFF_MAX_SECONDS, BACKOFF_BASE_SECONDS * 2 ** Math.max(0, attempt - 1));
}

export async function handleTrainingBatch(batch: MessageBatch<unknown>, env: EdgeEnv): Promise<void> {
  // Queue consumers talk to the primary: job state must not be read from a lagging replica.
  const db = drizzle(env.DB, { schema });
  for (const message of batch.messages) {
    const parsed = v.safeParse(TrainingMessageSchema, message.body);
    const log = createLogger(
      {
        request_id: parsed.success ? parsed.output.request_id : "none",
        queue: batch.queue,
      },
      env.LOG_LEVEL,
    );
    if (!parsed.success) {
      // Nothing to mark or retry: a malformed message can never succeed.
      log("error", "malformed training message dropped", { message_id: message.id });
      message.ack();
      continue;
    }
    if (batch.queue === TRAINING_DLQ) {
      await failDeadLetteredJob(db, env, parsed.output, message.attempts);
      log("warn", "training job dead-lettered", { job_id: parsed.output.job_id });
      message.ack();
      continue;
    }
    const outcome = await dispatchJob(db, env, parsed.output, message.attempts);
    log(outcome.kind === "retry" ? "warn" : "info", `training dispatch: ${outcome.kind}`, {
      job_id: parsed.output.job_id,
      attempt: message.attempts,
      ...(outcome.kind === "retry" ? { error: outcome.error } : {}),
    });
    if (outcome.kind === "retry") message.retry({ delaySeconds: retryDelaySeconds(message.attempts) });
    else message.ack();
  }
}

type DispatchOutcome = { kind: "dispatched" | "skipped" | "failed" } | { kind: "retry"; error: string };

async function dispatchJob(
  db: Db,
  env: EdgeEnv,
  message: TrainingMessage,
  attempt: number,
): Promise<DispatchOutcome> {
  const where = and(eq(jobs.id, message.job_id), eq(jobs.tenantId, message.tenant_id));
  const job = await db.query.jobs.findFirst({ where });
  // Deleted, cancelled or already finished: the message is obsolete (queues deliver at least once).
  if (job?.status !== "queued") return { kind: "skipped" };
  const concept = await db.query.concepts.findFirst({
    where: and(eq(concepts.id, job.conceptId), eq(concepts.tenantId, job.tenantId)),
  });
  if (!concept) return { kind: "skipped" };
  const now = nowIso();
  await db
    .update(jobs)
    .set({ attempts: job.attempts + 1, stage: "dispatching", updatedAt: now })
    .where(where)
    .run();

  const photos: TrainDispatch["photos"] = [];
  for (let index = 0; index < job.photoCount; index++) {
    const object = await env.PHOTOS.get(photoKey(job.id, index));
    if (!object) return failJob(db, env, job.id, job.tenantId, `staged photo ${index} is missing`);
    photos.push({
      // The train route stored the MIME type it sniffed from the magic bytes.
      mime: object.httpMetadata!.contentType as ImageMime,
      base64: bytesToBase64(new Uint8Array(await object.arrayBuffer())),
    });
  }
  const dispatch: TrainDispatch = {
    job_id: job.id,
    tenant_id: job.tenantId,
    concept: {
      id: concept.id,
      name: concept.name,
      kind: concept.kind,
      base_model: concept.baseModel,
      next_version: (concept.currentVersion ?? 0) + 1,
    },
    options: job.options,
    photos,
    callbacks: {
      progress: `/v1/internal/jobs/${job.id}/progress`,
      result: `/v1/internal/jobs/${job.id}/result`,
    },
  };
  const body = JSON.stringify(dispatch);
  try {
    const response = await callTrainer(env, {
      method: "POST",
      path: "/v1/train",
      body,
      requestId: message.request_id,
      timeoutMs: DISPATCH_TIMEOUT_MS,
    });
    await response.body?.cancel();
  } catch (error) {
    const reason = error instanceof ApiError ? (error.detail ?? error.code) : String(error);
    if (error instanceof ApiError && error.code === "trainer_error" && /answered 4\d\d/.test(reason)) {
      return failJob(db, env, job.id, job.tenantId, `trainer node refused the job: ${reason}`);
    }
    await db
      .update(jobs)
      .set({ error: `attempt ${attempt}: ${reason}`, stage: "queued", updatedAt: nowIso() })
      .where(where)
      .run();
    return { kind: "retry", error: reason };
  }
  await db
    .update(jobs)
    .set({
      status: "running",
      stage: "dispatched",
      startedAt: job.startedAt ?? nowIso(),
      updatedAt: nowIso(),
      error: null,
    })
    .where(and(where, eq(jobs.status, "queued")))
    .run();
  return { kind: "dispatched" };
}

export async function failJob(
  db: Db,
  env: EdgeEnv,
  jobId: string,
  tenantId: string,
  reason: string,
): Promise<{ kind: "failed" }> {
  const now = nowIso();
  const where = and(eq(jobs.id, jobId), eq(jobs.tenantId, tenantId));
  const job = await db.query.jobs.findFirst({ where });
  if (!job) return { kind: "failed" };
  const concept = await db.query.concepts.findFirst({
    where: and(eq(concepts.id, job.conceptId), eq(concepts.tenantId, tenantId)),
  });
  await db.batch([
    db
      .update(jobs)
      .set({ status: "failed", stage: "failed", error: reason, updatedAt: now, finishedAt: now })
      .where(where),
    db
      .update(concepts)
      .set({ status: concept?.currentVersion ? "ready" : "failed", updatedAt: now })
      .where(and(eq(concepts.id, job.conceptId), eq(concepts.tenantId, tenantId))),
    auditEntry(db, {
      tenantId,
      actor: "queue",
      action: "job.fail",
      targetId: jobId,
      requestId: job.requestId,
      detail: { reason },
    }),
  ]);
  await env.PHOTOS.delete(Array.from({ length: job.photoCount }, (_, i) => photoKey(jobId, i)));
  return { kind: "failed" };
}

async function failDeadLetteredJob(db: Db, env: EdgeEnv, message: TrainingMessage, attempts: number) {
  const job = await db.query.jobs.findFirst({
    where: and(eq(jobs.id, message.job_id), eq(jobs.tenantId, message.tenant_id)),
  });
  if (!job || job.status === "succeeded" || job.status === "cancelled" || job.status === "failed") return;
  await failJob(
    db,
    env,
    job.id,
    job.tenantId,
    `dead-lettered after ${Math.max(attempts, job.attempts)} attempts; last error: ${job.error ?? "unknown"}`,
  );
}

/**
 * A dispatched job whose node went silent (no progress for STALLED_JOB_MS) would stay `running` forever;
 * the cron trigger fails it so the tenant can train again.
 */
export const STALLED_JOB_MS = 30 * 60_000;

export async function failStalledJobs(env: EdgeEnv, now = Date.now()): Promise<number> {
  const db = drizzle(env.DB, { schema });
  const cutoff = new Date(now - STALLED_JOB_MS).toISOString();
  const stalled = await db
    .select({ id: jobs.id, tenantId: jobs.tenantId })
    .from(jobs)
    .where(and(eq(jobs.status, "running"), lt(jobs.updatedAt, cutoff)));
  for (const job of stalled) {
    await failJob(
      db,
      env,
      job.id,
      job.tenantId,
      `no progress from the trainer node for ${STALLED_JOB_MS / 60_000} minutes`,
    );
  }
  return stalled.length;
}
