/**
 * Training jobs on this node: a bounded queue in front of a fixed number of slots (one per device by
 * default). Each job's dispatch is journaled until it ends, so a restarted node resumes what it had
 * accepted; a redelivered dispatch of a known job id is acknowledged without a second run. Progress and
 * the result go back to the edge through signed callbacks; the photos exist only in the dispatch (memory
 * and the journal entry) and are gone when the job ends.
 */
import type { TrainDispatch } from "../../shared/trainer-api";
import type { ConceptTrainer, ConceptTrainingJob, TrainingProgress } from "./concept-trainer";
import type { CallbackOutcome } from "./edge-client";
import { ServeError } from "./errors";
import type { JobJournal } from "./job-journal";
import {
  MAX_REMEMBERED_JOBS,
  PROGRESS_MIN_INTERVAL_MS,
  REDELIVERY_INTERVAL_MS,
  REDELIVERY_ROUNDS,
} from "./limits";

export const JOB_STATES = ["queued", "running", "succeeded", "failed", "cancelled", "undelivered"] as const;
export type JobState = (typeof JOB_STATES)[number];

export interface EdgeCallbacks {
  post(path: string, body: unknown, requestId: string): Promise<CallbackOutcome>;
}

export interface JobRunnerOptions {
  trainer: ConceptTrainer | undefined;
  edge: EdgeCallbacks;
  journal: JobJournal;
  concurrency: number;
  queueDepth: number;
  log?: (message: string, fields: Record<string, unknown>) => void;
  progressIntervalMs?: number;
  redeliveryIntervalMs?: number;
}

interface JobEntry {
  dispatch: TrainDispatch;
  state: JobState;
  controller: AbortController;
  /** Why the job was stopped: a cancel or purge ends it; a shutdown leaves it journaled for the restart. */
  stopReason?: "cancelled" | "shutdown";
  done: Promise<void>;
  resolveDone: () => void;
}

export interface SubmitOutcome {
  state: JobState;
  /** The job id was already known: nothing new was started. */
  duplicate: boolean;
}

export class JobRunner {
  private readonly jobs = new Map<string, JobEntry>();
  private readonly waiting: string[] = [];
  private running = 0;
  private closed = false;
  /** Job runs started (a resumed job counts again), for tests and metrics. */
  runsStarted = 0;

  constructor(private readonly options: JobRunnerOptions) {}

  get available(): boolean {
    return this.options.trainer !== undefined;
  }

  /** Accepts a dispatch (journaled before this returns) or says why not. */
  submit(dispatch: TrainDispatch): SubmitOutcome {
    const known = this.jobs.get(dispatch.job_id);
    if (known) return { state: known.state, duplicate: true };
    if (!this.options.trainer)
      throw new ServeError("training_unavailable", "this node has no concept trainer loaded");
    if (this.closed) throw new ServeError("overloaded", "node is shutting down");
    if (this.waiting.length >= this.options.queueDepth) {
      throw new ServeError("queue_full", `${this.waiting.length} jobs already waiting`);
    }
    this.options.journal.write(dispatch);
    this.enqueue(dispatch);
    return { state: "queued", duplicate: false };
  }

  /** Re-enqueues the journal's jobs (after a restart); returns how many. */
  resume(): number {
    if (!this.options.trainer) return 0;
    const pending = this.options.journal.list();
    for (const dispatch of pending) {
      if (!this.jobs.has(dispatch.job_id)) {
        this.options.log?.("resuming journaled job", { job_id: dispatch.job_id });
        this.enqueue(dispatch);
      }
    }
    return pending.length;
  }

  private enqueue(dispatch: TrainDispatch): void {
    let resolveDone = () => {};
    const done = new Promise<void>((resolve) => {
      resolveDone = resolve;
    });
    this.jobs.set(dispatch.job_id, {
      dispatch,
      state: "queued",
      controller: new AbortController(),
      done,
      resolveDone,
    });
    this.waiting.push(dispatch.job_id);
    this.forget();
    this.pump();
  }

  /** Stops a queued or running job; no result is posted. False when the job is unknown or finished. */
  cancel(jobId: string): boolean {
    const job = this.jobs.get(jobId);
    if (!job || (job.state !== "queued" && job.state !== "running")) return false;
    job.stopReason = "cancelled";
    job.controller.abort(new Error("cancelled"));
    if (job.state === "queued") {
      this.waiting.splice(this.waiting.indexOf(jobId), 1);
      this.finish(job, "cancelled");
    }
    return true;
  }

  /** Drops a concept's jobs (and so their photos). Returns the job ids that were stopped. */
  purge(conceptId: string, jobIds: readonly string[]): string[] {
    const stopped: string[] = [];
    for (const [id, job] of this.jobs) {
      if (job.dispatch.concept.id === conceptId || jobIds.includes(id)) {
        if (this.cancel(id)) stopped.push(id);
      }
    }
    for (const id of jobIds) this.options.journal.remove(id);
    return stopped;
  }

  state(jobId: string): JobState | undefined {
    return this.jobs.get(jobId)?.state;
  }

  /** Resolves when the job has ended (any state); immediately for unknown ids. */
  async settled(jobId: string): Promise<JobState | undefined> {
    await this.jobs.get(jobId)?.done;
    return this.state(jobId);
  }

  get queueDepth(): number {
    return this.waiting.length;
  }

  /** Photos currently held in memory, by concept (for purge checks). */
  holdsPhotosFor(conceptId: string): boolean {
    for (const job of this.jobs.values()) {
      if (job.dispatch.concept.id === conceptId && (job.state === "queued" || job.state === "running"))
        return true;
    }
    return false;
  }

  counts(): Record<JobState, number> {
    const out = Object.fromEntries(JOB_STATES.map((s) => [s, 0])) as Record<JobState, number>;
    for (const job of this.jobs.values()) out[job.state]++;
    return out;
  }

  /** Stops taking jobs and aborts running ones; their journal entries stay for the next start. */
  async shutdown(): Promise<void> {
    this.closed = true;
    this.waiting.length = 0;
    const active = [...this.jobs.values()].filter((j) => j.state === "running");
    for (const job of active) {
      job.stopReason = "shutdown";
      job.controller.abort(new Error("shutdown"));
    }
    await Promise.all(active.map((j) => j.done));
  }

  private pump(): void {
    while (!this.closed && this.running < this.options.concurrency && this.waiting.length > 0) {
      const id = this.waiting.shift()!;
      const job = this.jobs.get(id);
      if (!job || job.state !== "queued") continue;
      this.running++;
      job.state = "running";
      this.runsStarted++;
      void this.run(job).finally(() => {
        this.running--;
        this.pump();
      });
    }
  }

  private async run(job: JobEntry): Promise<void> {
    const { dispatch, controller } = job;
    const requestId = `job-${dispatch.job_id}`;
    const edge = this.options.edge;
    const interval = this.options.progressIntervalMs ?? PROGRESS_MIN_INTERVAL_MS;
    let lastSent = 0;
    let progressChain: Promise<unknown> = Promise.resolve();
    const sendProgress = (p: TrainingProgress, force = false) => {
      const now = Date.now();
      if (!force && now - lastSent < interval) return;
      lastSent = now;
      const body = { stage: p.stage.slice(0, 64), progress: Math.min(1, Math.max(0, p.progress)) };
      progressChain = progressChain.then(async () => {
        const outcome = await edge.post(dispatch.callbacks.progress, body, requestId);
        // The edge no longer takes updates: the job was cancelled or its concept deleted there.
        if (outcome === "conflict" || outcome === "rejected") {
          job.stopReason = "cancelled";
          controller.abort(new Error("edge refused progress"));
        }
      });
    };
    try {
      const photos = dispatch.photos.map((p) => ({
        mime: p.mime,
        bytes: new Uint8Array(Buffer.from(p.base64, "base64")),
      }));
      const trainingJob: ConceptTrainingJob = {
        jobId: dispatch.job_id,
        concept: dispatch.concept,
        options: dispatch.options,
        photos,
      };
      sendProgress({ stage: "training", progress: 0 }, true);
      const artifact = await this.options.trainer!.train(trainingJob, {
        onProgress: (p) => sendProgress(p),
        signal: controller.signal,
      });
      controller.signal.throwIfAborted();
      await progressChain;
      controller.signal.throwIfAborted();
      const outcome = await edge.post(
        dispatch.callbacks.result,
        { status: "succeeded", artifact: Buffer.from(artifact).toString("base64") },
        requestId,
      );
      // "conflict": the edge recorded this result already (a redelivery) or the job ended there: either way,
      // exactly one version exists and the job is over.
      if (outcome === "unreachable") {
        this.finish(job, "undelivered", false);
        this.redeliver(
          job,
          { status: "succeeded", artifact: Buffer.from(artifact).toString("base64") },
          "succeeded",
        );
      } else this.finish(job, "succeeded");
    } catch (error) {
      if (controller.signal.aborted && job.stopReason === "shutdown") {
        this.finish(job, "queued", false);
        return;
      }
      if (controller.signal.aborted) {
        this.finish(job, "cancelled");
        return;
      }
      const message = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      this.options.log?.("training failed", { job_id: dispatch.job_id, error: message });
      await progressChain;
      const outcome = await edge.post(
        dispatch.callbacks.result,
        { status: "failed", error: message.slice(0, 2000) },
        requestId,
      );
      this.finish(job, outcome === "unreachable" ? "undelivered" : "failed", outcome !== "unreachable");
      if (outcome === "unreachable")
        this.redeliver(job, { status: "failed", error: message.slice(0, 2000) }, "failed");
    }
  }

  /**
   * The edge stayed unreachable through every callback attempt: keep the result and post it again later,
   * a bounded number of times. The journal entry stays until it lands, so a restart in between trains the
   * job again rather than losing it.
   */
  private redeliver(job: JobEntry, body: unknown, state: "succeeded" | "failed", round = 1): void {
    if (this.closed || round > REDELIVERY_ROUNDS) return;
    const timer = setTimeout(async () => {
      if (this.closed || job.state !== "undelivered") return;
      const outcome = await this.options.edge.post(
        job.dispatch.callbacks.result,
        body,
        `job-${job.dispatch.job_id}`,
      );
      if (outcome === "unreachable") this.redeliver(job, body, state, round + 1);
      else {
        job.state = state;
        this.options.journal.remove(job.dispatch.job_id);
      }
    }, this.options.redeliveryIntervalMs ?? REDELIVERY_INTERVAL_MS);
    timer.unref();
  }

  /** Ends a job: the journal entry (and with it the photos) goes unless the job must survive a restart. */
  private finish(job: JobEntry, state: JobState, dropJournal = true): void {
    job.state = state;
    if (dropJournal) this.options.journal.remove(job.dispatch.job_id);
    // Photos are not needed any more: keep the dispatch's metadata only.
    job.dispatch = { ...job.dispatch, photos: [] };
    job.resolveDone();
  }

  /** Forgets the oldest finished jobs beyond MAX_REMEMBERED_JOBS. */
  private forget(): void {
    if (this.jobs.size <= MAX_REMEMBERED_JOBS) return;
    for (const [id, job] of this.jobs) {
      if (this.jobs.size <= MAX_REMEMBERED_JOBS) break;
      if (job.state !== "queued" && job.state !== "running") this.jobs.delete(id);
    }
  }
}
