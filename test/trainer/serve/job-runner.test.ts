// The job runner with a test double for the ConceptTrainer seam (ControlledConceptTrainer below): bounded
// queue, one slot, duplicates, cancellation, failures, the journal across a restart, result conflicts.
import { mkdtempSync, readdirSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import type { TrainDispatch } from "../../../shared/trainer-api";
import type {
  ConceptTrainer,
  ConceptTrainingJob,
  TrainContext,
} from "../../../trainer/serve/concept-trainer";
import type { CallbackOutcome } from "../../../trainer/serve/edge-client";
import { ServeError } from "../../../trainer/serve/errors";
import { JobJournal } from "../../../trainer/serve/job-journal";
import { JobRunner } from "../../../trainer/serve/job-runner";

/** TEST DOUBLE of the ConceptTrainer seam: each job waits until the test finishes or fails it. */
class ControlledConceptTrainer implements ConceptTrainer {
  readonly started: string[] = [];
  private readonly pending = new Map<
    string,
    { resolve: (b: Uint8Array) => void; reject: (e: Error) => void; context: TrainContext }
  >();

  train(job: ConceptTrainingJob, context: TrainContext): Promise<Uint8Array> {
    this.started.push(job.jobId);
    return new Promise((resolve, reject) => {
      this.pending.set(job.jobId, { resolve, reject, context });
      context.signal.addEventListener("abort", () => reject(new Error("aborted")));
    });
  }

  progress(jobId: string, progress: number): void {
    this.pending.get(jobId)!.context.onProgress({ stage: "training", progress });
  }

  succeed(jobId: string): void {
    this.pending.get(jobId)!.resolve(new Uint8Array([1, 2, 3]));
  }

  fail(jobId: string, message: string): void {
    this.pending.get(jobId)!.reject(new Error(message));
  }

  async waitStarted(jobId: string): Promise<void> {
    for (let i = 0; i < 200 && !this.pending.has(jobId); i++) await new Promise((r) => setTimeout(r, 5));
  }
}

function dispatch(jobId: string, conceptId = "con_1"): TrainDispatch {
  return {
    job_id: jobId,
    tenant_id: "ten_1",
    concept: { id: conceptId, name: "<bo>", kind: "pet", base_model: "fixture/llava", next_version: 1 },
    options: { latent_tokens: 2, preset: "fast" },
    photos: [{ mime: "image/png", base64: Buffer.from("photo").toString("base64") }],
    callbacks: {
      progress: `/v1/internal/jobs/${jobId}/progress`,
      result: `/v1/internal/jobs/${jobId}/result`,
    },
  };
}

function setup(
  options: {
    queueDepth?: number;
    resultOutcome?: CallbackOutcome | (() => CallbackOutcome);
    stateDir?: string;
  } = {},
) {
  const stateDir = options.stateDir ?? mkdtempSync(path.join(tmpdir(), "yo-jobs-"));
  const trainer = new ControlledConceptTrainer();
  const posted: { path: string; body: Record<string, unknown> }[] = [];
  const journal = new JobJournal(stateDir);
  const runner = new JobRunner({
    trainer,
    journal,
    concurrency: 1,
    queueDepth: options.queueDepth ?? 4,
    progressIntervalMs: 0,
    redeliveryIntervalMs: 1,
    edge: {
      post: async (p, body) => {
        posted.push({ path: p, body: body as Record<string, unknown> });
        if (!p.endsWith("/result")) return "delivered";
        const outcome =
          typeof options.resultOutcome === "function" ? options.resultOutcome() : options.resultOutcome;
        return outcome ?? "delivered";
      },
    },
  });
  const journalFiles = () => readdirSync(path.join(stateDir, "jobs"));
  return { trainer, posted, runner, journal, journalFiles, stateDir };
}

describe("JobRunner", () => {
  it("runs one job at a time, answers queue_full beyond the queue, and posts progress then the result", async () => {
    const { trainer, posted, runner, journalFiles } = setup({ queueDepth: 1 });
    expect(runner.submit(dispatch("job_a")).state).toBe("queued");
    await trainer.waitStarted("job_a");
    expect(runner.state("job_a")).toBe("running");
    runner.submit(dispatch("job_b"));
    expect(() => runner.submit(dispatch("job_c"))).toThrow(ServeError);
    try {
      runner.submit(dispatch("job_c"));
    } catch (error) {
      expect((error as ServeError).status).toBe(429);
    }
    expect(trainer.started).toEqual(["job_a"]);
    trainer.progress("job_a", 0.5);
    trainer.succeed("job_a");
    expect(await runner.settled("job_a")).toBe("succeeded");
    await trainer.waitStarted("job_b");
    expect(trainer.started).toEqual(["job_a", "job_b"]);
    const forA = posted.filter((p) => p.path.includes("job_a"));
    expect(forA.map((p) => p.path.split("/").at(-1))).toEqual(["progress", "progress", "result"]);
    expect(forA.at(-1)!.body).toEqual({
      status: "succeeded",
      artifact: Buffer.from([1, 2, 3]).toString("base64"),
    });
    // job_a's photos are gone (journal entry removed); job_b's stay while it runs.
    expect(journalFiles()).toEqual(["job_b.json"]);
  });

  it("acknowledges a redelivered job id without a second run", async () => {
    const { trainer, runner } = setup();
    runner.submit(dispatch("job_a"));
    await trainer.waitStarted("job_a");
    expect(runner.submit(dispatch("job_a"))).toEqual({ state: "running", duplicate: true });
    trainer.succeed("job_a");
    await runner.settled("job_a");
    expect(runner.submit(dispatch("job_a"))).toEqual({ state: "succeeded", duplicate: true });
    expect(trainer.started).toEqual(["job_a"]);
  });

  it("cancel stops a running job without posting a result; purge stops a concept's jobs", async () => {
    const { trainer, posted, runner, journalFiles } = setup();
    runner.submit(dispatch("job_a"));
    runner.submit(dispatch("job_b", "con_2"));
    await trainer.waitStarted("job_a");
    expect(runner.cancel("job_a")).toBe(true);
    expect(await runner.settled("job_a")).toBe("cancelled");
    expect(posted.some((p) => p.path.endsWith("job_a/result"))).toBe(false);
    await trainer.waitStarted("job_b");
    expect(runner.holdsPhotosFor("con_2")).toBe(true);
    expect(runner.purge("con_2", ["job_b"])).toEqual(["job_b"]);
    expect(await runner.settled("job_b")).toBe("cancelled");
    expect(runner.holdsPhotosFor("con_2")).toBe(false);
    expect(journalFiles()).toEqual([]);
  });

  it("posts a failed result when training throws", async () => {
    const { trainer, posted, runner } = setup();
    runner.submit(dispatch("job_a"));
    await trainer.waitStarted("job_a");
    trainer.fail("job_a", "diverged");
    expect(await runner.settled("job_a")).toBe("failed");
    expect(posted.at(-1)!.body).toMatchObject({ status: "failed", error: "Error: diverged" });
  });

  it("treats a 409 on the result (already recorded) as done", async () => {
    const { trainer, runner, journalFiles } = setup({ resultOutcome: "conflict" });
    runner.submit(dispatch("job_a"));
    await trainer.waitStarted("job_a");
    trainer.succeed("job_a");
    expect(await runner.settled("job_a")).toBe("succeeded");
    expect(journalFiles()).toEqual([]);
  });

  it("posts a result again later when the edge was unreachable, and drops the photos once it lands", async () => {
    let results = 0;
    const { trainer, posted, runner, journalFiles } = setup({
      resultOutcome: () => (++results < 3 ? "unreachable" : "delivered"),
    });
    runner.submit(dispatch("job_a"));
    await trainer.waitStarted("job_a");
    trainer.succeed("job_a");
    expect(await runner.settled("job_a")).toBe("undelivered");
    expect(journalFiles()).toEqual(["job_a.json"]);
    for (let i = 0; i < 200 && runner.state("job_a") !== "succeeded"; i++)
      await new Promise((r) => setTimeout(r, 5));
    expect(runner.state("job_a")).toBe("succeeded");
    expect(posted.filter((p) => p.path.endsWith("/result"))).toHaveLength(3);
    expect(journalFiles()).toEqual([]);
  });

  it("a shutdown keeps the journal; a new runner on it resumes the job once", async () => {
    const first = setup();
    first.runner.submit(dispatch("job_a"));
    await first.trainer.waitStarted("job_a");
    await first.runner.shutdown();
    expect(first.journalFiles()).toEqual(["job_a.json"]);
    expect(first.posted.some((p) => p.path.endsWith("/result"))).toBe(false);

    const second = setup({ stateDir: first.stateDir });
    expect(second.runner.resume()).toBe(1);
    await second.trainer.waitStarted("job_a");
    expect(second.runner.submit(dispatch("job_a")).duplicate).toBe(true);
    second.trainer.succeed("job_a");
    expect(await second.runner.settled("job_a")).toBe("succeeded");
    expect(second.trainer.started).toEqual(["job_a"]);
    expect(second.journalFiles()).toEqual([]);
  });
});
