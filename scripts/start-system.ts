/**
 * The whole system on this machine, as `npm start`, the end-to-end test and bench:e2e run it: D1
 * migrations applied to a local state directory, the trainer node (trainer/serve/server.ts) and `wrangler
 * dev` (workerd with local D1, KV, Queues and R2), both on 127.0.0.1, sharing one HMAC secret.
 * Module only: no side effects on import.
 */
import { type ChildProcess, spawn, spawnSync } from "node:child_process";
import { createServer } from "node:net";
import path from "node:path";

export const ROOT = path.resolve(import.meta.dirname, "..");
const BIN = path.join(ROOT, "node_modules", ".bin");
const READY_POLL_MS = 200;

export class StartError extends Error {
  override name = "StartError";
}

export async function freePort(): Promise<number> {
  return await new Promise((resolve, reject) => {
    const server = createServer();
    server.once("error", reject);
    server.listen(0, "127.0.0.1", () => {
      const address = server.address();
      server.close(() => resolve(typeof address === "object" && address ? address.port : 0));
    });
  });
}

/** Polls `url` until it answers 200 (or the process exits, or `timeoutMs` passes). */
export async function waitForOk(url: string, timeoutMs: number, child?: ChildProcess): Promise<Response> {
  const deadline = Date.now() + timeoutMs;
  let last = "no answer";
  while (Date.now() < deadline) {
    if (child && child.exitCode !== null)
      throw new StartError(`${url}: process exited with ${child.exitCode}`);
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(2_000) });
      if (res.ok) return res;
      last = `status ${res.status}`;
      await res.body?.cancel();
    } catch (error) {
      last = error instanceof Error ? error.message : String(error);
    }
    await new Promise((resolve) => setTimeout(resolve, READY_POLL_MS));
  }
  throw new StartError(`${url} not ready after ${timeoutMs} ms (${last})`);
}

export function applyMigrations(persistTo: string | undefined, output: "inherit" | "pipe" = "inherit"): void {
  const args = [
    "d1",
    "migrations",
    "apply",
    "DB",
    "--local",
    ...(persistTo ? ["--persist-to", persistTo] : []),
  ];
  const result = spawnSync(path.join(BIN, "wrangler"), args, {
    cwd: ROOT,
    stdio: output,
    env: { ...process.env, CI: "1" },
    encoding: "utf8",
  });
  if (result.status !== 0) {
    throw new StartError(
      `wrangler ${args.join(" ")} failed (${result.status}): ${result.stderr ?? ""}${result.stdout ?? ""}`,
    );
  }
}

export interface TrainerProcessOptions {
  port: number;
  edgeUrl: string;
  hmacSecret: string;
  stateDir: string;
  /** Extra environment (YO_MODEL_DIR, YO_DEVICE, YO_CONCEPT_TRAINER_MODULE, ...). */
  env?: Record<string, string>;
  output?: "inherit" | "pipe";
}

export interface TrainerProcess {
  child: ChildProcess;
  url: string;
  /** /readyz body once ready. */
  ready: {
    model: { id: string; source: string; dir: string };
    device: string;
    training: { trainer: string } | null;
  };
  log: string[];
}

export async function startTrainerProcess(
  options: TrainerProcessOptions,
  timeoutMs = 60_000,
): Promise<TrainerProcess> {
  // node --import tsx: one process, so a signal (SIGKILL included) reaches the server itself, not a wrapper.
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "trainer/serve/server.ts")], {
    cwd: ROOT,
    stdio: ["ignore", options.output ?? "pipe", options.output ?? "pipe"],
    env: {
      ...process.env,
      ...options.env,
      YO_TRAINER_PORT: String(options.port),
      YO_EDGE_URL: options.edgeUrl,
      YO_HMAC_SECRET: options.hmacSecret,
      YO_STATE_DIR: options.stateDir,
    },
  });
  const log: string[] = [];
  const keep = (chunk: Buffer) => {
    log.push(chunk.toString());
    if (log.length > 500) log.shift();
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const url = `http://127.0.0.1:${options.port}`;
  try {
    const res = await waitForOk(`${url}/readyz`, timeoutMs, child);
    return { child, url, ready: (await res.json()) as TrainerProcess["ready"], log };
  } catch (error) {
    child.kill("SIGKILL");
    throw new StartError(`${error instanceof Error ? error.message : error}\n${log.join("")}`);
  }
}

export interface EdgeProcessOptions {
  port: number;
  persistTo: string | undefined;
  trainerUrl: string;
  vars: Record<string, string>;
  output?: "inherit" | "pipe";
}

export interface EdgeProcess {
  child: ChildProcess;
  url: string;
  log: string[];
}

export async function startEdgeProcess(
  options: EdgeProcessOptions,
  timeoutMs = 60_000,
): Promise<EdgeProcess> {
  const vars = { ...options.vars, TRAINER_URL: options.trainerUrl };
  const args = [
    "dev",
    "--local",
    "--ip",
    "127.0.0.1",
    "--port",
    String(options.port),
    "--inspector-port",
    String(await freePort()),
    "--show-interactive-dev-session=false",
    ...(options.persistTo ? ["--persist-to", options.persistTo] : []),
    ...Object.entries(vars).flatMap(([k, v]) => ["--var", `${k}:${v}`]),
  ];
  const child = spawn(path.join(BIN, "wrangler"), args, {
    cwd: ROOT,
    stdio: ["ignore", options.output ?? "pipe", options.output ?? "pipe"],
    env: { ...process.env, CI: "1", WRANGLER_SEND_METRICS: "false" },
  });
  const log: string[] = [];
  const keep = (chunk: Buffer) => {
    log.push(chunk.toString());
    if (log.length > 500) log.shift();
  };
  child.stdout?.on("data", keep);
  child.stderr?.on("data", keep);
  const url = `http://127.0.0.1:${options.port}`;
  try {
    await waitForOk(`${url}/healthz`, timeoutMs, child);
  } catch (error) {
    child.kill("SIGKILL");
    throw new StartError(`${error instanceof Error ? error.message : error}\n${log.join("")}`);
  }
  return { child, url, log };
}

/** Sends `signal` and waits for the exit (SIGKILL after `graceMs`). */
export async function stopProcess(
  child: ChildProcess,
  signal: NodeJS.Signals = "SIGTERM",
  graceMs = 10_000,
): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  child.kill(signal);
  const timer = setTimeout(() => child.kill("SIGKILL"), graceMs);
  await exited;
  clearTimeout(timer);
}
