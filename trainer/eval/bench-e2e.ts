/**
 * npm run bench:e2e: the whole system (real workerd via wrangler dev + the trainer node, local state in a temp
 * dir). Prints two JSON lines:
 *   {"bench":"e2e","route":"recognize","p50_ms","p99_ms","direct_p50_ms","direct_p99_ms","edge_overhead_ratio",...}
 *     one-image recognition through the edge (auth, D1/KV concept lookup, plan assembly, HMAC, the node) vs
 *     the same plan signed and sent straight to the node; requests alternate so both see the same load.
 *   {"bench":"e2e","route":"train","train_to_ready_ms",...}: POST /v1/concepts/{id}/train until the job has
 *     succeeded (queue, dispatch, training, callbacks, D1 + KV writes) for one toy concept.
 * Flags: --requests N (default 60), --warmup N (default 5).
 */
import { parseArgs } from "node:util";
import { EdgeClient, signedTrainerCall, toyPhotos } from "../../scripts/start-client";
import type { PromptPlan } from "../../shared/prompt-plan";
import { d1Query, E2E_ADMIN_KEY, E2E_HMAC_SECRET, startSystem } from "../../test/e2e/system";

const { values } = parseArgs({
  options: { requests: { type: "string", default: "60" }, warmup: { type: "string", default: "5" } },
});
const requests = Number(values.requests);
const warmup = Number(values.warmup);

function percentile(sorted: number[], p: number): number {
  return sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)]!;
}

const round = (x: number) => Number(x.toFixed(2));

const system = await startSystem({ YO_STAND_IN_STEPS: "10", YO_STAND_IN_STEP_MS: "50" });
try {
  const admin = new EdgeClient(system.edge.url, `Bearer ${E2E_ADMIN_KEY}`);
  const client = admin.withKey((await admin.createTenantAndKey("bench")).key);
  const photos = await toyPhotos("<bo>", { train: 5, heldOut: 1 });
  const concept = await client.createConcept("<bo>");
  const trainStarted = performance.now();
  const job = await client.train(concept.id, photos.train, { latent_tokens: 16, preset: "fast" });
  const done = await client.waitForJob(job.id, 30 * 60_000);
  const trainToReady = performance.now() - trainStarted;
  if (done.status !== "succeeded") throw new Error(`training ${done.status}: ${done.error}`);

  const image = photos.positives[0]!;
  const hex = d1Query(
    system.dir,
    `SELECT hex(artifact) AS a FROM concept_versions WHERE concept_id = '${concept.id}'`,
  )[0]!.a as string;
  const artifact = Buffer.from(hex, "hex").toString("base64");
  const question = "Is <bo> in this photo? Answer with yes or no.";
  const plan = (n: number): PromptPlan => ({
    plan_version: 1,
    request_id: `bench-${n}`,
    base_model: system.trainer.ready.model.id,
    task: {
      kind: "recognize",
      candidates: ["Yes", "No"],
      batch: [{ base64: Buffer.from(image).toString("base64"), mime: "image/png" }],
    },
    turns: [
      {
        role: "user",
        segments: [
          { type: "batch_image" },
          { type: "text", text: "Is " },
          { type: "concept", concept: concept.id, version: 1, name: "<bo>", artifact },
          { type: "text", text: question.slice("Is <bo>".length) },
        ],
      },
    ],
    options: { max_tokens: 1, temperature: 0, top_p: 1, top_k: 0, stop: [], stream: false },
    concepts: [concept.id],
  });
  const viaEdge = async () => {
    const started = performance.now();
    await client.recognize("<bo>", [image]);
    return performance.now() - started;
  };
  const direct = async (n: number) => {
    const started = performance.now();
    const res = await signedTrainerCall(
      system.trainer.url,
      E2E_HMAC_SECRET,
      "POST",
      "/v1/infer",
      JSON.stringify(plan(n)),
    );
    if (res.status !== 200) throw new Error(`direct recognize: ${res.status} ${await res.text()}`);
    await res.json();
    return performance.now() - started;
  };
  for (let i = 0; i < warmup; i++) {
    await viaEdge();
    await direct(-i - 1);
  }
  const edgeMs: number[] = [];
  const directMs: number[] = [];
  for (let i = 0; i < requests; i++) {
    edgeMs.push(await viaEdge());
    directMs.push(await direct(i));
  }
  edgeMs.sort((a, b) => a - b);
  directMs.sort((a, b) => a - b);
  const model = system.trainer.ready.model.id;
  const trainer = system.trainer.ready.training?.trainer ?? null;
  console.log(
    JSON.stringify({
      bench: "e2e",
      route: "recognize",
      p50_ms: round(percentile(edgeMs, 50)),
      p99_ms: round(percentile(edgeMs, 99)),
      direct_p50_ms: round(percentile(directMs, 50)),
      direct_p99_ms: round(percentile(directMs, 99)),
      edge_overhead_ratio: round(percentile(edgeMs, 50) / percentile(directMs, 50)),
      requests,
      images_per_request: 1,
      model,
      trainer,
    }),
  );
  console.log(
    JSON.stringify({
      bench: "e2e",
      route: "train",
      train_to_ready_ms: Math.round(trainToReady),
      photos: photos.train.length,
      latent_tokens: 16,
      preset: "fast",
      model,
      trainer,
    }),
  );
} finally {
  await system.stop();
}
