/**
 * POST /v1/concepts/{id}/train: multipart with 1-10 `photos` and an optional `options` JSON field.
 * Photos are checked (magic bytes, size, pixels), staged in R2 under the job id, and only the job id goes
 * on the queue.
 */
import { and, eq, inArray } from "drizzle-orm";
import { Hono } from "hono";
import { TrainOptionsSchema } from "../../shared/api";
import { MAX_PHOTOS_PER_JOB, MIN_PHOTOS_PER_JOB } from "../../shared/limits";
import { findConcept } from "../concepts/concept";
import { concepts, jobs } from "../db/schema";
import type { AppEnv } from "../env";
import { photoKey, toJob } from "../jobs/job";
import { failJob } from "../jobs/training-queue";
import { auditEntry } from "../lib/audit";
import { requireApiKey } from "../lib/auth";
import { ApiError } from "../lib/errors";
import { idempotent } from "../lib/idempotency";
import { newId, nowIso } from "../lib/ids";
import { type CheckedImage, checkImage } from "../lib/images";
import { parseOrThrow } from "../lib/validation";

async function readTrainForm(request: Request, body: ArrayBuffer) {
  const contentType = request.headers.get("content-type") ?? "";
  if (!contentType.startsWith("multipart/form-data")) {
    throw new ApiError("unsupported_media_type", "send multipart/form-data with photos and options");
  }
  let form: FormData;
  try {
    form = await new Request(request.url, {
      method: "POST",
      headers: { "content-type": contentType },
      body,
    }).formData();
  } catch {
    throw new ApiError("validation_failed", "malformed multipart body");
  }
  const files = (form.getAll("photos") as unknown as (File | string)[]).filter(
    (entry): entry is File => typeof entry !== "string",
  );
  if (files.length < MIN_PHOTOS_PER_JOB || files.length > MAX_PHOTOS_PER_JOB) {
    throw new ApiError(
      "validation_failed",
      `send ${MIN_PHOTOS_PER_JOB}-${MAX_PHOTOS_PER_JOB} photos, got ${files.length}`,
      {
        errors: [{ path: "photos", message: `expected ${MIN_PHOTOS_PER_JOB}-${MAX_PHOTOS_PER_JOB} files` }],
      },
    );
  }
  const photos: CheckedImage[] = [];
  for (const [index, file] of files.entries()) {
    photos.push(checkImage(new Uint8Array(await file.arrayBuffer()), `photos[${index}]`));
  }
  const rawOptions = form.get("options");
  let options: unknown = {};
  if (typeof rawOptions === "string" && rawOptions.trim() !== "") {
    try {
      options = JSON.parse(rawOptions);
    } catch {
      throw new ApiError("validation_failed", "options must be a JSON object", {
        errors: [{ path: "options", message: "not JSON" }],
      });
    }
  }
  return { photos, options: parseOrThrow(TrainOptionsSchema, options, "options.") };
}

export const trainingRoutes = new Hono<AppEnv>().post(
  "/:id/train",
  requireApiKey("train"),
  idempotent,
  async (c) => {
    const db = c.get("db");
    const tenantId = c.get("tenantId");
    const requestId = c.get("requestId");
    const concept = await findConcept(db, tenantId, c.req.param("id"));
    const { photos, options } = await readTrainForm(c.req.raw, await c.req.arrayBuffer());
    const busy = await db.query.jobs.findFirst({
      where: and(
        eq(jobs.tenantId, tenantId),
        eq(jobs.conceptId, concept.id),
        inArray(jobs.status, ["queued", "running"]),
      ),
    });
    if (busy) throw new ApiError("training_in_progress", `job ${busy.id} is ${busy.status}`);

    const now = nowIso();
    const job = {
      id: newId("job"),
      tenantId,
      conceptId: concept.id,
      status: "queued" as const,
      stage: "queued",
      progress: 0,
      error: null,
      attempts: 0,
      options,
      photoCount: photos.length,
      requestId,
      createdAt: now,
      updatedAt: now,
      startedAt: null,
      finishedAt: null,
    };
    await Promise.all(
      photos.map((photo, index) =>
        c.env.PHOTOS.put(photoKey(job.id, index), photo.bytes, {
          httpMetadata: { contentType: photo.mime },
          customMetadata: { tenant_id: tenantId, width: String(photo.width), height: String(photo.height) },
        }),
      ),
    );
    await db.batch([
      db.insert(jobs).values(job),
      db
        .update(concepts)
        .set({ status: "training", updatedAt: now })
        .where(and(eq(concepts.id, concept.id), eq(concepts.tenantId, tenantId))),
      auditEntry(db, {
        tenantId,
        actor: c.get("actor"),
        action: "concept.train",
        targetId: job.id,
        requestId,
        detail: { concept_id: concept.id, photos: photos.length },
      }),
    ]);
    try {
      await c.env.TRAINING_QUEUE.send({ job_id: job.id, tenant_id: tenantId, request_id: requestId });
    } catch (error) {
      // Undo the job so the concept is not stuck in `training`; the client may retry.
      await failJob(db, c.env, job.id, tenantId, "could not enqueue the job");
      throw error;
    }
    c.get("log")("info", "job queued", { job_id: job.id, concept_id: concept.id, photos: photos.length });
    return c.json(toJob(job), 202);
  },
);
