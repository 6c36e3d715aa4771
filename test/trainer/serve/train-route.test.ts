// POST /v1/train and /v1/jobs/{id}/cancel over HTTP, with a test double for the ConceptTrainer seam
// (HeldConceptTrainer: jobs run until cancelled): accepted, redelivered, queue full (429 + Retry-After),
// cancelled, and refused for another base model or a bad job id.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TrainDispatch } from "../../../shared/trainer-api";
import type { ConceptTrainer } from "../../../trainer/serve/concept-trainer";
import { MODEL_ID, type NodeUnderTest, startNode, toyPng } from "./fixture";

/** TEST DOUBLE of the trainer seam: never finishes on its own; stops when its signal aborts. */
const heldTrainer: ConceptTrainer = {
  train: (_job, { signal }) =>
    new Promise((_resolve, reject) => {
      signal.addEventListener("abort", () => reject(new Error("aborted")));
    }),
};

let t: NodeUnderTest;
let photo: string;
beforeAll(async () => {
  t = await startNode(heldTrainer, undefined, undefined, { YO_TRAINING_QUEUE_DEPTH: "1" });
  photo = await toyPng(0);
});
afterAll(async () => {
  await t.node.shutdown();
});

function dispatch(jobId: string, baseModel = MODEL_ID): TrainDispatch {
  return {
    job_id: jobId,
    tenant_id: "ten_1",
    concept: { id: `con_${jobId}`, name: "<bo>", kind: "pet", base_model: baseModel, next_version: 1 },
    options: { latent_tokens: 2, preset: "fast" },
    photos: [{ mime: "image/png", base64: photo }],
    callbacks: {
      progress: `/v1/internal/jobs/${jobId}/progress`,
      result: `/v1/internal/jobs/${jobId}/result`,
    },
  };
}

describe("POST /v1/train", () => {
  it("accepts, acknowledges a redelivery, answers 429 + Retry-After when full, and cancels", async () => {
    const first = await t.call("POST", "/v1/train", dispatch("job_1"));
    expect(first.status).toBe(202);
    expect(await first.json()).toMatchObject({ accepted: true, job_id: "job_1", duplicate: false });
    const again = await t.call("POST", "/v1/train", dispatch("job_1"));
    expect(await again.json()).toMatchObject({ duplicate: true });
    expect((await t.call("POST", "/v1/train", dispatch("job_2"))).status).toBe(202); // waits (depth 1)
    const full = await t.call("POST", "/v1/train", dispatch("job_3"));
    expect(full.status).toBe(429);
    expect(Number(full.headers.get("retry-after"))).toBeGreaterThan(0);

    const cancel = await t.call("POST", "/v1/jobs/job_2/cancel");
    expect(await cancel.json()).toEqual({ cancelled: true });
    expect(await (await t.call("POST", "/v1/jobs/job_404/cancel")).json()).toEqual({ cancelled: false });
    expect((await t.call("POST", "/v1/train", dispatch("job_3"))).status).toBe(202);
    const metrics = await (await t.app.request("/metrics")).text();
    expect(metrics).toContain('yo_trainer_jobs{state="cancelled"} 1');
    expect(metrics).toContain("yo_trainer_training_queue_depth 1");
  });

  it("refuses another base model, an unsafe job id and a malformed dispatch", async () => {
    const other = await t.call("POST", "/v1/train", dispatch("job_x", "someone/else"));
    expect(other.status).toBe(400);
    expect(await other.json()).toMatchObject({ error: "base_model_mismatch" });
    expect((await t.call("POST", "/v1/train", dispatch("../../etc"))).status).toBe(400);
    expect((await t.call("POST", "/v1/train", { job_id: "job_y" })).status).toBe(400);
  });
});
