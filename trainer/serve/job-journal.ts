/**
 * Accepted training jobs on disk for the job's life only: written when the node accepts a dispatch,
 * removed once the result reached the edge (or the job was cancelled or purged). A node killed mid-job finds
 * its journal on restart and runs the job again from the start, so an accepted job is never lost; the
 * photos in it are deleted with the entry.
 */
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import * as v from "valibot";
import { type TrainDispatch, TrainDispatchSchema } from "../../shared/trainer-api";

const JOB_ID_PATTERN = /^[A-Za-z0-9_-]{1,128}$/;

export function isSafeJobId(jobId: string): boolean {
  return JOB_ID_PATTERN.test(jobId);
}

export class JobJournal {
  private readonly dir: string;

  constructor(stateDir: string) {
    this.dir = path.join(stateDir, "jobs");
    mkdirSync(this.dir, { recursive: true, mode: 0o700 });
  }

  private file(jobId: string): string {
    if (!isSafeJobId(jobId)) throw new Error(`unsafe job id ${jobId}`);
    return path.join(this.dir, `${jobId}.json`);
  }

  write(dispatch: TrainDispatch): void {
    const target = this.file(dispatch.job_id);
    const temp = `${target}.tmp`;
    writeFileSync(temp, JSON.stringify(dispatch), { mode: 0o600 });
    renameSync(temp, target);
  }

  remove(jobId: string): void {
    rmSync(this.file(jobId), { force: true });
  }

  has(jobId: string): boolean {
    return this.list().some((d) => d.job_id === jobId);
  }

  /** Jobs accepted but not finished, oldest first by file order; unreadable entries are dropped. */
  list(): TrainDispatch[] {
    const out: TrainDispatch[] = [];
    for (const name of readdirSync(this.dir).sort()) {
      const full = path.join(this.dir, name);
      if (!name.endsWith(".json")) {
        rmSync(full, { force: true });
        continue;
      }
      try {
        out.push(v.parse(TrainDispatchSchema, JSON.parse(readFileSync(full, "utf8"))));
      } catch {
        rmSync(full, { force: true });
      }
    }
    return out;
  }
}
