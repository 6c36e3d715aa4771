/**
 * The system under test: a real trainer node process and real workerd (`wrangler dev`) on random loopback
 * ports, with local D1/KV/Queues/R2 state and the node's job journal in a fresh temp directory.
 */
import { spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import {
  applyMigrations,
  type EdgeProcess,
  freePort,
  ROOT,
  startEdgeProcess,
  startTrainerProcess,
  stopProcess,
  type TrainerProcess,
} from "../../scripts/start-system";

export const E2E_HMAC_SECRET = "e2e-hmac-secret-0123456789abcdef0123";
export const E2E_ADMIN_KEY = "e2e-admin-key-0123456789abcdef012345";

/**
 * The real Yo'LLaVA trainer (trainer/personalize through trainer/serve/personalize-trainer.ts) needs the toy
 * base model: the tiny fixture's 128 positions cannot hold its training conversations. Without the toy model
 * (or with YO_E2E_STAND_IN=1) the node gets the stand-in test double and the quality assertion is skipped.
 */
export const REAL_TRAINER_ADAPTER = path.join(ROOT, "trainer/serve/personalize-trainer.ts");
export const TOY_MODEL_CONFIG = path.join(ROOT, "trainer/toyworld/models/toy-llava/config.json");
export const TOY_CLIP_DIR = path.join(ROOT, "trainer/toyworld/models/toy-clip");
/** Toy-world pool scenes indexed for the real trainer's retrieved negatives. */
const E2E_POOL_IMAGES = 300;

/** A negatives pool for the real trainer: toy-world pool scenes (never held-out seeds) indexed with toy CLIP. */
async function buildToyPool(dir: string): Promise<Record<string, string>> {
  const clipDir = process.env.YO_E2E_CLIP_DIR ?? TOY_CLIP_DIR;
  if (!existsSync(path.join(clipDir, "config.json"))) return {};
  const { Runtime } = await import("../../trainer/engine/index");
  const { ClipImageEncoder } = await import("../../trainer/personalize/clip-encoder");
  const { buildNegativesPool } = await import("../../trainer/personalize/negatives-pool");
  const { writeNegativesPool } = await import("../../trainer/toyworld/pool");
  const poolDir = path.join(dir, "pool");
  await writeNegativesPool({ out: poolDir, count: E2E_POOL_IMAGES, size: 64 });
  const runtime = new Runtime({ intraOpNumThreads: 2 });
  try {
    await buildNegativesPool(poolDir, await ClipImageEncoder.load(clipDir, runtime));
  } finally {
    await runtime.release();
  }
  return { YO_NEGATIVES_POOL: poolDir, YO_CLIP_DIR: clipDir };
}
export const STAND_IN_TRAINER = path.join(import.meta.dirname, "stand-in-trainer.ts");

export interface SystemUnderTest {
  dir: string;
  edge: EdgeProcess;
  trainer: TrainerProcess;
  trainerPort: number;
  usesRealTrainer: boolean;
  restartTrainer(signal: NodeJS.Signals): Promise<void>;
  stopTrainer(signal: NodeJS.Signals): Promise<void>;
  startTrainer(): Promise<void>;
  stop(): Promise<void>;
}

export async function startSystem(trainerEnv: Record<string, string> = {}): Promise<SystemUnderTest> {
  const dir = mkdtempSync(path.join(tmpdir(), "yo-e2e-"));
  const persistTo = path.join(dir, "wrangler");
  const [edgePort, trainerPort] = [await freePort(), await freePort()];
  // YO_E2E_MODEL_DIR: run against another checkpoint with the real trainer (e.g. a toy model in training).
  const modelDir = process.env.YO_E2E_MODEL_DIR;
  const usesRealTrainer =
    existsSync(REAL_TRAINER_ADAPTER) &&
    (modelDir !== undefined || existsSync(TOY_MODEL_CONFIG)) &&
    process.env.YO_E2E_STAND_IN !== "1";
  const env = {
    ...(usesRealTrainer ? await buildToyPool(dir) : { YO_CONCEPT_TRAINER_MODULE: STAND_IN_TRAINER }),
    YO_THREADS: "1",
    ...(modelDir ? { YO_MODEL_DIR: modelDir } : {}),
    ...trainerEnv,
  };
  applyMigrations(persistTo, "pipe");
  const launchTrainer = () =>
    startTrainerProcess({
      port: trainerPort,
      edgeUrl: `http://127.0.0.1:${edgePort}`,
      hmacSecret: E2E_HMAC_SECRET,
      stateDir: path.join(dir, "trainer"),
      env,
    });
  const system: SystemUnderTest = {
    dir,
    trainer: await launchTrainer(),
    edge: undefined as unknown as EdgeProcess,
    trainerPort,
    usesRealTrainer,
    async stopTrainer(signal) {
      await stopProcess(system.trainer.child, signal);
    },
    async startTrainer() {
      system.trainer = await launchTrainer();
    },
    async restartTrainer(signal) {
      await system.stopTrainer(signal);
      await system.startTrainer();
    },
    async stop() {
      await Promise.all([stopProcess(system.edge.child), stopProcess(system.trainer.child)]);
      rmSync(dir, { recursive: true, force: true });
    },
  };
  system.edge = await startEdgeProcess({
    port: edgePort,
    persistTo,
    trainerUrl: system.trainer.url,
    vars: {
      HMAC_SECRET: E2E_HMAC_SECRET,
      ADMIN_KEY: E2E_ADMIN_KEY,
      DEFAULT_BASE_MODEL: system.trainer.ready.model.id,
      TRAINER_TIMEOUT_MS: "20000",
      LOG_LEVEL: "warn",
    },
  });
  return system;
}

function wranglerJson(dir: string, args: string[]): unknown {
  const result = spawnSync(
    path.join(ROOT, "node_modules/.bin/wrangler"),
    [...args, "--persist-to", path.join(dir, "wrangler")],
    {
      cwd: ROOT,
      encoding: "utf8",
      env: { ...process.env, CI: "1" },
    },
  );
  if (result.status !== 0) throw new Error(`wrangler ${args.join(" ")}: ${result.stderr}${result.stdout}`);
  const start = result.stdout.search(/[[{]/);
  return JSON.parse(result.stdout.slice(start));
}

/** Rows of a local D1 query (wrangler d1 execute against the test's state directory). */
export function d1Query(dir: string, sql: string): Record<string, unknown>[] {
  const out = wranglerJson(dir, ["d1", "execute", "DB", "--local", "--json", "--command", sql]) as {
    results: Record<string, unknown>[];
  }[];
  return out[0]?.results ?? [];
}

/** Key names in the local CONCEPTS_KV namespace under a prefix. */
export function kvKeys(dir: string, prefix: string): string[] {
  const out = wranglerJson(dir, [
    "kv",
    "key",
    "list",
    "--binding",
    "CONCEPTS_KV",
    "--local",
    "--prefix",
    prefix,
  ]) as {
    name: string;
  }[];
  return out.map((k) => k.name);
}
