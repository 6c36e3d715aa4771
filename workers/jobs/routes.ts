/** Jobs: get, progress as Server-Sent Events, cancel. */
import { and, eq } from "drizzle-orm";
import { Hono } from "hono";
import { streamSSE } from "hono/streaming";
import { TERMINAL_JOB_STATUSES } from "../../shared/api";
import { concepts, jobs } from "../db/schema";
import type { AppEnv } from "../env";
import { auditEntry } from "../lib/audit";
import { requireApiKey } from "../lib/auth";
import { ApiError } from "../lib/errors";
import { nowIso } from "../lib/ids";
import { callTrainer } from "../lib/trainer-client";
import { findJob, photoKey, toJob } from "./job";

/** How often the event stream re-reads the job, and how long one stream lives before the client reconnects. */
export const JOB_EVENTS_POLL_MS = 1_000;
export const JOB_EVENTS_MAX_MS = 5 * 60_000;

export const jobRoutes = new Hono<AppEnv>()
  .get("/:id", requireApiKey("concepts:read"), async (c) => {
    return c.json(toJob(await findJob(c.get("db"), c.get("tenantId"), c.req.param("id"))));
  })
  .get("/:id/events", requireApiKey("concepts:read"), async (c) => {
    const db = c.get("db");
    const tenantId = c.get("tenantId");
    const first = await findJob(db, tenantId, c.req.param("id"));
    return streamSSE(c, async (stream) => {
      const started = Date.now();
      let job = first;
      let lastSent = "";
      let eventId = 0;
      while (!stream.aborted) {
        const snapshot = `${job.status}|${job.stage}|${job.progress}|${job.updatedAt}`;
        if (snapshot !== lastSent) {
          lastSent = snapshot;
          await stream.writeSSE({
            event: "progress",
            id: String(++eventId),
            data: JSON.stringify(toJob(job)),
          });
        }
        if (TERMINAL_JOB_STATUSES.includes(job.status)) {
          await stream.writeSSE({
            event: "done",
            id: String(++eventId),
            data: JSON.stringify({ status: job.status }),
          });
          return;
        }
        if (Date.now() - started > JOB_EVENTS_MAX_MS) return;
        await stream.sleep(JOB_EVENTS_POLL_MS);
        const next = await db.query.jobs.findFirst({
          where: and(eq(jobs.id, job.id), eq(jobs.tenantId, tenantId)),
        });
        if (!next) return;
        job = next;
      }
    });
  })
  .post("/:id/cancel", requireApiKey("train"), async (c) => {
    const db = c.get("db");
    const tenantId = c.get("tenantId");
    const job = await findJob(db, tenantId, c.req.param("id"));
    if (TERMINAL_JOB_STATUSES.includes(job.status))
      throw new ApiError("job_not_cancellable", `job is ${job.status}`);
    const now = nowIso();
    const concept = await db.query.concepts.findFirst({
      where: and(eq(concepts.id, job.conceptId), eq(concepts.tenantId, tenantId)),
    });
    const cancelled = {
      ...job,
      status: "cancelled" as const,
      stage: "cancelled",
      updatedAt: now,
      finishedAt: now,
    };
    await db.batch([
      db
        .update(jobs)
        .set({ status: "cancelled", stage: "cancelled", updatedAt: now, finishedAt: now })
        .where(and(eq(jobs.id, job.id), eq(jobs.tenantId, tenantId))),
      db
        .update(concepts)
        .set({ status: concept?.currentVersion ? "ready" : "draft", updatedAt: now })
        .where(and(eq(concepts.id, job.conceptId), eq(concepts.tenantId, tenantId))),
      auditEntry(db, {
        tenantId,
        actor: c.get("actor"),
        action: "job.cancel",
        targetId: job.id,
        requestId: c.get("requestId"),
      }),
    ]);
    await c.env.PHOTOS.delete(Array.from({ length: job.photoCount }, (_, i) => photoKey(job.id, i)));
    const log = c.get("log");
    c.executionCtx.waitUntil(
      callTrainer(c.env, {
        method: "POST",
        path: `/v1/jobs/${job.id}/cancel`,
        body: "{}",
        requestId: c.get("requestId"),
      })
        .then((res) => res.body?.cancel())
        .catch((error) => log("warn", "trainer cancel failed", { job_id: job.id, error: String(error) })),
    );
    return c.json(toJob(cancelled));
  });
