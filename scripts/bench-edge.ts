/**
 * npm run bench:edge — measures the edge's own overhead under `wrangler dev` (local D1/KV/Queues/R2).
 *
 * A declared stub trainer (node:http on 127.0.0.1, answering like the trainer node, instantly) stands in
 * for the node. This process seeds a tenant, a key and a ready concept (through the real routes, including
 * the HMAC-signed internal result), then drives authenticated requests one at a time, for a fixed count:
 *   GET  /v1/concepts/{id}   auth + D1 session read
 *   POST /v1/recognize       auth + validation + image sniffing + concept resolution (KV) + prompt plan
 *                            + HMAC-signed call to the stub trainer
 * and prints one JSON line per route, plus GET /healthz as the floor that wrangler dev itself costs. Loopback only. Env: BENCH_REQUESTS (default 1000), BENCH_PORT.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { encodeConceptArtifact } from "../shared/concept-artifact";
import { signRequest } from "../shared/hmac";

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 1000);
const WARMUP = 50;
const EDGE_PORT = Number(process.env.BENCH_PORT ?? 8799);
const EDGE = `http://127.0.0.1:${EDGE_PORT}`;
// Keys are rate limited (600 requests per 10 s window); spread the bench over enough keys to stay under it.
const REQUESTS_PER_KEY = 500;
const ADMIN_KEY = randomBytes(24).toString("hex");
const HMAC_SECRET = randomBytes(24).toString("hex");
const root = path.resolve(import.meta.dirname, "..");
const wranglerBin = path.join(root, "node_modules", ".bin", "wrangler");

function startStubTrainer(): Promise<Server> {
  const server = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      if (req.url === "/v1/infer") {
        const plan = JSON.parse(Buffer.concat(chunks).toString("utf8"));
        const results = plan.task.kind === "recognize" ? plan.task.batch.map(() => ({ p_yes: 0.5 })) : [];
        res.writeHead(200, { "content-type": "application/json" }).end(JSON.stringify({ results }));
      } else if (req.url === "/v1/train") {
        res.writeHead(202, { "content-type": "application/json" }).end('{"accepted":true}');
      } else {
        res.writeHead(204).end();
      }
    });
  });
  return new Promise((resolve) => server.listen(0, "127.0.0.1", () => resolve(server)));
}

function png(width: number, height: number): Uint8Array {
  const bytes = new Uint8Array(45);
  bytes.set([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a, 0, 0, 0, 13, 0x49, 0x48, 0x44, 0x52]);
  const view = new DataView(bytes.buffer);
  view.setUint32(16, width);
  view.setUint32(20, height);
  return bytes;
}

async function waitForEdge(child: ChildProcess): Promise<void> {
  const deadline = Date.now() + 90_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`wrangler dev exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${EDGE}/healthz`)).ok) return;
    } catch {}
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error("wrangler dev did not become ready in 90 s");
}

async function json<T>(res: Response, expected: number): Promise<T> {
  if (res.status !== expected) throw new Error(`${res.url}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function seed(): Promise<{ keys: string[]; conceptId: string; conceptName: string }> {
  const admin = { authorization: `Bearer ${ADMIN_KEY}`, "content-type": "application/json" };
  const tenant = await json<{ id: string }>(
    await fetch(`${EDGE}/v1/admin/tenants`, { method: "POST", headers: admin, body: '{"name":"bench"}' }),
    201,
  );
  const keyCount = 1 + 2 * Math.ceil((REQUESTS + WARMUP) / REQUESTS_PER_KEY);
  const keys: string[] = [];
  for (let i = 0; i < keyCount; i++) {
    const key = await json<{ key: string }>(
      await fetch(`${EDGE}/v1/admin/tenants/${tenant.id}/keys`, {
        method: "POST",
        headers: admin,
        body: "{}",
      }),
      201,
    );
    keys.push(key.key);
  }
  const auth = { authorization: `Bearer ${keys[0]}` };
  const conceptName = "<bo>";
  const concept = await json<{ id: string }>(
    await fetch(`${EDGE}/v1/concepts`, {
      method: "POST",
      headers: { ...auth, "content-type": "application/json" },
      body: JSON.stringify({ name: conceptName, kind: "pet" }),
    }),
    201,
  );
  const form = new FormData();
  form.append("photos", new Blob([png(512, 512)], { type: "image/png" }), "bo.png");
  const job = await json<{ id: string }>(
    await fetch(`${EDGE}/v1/concepts/${concept.id}/train`, { method: "POST", headers: auth, body: form }),
    202,
  );
  // The result the trainer node would post: a 16-token concept for a 1024-wide model (~37 KB).
  const hidden = 1024;
  const k = 16;
  const row = () => Float32Array.from({ length: hidden }, (_, i) => Math.sin(i) * 0.02);
  const artifact = encodeConceptArtifact({
    header: {
      format_version: 1,
      model: { repo: "yo/toy-llava", revision: "main", config_hash: "0badc0de" },
      name: conceptName,
      kind: "pet",
      k,
      hidden_size: hidden,
      dtype: "fp16",
      rows: { identifier_input: 1, latent_input: k, identifier_output: 1, generation: 0 },
      training_report: { bench: true },
      version: 1,
    },
    rows: {
      identifierInput: row(),
      latentInput: Array.from({ length: k }, row),
      identifierOutput: row(),
      generation: [],
    },
  });
  const resultPath = `/v1/internal/jobs/${job.id}/result`;
  const body = JSON.stringify({ status: "succeeded", artifact: Buffer.from(artifact).toString("base64") });
  const signed = await signRequest(HMAC_SECRET, "POST", resultPath, body);
  await json(
    await fetch(`${EDGE}${resultPath}`, {
      method: "POST",
      headers: { ...signed, "content-type": "application/json" },
      body,
    }),
    200,
  );
  return { keys: keys.slice(1), conceptId: concept.id, conceptName };
}

const percentile = (sorted: number[], q: number) =>
  sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;
const round = (x: number) => Math.round(x * 100) / 100;

/**
 * p50_ms/p99_ms: client-observed latency (wrangler dev proxy + loopback HTTP + edge + stub trainer).
 * edge_p50_ms/edge_p99_ms: the worker's own time from its Server-Timing header, trainer wait excluded.
 */
async function drive(route: string, keys: string[], send: (key: string) => Promise<Response>) {
  let errors = 0;
  const edgeTimes: number[] = [];
  const once = async (i: number) => {
    const started = performance.now();
    const res = await send(keys[Math.floor(i / REQUESTS_PER_KEY)]!);
    await res.arrayBuffer();
    const elapsed = performance.now() - started;
    if (res.status !== 200) errors++;
    const edge = /edge;dur=([\d.]+)/.exec(res.headers.get("server-timing") ?? "");
    if (edge) edgeTimes.push(Number(edge[1]));
    return elapsed;
  };
  for (let i = 0; i < WARMUP; i++) await once(i);
  errors = 0;
  edgeTimes.length = 0;
  const latencies: number[] = [];
  const started = performance.now();
  for (let i = 0; i < REQUESTS; i++) latencies.push(await once(i + WARMUP));
  const seconds = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  edgeTimes.sort((a, b) => a - b);
  console.log(
    JSON.stringify({
      bench: "edge",
      route,
      requests: REQUESTS,
      p50_ms: round(percentile(latencies, 0.5)),
      p99_ms: round(percentile(latencies, 0.99)),
      rps: round(REQUESTS / seconds),
      errors,
      edge_p50_ms: round(percentile(edgeTimes, 0.5)),
      edge_p99_ms: round(percentile(edgeTimes, 0.99)),
    }),
  );
}

async function main() {
  const stub = await startStubTrainer();
  const stubUrl = `http://127.0.0.1:${(stub.address() as AddressInfo).port}`;
  const state = mkdtempSync(path.join(tmpdir(), "yo-edge-bench-"));
  const env = { ...process.env, WRANGLER_SEND_METRICS: "false", CI: "1" };
  const migrate = spawnSync(
    wranglerBin,
    ["d1", "migrations", "apply", "DB", "--local", "--persist-to", state],
    {
      cwd: root,
      env,
      encoding: "utf8",
    },
  );
  if (migrate.status !== 0) throw new Error(`migrations failed:\n${migrate.stdout}\n${migrate.stderr}`);
  const vars = { ADMIN_KEY, HMAC_SECRET, TRAINER_URL: stubUrl, LOG_LEVEL: "warn" };
  const child = spawn(
    wranglerBin,
    [
      "dev",
      "--ip",
      "127.0.0.1",
      "--port",
      String(EDGE_PORT),
      "--persist-to",
      state,
      "--show-interactive-dev-session=false",
      ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
    ],
    { cwd: root, env, stdio: ["ignore", "pipe", "pipe"] },
  );
  let output = "";
  const collect = (chunk: Buffer) => {
    output += chunk.toString();
  };
  child.stdout!.on("data", collect);
  child.stderr!.on("data", collect);
  try {
    await waitForEdge(child);
    const { keys, conceptId, conceptName } = await seed();
    const half = keys.length / 2;
    // The floor: wrangler dev's proxy + loopback HTTP + Hono routing, no auth and no storage.
    await drive("GET /healthz", keys, () => fetch(`${EDGE}/healthz`));
    await drive("GET /v1/concepts/{id}", keys.slice(0, half), (key) =>
      fetch(`${EDGE}/v1/concepts/${conceptId}`, { headers: { authorization: `Bearer ${key}` } }),
    );
    const image = `data:image/png;base64,${Buffer.from(png(640, 480)).toString("base64")}`;
    const body = JSON.stringify({ concept: conceptName, images: [image] });
    await drive("POST /v1/recognize", keys.slice(half), (key) =>
      fetch(`${EDGE}/v1/recognize`, {
        method: "POST",
        headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
        body,
      }),
    );
  } catch (error) {
    console.error(output.slice(-4000));
    throw error;
  } finally {
    child.kill("SIGTERM");
    stub.close();
    await new Promise((r) => setTimeout(r, 500));
    rmSync(state, { recursive: true, force: true });
  }
}

await main();
