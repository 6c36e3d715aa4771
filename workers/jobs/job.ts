import { and, eq } from "drizzle-orm";
import { type JobRow, jobs } from "../db/schema";
import type { Db } from "../env";
import { ApiError } from "../lib/errors";

export function toJob(row: JobRow) {
  return {
    id: row.id,
    concept_id: row.conceptId,
    status: row.status,
    stage: row.stage,
    progress: row.progress,
    error: row.error,
    attempts: row.attempts,
    options: row.options,
    photo_count: row.photoCount,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
    started_at: row.startedAt,
    finished_at: row.finishedAt,
  };
}

export async function findJob(db: Db, tenantId: string, jobId: string): Promise<JobRow> {
  const row = await db.query.jobs.findFirst({ where: and(eq(jobs.id, jobId), eq(jobs.tenantId, tenantId)) });
  if (!row) throw new ApiError("job_not_found");
  return row;
}

export function photoKey(jobId: string, index: number): string {
  return `jobs/${jobId}/${String(index).padStart(2, "0")}`;
}
