import { env } from "cloudflare:test";
import { beforeEach, describe, expect, it } from "vitest";
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

interface SseEvent {
  event: string;
  data: Record<string, unknown>;
}

async function readEvents(res: Response): Promise<SseEvent[]> {
  const text = await res.text();
  return text
    .split("\n\n")
    .filter((block) => block.trim())
    .map((block) => {
      const lines = block.split("\n");
      const event = lines
        .find((l) => l.startsWith("event:"))!
        .slice(6)
        .trim();
      const data = JSON.parse(lines.find((l) => l.startsWith("data:"))!.slice(5));
      return { event, data };
    });
}

describe("jobs", () => {
  it("gets a job; another tenant's job is not found", async () => {
    const a = await createTenant();
    const b = await createTenant();
    const job = await trainConcept(a, await createConcept(a));
    const got = await call(`/v1/jobs/${job.id}`, { headers: a.auth });
    expect(got.status).toBe(200);
    expect(((await got.json()) as { id: string }).id).toBe(job.id);
    expect((await problem(await call(`/v1/jobs/${job.id}`, { headers: b.auth }))).code).toBe("job_not_found");
    expect((await problem(await call(`/v1/jobs/${job.id}/events`, { headers: b.auth }))).code).toBe(
      "job_not_found",
    );
    expect(
      (await problem(await call(`/v1/jobs/${job.id}/cancel`, { method: "POST", headers: b.auth }))).code,
    ).toBe("job_not_found");
  });

  it("cancels a queued job, deletes its staged photos, and refuses a second cancel", async () => {
    const tenant = await createTenant();
    const concept = await createConcept(tenant);
    const job = await trainConcept(tenant, concept);
    const res = await call(`/v1/jobs/${job.id}/cancel`, { method: "POST", headers: tenant.auth });
    expect(res.status).toBe(200);
    expect(((await res.json()) as { status: string }).status).toBe("cancelled");
    expect((await env.PHOTOS.list({ prefix: `jobs/${job.id}/` })).objects).toEqual([]);
    const after = (await (await call(`/v1/concepts/${concept.id}`, { headers: tenant.auth })).json()) as {
      status: string;
    };
    expect(after.status).toBe("draft");
    const again = await call(`/v1/jobs/${job.id}/cancel`, { method: "POST", headers: tenant.auth });
    expect((await problem(again)).code).toBe("job_not_cancellable");
    // A late result from the node for a cancelled job is refused.
    const late = await signedCall("POST", `/v1/internal/jobs/${job.id}/result`, {
      status: "succeeded",
      artifact: toBase64(artifactBytes(concept.name, 1)),
    });
    expect((await problem(late)).code).toBe("job_finished");
  });

  it("streams a finished job as progress + done events", async () => {
    const tenant = await createTenant();
    const job = await trainConcept(tenant, await createConcept(tenant));
    await call(`/v1/jobs/${job.id}/cancel`, { method: "POST", headers: tenant.auth });
    const res = await call(`/v1/jobs/${job.id}/events`, { headers: tenant.auth });
    expect(res.headers.get("content-type")).toContain("text/event-stream");
    const events = await readEvents(res);
    expect(events.map((e) => e.event)).toEqual(["progress", "done"]);
    expect(events[1]!.data).toEqual({ status: "cancelled" });
  });

  it("streams progress reported by the node until the job succeeds", { timeout: 15_000 }, async () => {
    const tenant = await createTenant();
    const concept = await createConcept(tenant);
    const job = await trainConcept(tenant, concept);
    const stream = call(`/v1/jobs/${job.id}/events`, { headers: tenant.auth }).then(readEvents);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    expect(
      (await signedCall("POST", `/v1/internal/jobs/${job.id}/progress`, { stage: "training", progress: 0.5 }))
        .status,
    ).toBe(200);
    await new Promise((resolve) => setTimeout(resolve, 1_200));
    const result = await signedCall("POST", `/v1/internal/jobs/${job.id}/result`, {
      status: "succeeded",
      artifact: toBase64(artifactBytes(concept.name, 1)),
    });
    expect(result.status).toBe(200);
    const events = await stream;
    expect(events.at(-1)).toEqual({ event: "done", data: { status: "succeeded" } });
    const progress = events.filter((e) => e.event === "progress").map((e) => e.data);
    expect(progress).toContainEqual(
      expect.objectContaining({ stage: "training", progress: 0.5, status: "running" }),
    );
    expect(progress.at(-1)).toMatchObject({ status: "succeeded", progress: 1 });
  });
});
