/**
 * Trainer node -> edge, HMAC-signed. Progress updates a running job. A result with a concept artifact is
 * written to D1 first (the source of truth), then KV, and only then does the concept become ready, so a
 * reader that sees `ready` always finds the artifact.
 */
import { and, eq, inArray } from "drizzle-orm";
import { Hono } from "hono";
import { JobProgressRequestSchema, JobResultRequestSchema } from "../../shared/api";
import { ConceptArtifactError, readConceptArtifactHeader } from "../../shared/concept-artifact";
import { MAX_ARTIFACT_BYTES } from "../../shared/limits";
import { concepts, conceptVersions, jobs } from "../db/schema";
import type { AppEnv, Db } from "../env";
import { photoKey } from "../jobs/job";
import { failJob } from "../jobs/training-queue";
import { auditEntry } from "../lib/audit";
import { putConceptArtifact } from "../lib/concept-cache";
import { ApiError } from "../lib/errors";
import { nowIso } from "../lib/ids";
import { base64ToBytes } from "../lib/images";
import { requireTrainerSignature } from "../lib/trainer-auth";
import { validJson } from "../lib/validation";

/** The node is trusted across tenants (it signs with the shared secret); jobs are found by id alone. */
async function findOpenJob(db: Db, jobId: string) {
  const job = await db.query.jobs.findFirst({ where: eq(jobs.id, jobId) });
  if (!job) throw new ApiError("job_not_found");
  if (job.status !== "queued" && job.status !== "running")
    throw new ApiError("job_finished", `job is ${job.status}`);
  return job;
}

export const internalRoutes = new Hono<AppEnv>()
  .use(requireTrainerSignature)
  .post("/jobs/:id/progress", validJson(JobProgressRequestSchema), async (c) => {
    const job = await findOpenJob(c.get("db"), c.req.param("id"));
    const { stage, progress } = c.req.valid("json");
    const now = nowIso();
    await c
      .get("db")
      .update(jobs)
      .set({ status: "running", stage, progress, updatedAt: now, startedAt: job.startedAt ?? now })
      .where(and(eq(jobs.id, job.id), inArray(jobs.status, ["queued", "running"])))
      .run();
    return c.json({ ok: true });
  })
  .post("/jobs/:id/result", validJson(JobResultRequestSchema), async (c) => {
    const db = c.get("db");
    const job = await findOpenJob(c.get("db"), c.req.param("id"));
    const result = c.req.valid("json");
    if (result.status === "failed") {
      await failJob(db, c.env, job.id, job.tenantId, `training failed: ${result.error}`);
      return c.json({ ok: true });
    }
    const concept = await db.query.concepts.findFirst({
      where: and(eq(concepts.id, job.conceptId), eq(concepts.tenantId, job.tenantId)),
    });
    if (!concept) throw new ApiError("concept_not_found");
    let bytes: Uint8Array;
    try {
      bytes = base64ToBytes(result.artifact);
    } catch {
      throw new ApiError("invalid_artifact", "artifact is not base64");
    }
    if (bytes.byteLength > MAX_ARTIFACT_BYTES) throw new ApiError("invalid_artifact", "artifact too large");
    const version = (concept.currentVersion ?? 0) + 1;
    let header: ReturnType<typeof readConceptArtifactHeader>;
    try {
      header = readConceptArtifactHeader(bytes);
    } catch (error) {
      throw new ApiError(
        "invalid_artifact",
        error instanceof ConceptArtifactError ? error.message : "unreadable artifact",
      );
    }
    if (header.name !== concept.name || header.version !== version) {
      throw new ApiError("invalid_artifact", `artifact must be ${concept.name} version ${version}`);
    }
    if (header.model.repo !== concept.baseModel) {
      throw new ApiError(
        "invalid_artifact",
        `artifact is for ${header.model.repo}, concept uses ${concept.baseModel}`,
      );
    }
    const now = nowIso();
    const requestId = c.get("requestId");
    // 1. D1: the version row and the finished job, atomically. A duplicate delivery of the same result
    // loses on the (concept_id, version) primary key.
    const stored = db.batch([
      db.insert(conceptVersions).values({
        conceptId: concept.id,
        tenantId: concept.tenantId,
        version,
        artifact: bytes,
        sizeBytes: bytes.byteLength,
        trainingReport: header.training_report,
        jobId: job.id,
        createdAt: now,
      }),
      db
        .update(jobs)
        .set({
          status: "succeeded",
          stage: "done",
          progress: 1,
          error: null,
          updatedAt: now,
          finishedAt: now,
        })
        .where(eq(jobs.id, job.id)),
      auditEntry(db, {
        tenantId: concept.tenantId,
        actor: "trainer",
        action: "concept.version",
        targetId: concept.id,
        requestId,
        detail: { version, job_id: job.id },
      }),
    ]);
    await stored.catch((error: unknown) => {
      if (String(error).includes("UNIQUE"))
        throw new ApiError("job_finished", "this result was already recorded");
      throw error;
    });
    // 2. KV under the new versioned key.
    await putConceptArtifact(c.env, concept.id, version, bytes);
    // 3. Only now do readers see the new version.
    await db
      .update(concepts)
      .set({ status: "ready", currentVersion: version, updatedAt: nowIso() })
      .where(eq(concepts.id, concept.id))
      .run();
    await c.env.PHOTOS.delete(Array.from({ length: job.photoCount }, (_, i) => photoKey(job.id, i)));
    return c.json({ ok: true, concept_id: concept.id, version });
  });
