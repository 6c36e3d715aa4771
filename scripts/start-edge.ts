/**
 * npm start: the whole system on this machine. Makes a .dev.vars with random secrets if there is none,
 * applies the D1 migrations to the local database, starts the trainer node (trainer/serve, CPU, the toy model
 * or the fixture) and `wrangler dev` (local D1, KV, Queues, R2), creates a demo tenant and API key, writes toy
 * photos of <bo>, and prints copy-paste curl commands for the whole flow. Ctrl-C stops both.
 *
 *   npm start                      everything
 *   npm start -- --edge-only       only migrations + wrangler dev (the trainer runs elsewhere: TRAINER_URL)
 *
 * Environment: YO_EDGE_PORT (8787), YO_TRAINER_PORT (8788), YO_MODEL_DIR, YO_DEVICE, YO_STATE_DIR and the
 * other YO_* variables of trainer/serve/README.md.
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { weightsDigest } from "../trainer/models/weights-revision";
import { EdgeClient, toyPhotos } from "./start-client";
import {
  applyMigrations,
  type EdgeProcess,
  ROOT,
  StartError,
  startEdgeProcess,
  startTrainerProcess,
  stopProcess,
  type TrainerProcess,
} from "./start-system";

const devVarsPath = path.join(ROOT, ".dev.vars");
const edgeOnly = process.argv.includes("--edge-only");
const edgePort = Number(process.env.YO_EDGE_PORT ?? 8787);
const trainerPort = Number(process.env.YO_TRAINER_PORT ?? 8788);
const STAND_IN = path.join(ROOT, "test/e2e/stand-in-trainer.ts");
const TOY_MODEL = path.join(ROOT, "trainer/toyworld/models/toy-llava/config.json");
const TOY_CLIP = path.join(ROOT, "trainer/toyworld/models/toy-clip");
/** Toy-world pool scenes for the demo's negatives pool (built once per CLIP, kept in .cache/demo). */
const DEMO_POOL_IMAGES = 1000;

/**
 * The real trainer's retrieved negatives: a toy-world pool indexed with toy CLIP (or YO_CLIP_DIR). Its
 * directory is named by the CLIP's weights digest, so new toy weights get a fresh index instead of a stale
 * one the node would refuse.
 */
async function demoNegativesPool(): Promise<Record<string, string>> {
  if (process.env.YO_NEGATIVES_POOL) return {};
  const clip = process.env.YO_CLIP_DIR ?? TOY_CLIP;
  if (!existsSync(path.join(clip, "config.json"))) return {};
  const poolDir = path.join(ROOT, ".cache/demo", `toy-pool-${await weightsDigest(clip)}`);
  if (!existsSync(path.join(poolDir, "clip-index.json"))) {
    console.log(
      `building a negatives pool of ${DEMO_POOL_IMAGES} toy scenes in ${path.relative(ROOT, poolDir)}...`,
    );
    const built = spawnSync(
      path.join(ROOT, "node_modules/.bin/tsx"),
      [
        "trainer/personalize/cli.ts",
        "pool",
        "build",
        "--images",
        poolDir,
        "--toy",
        String(DEMO_POOL_IMAGES),
        "--clip",
        clip,
      ],
      { cwd: ROOT, stdio: ["ignore", "ignore", "inherit"] },
    );
    if (built.status !== 0) throw new StartError("building the demo negatives pool failed");
  }
  return { YO_NEGATIVES_POOL: poolDir, YO_CLIP_DIR: clip };
}

function devVars(): Record<string, string> {
  if (!existsSync(devVarsPath)) {
    const adminKey = randomBytes(24).toString("hex");
    writeFileSync(devVarsPath, `ADMIN_KEY=${adminKey}\nHMAC_SECRET=${randomBytes(32).toString("hex")}\n`, {
      mode: 0o600,
    });
    console.log(`wrote .dev.vars with fresh secrets (admin key: ${adminKey})`);
  }
  const vars: Record<string, string> = {};
  for (const line of readFileSync(devVarsPath, "utf8").split("\n")) {
    const match = /^([A-Z_][A-Z0-9_]*)=(.*)$/.exec(line.trim());
    if (match) vars[match[1]!] = match[2]!.replace(/^"(.*)"$/, "$1");
  }
  return vars;
}

async function runEdgeOnly(): Promise<void> {
  applyMigrations(undefined);
  const dev = spawn(
    path.join(ROOT, "node_modules/.bin/wrangler"),
    ["dev", ...process.argv.slice(2).filter((a) => a !== "--edge-only")],
    {
      cwd: ROOT,
      stdio: "inherit",
    },
  );
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => dev.kill(signal));
  dev.on("exit", (code) => process.exit(code ?? 0));
}

function prefixed(name: string, chunk: Buffer): void {
  for (const line of chunk.toString().split("\n"))
    if (line.trim()) process.stdout.write(`[${name}] ${line}\n`);
}

async function runAll(): Promise<void> {
  const vars = devVars();
  if (!vars.ADMIN_KEY || !vars.HMAC_SECRET) throw new StartError(".dev.vars needs ADMIN_KEY and HMAC_SECRET");
  console.log("applying D1 migrations to the local database...");
  applyMigrations(undefined, "pipe");
  const fixtureOnly =
    !process.env.YO_CONCEPT_TRAINER_MODULE && !process.env.YO_MODEL_DIR && !existsSync(TOY_MODEL);
  const trainerEnv: Record<string, string> = fixtureOnly ? {} : await demoNegativesPool();
  if (fixtureOnly) {
    trainerEnv.YO_CONCEPT_TRAINER_MODULE = STAND_IN;
    console.warn(
      "\n!! trainer/toyworld/models/toy-llava is not built: serving the tiny random fixture model with the STAND-IN\n" +
        "!! trainer (test/e2e/stand-in-trainer.ts, learns nothing). The flow runs end to end, answers are noise.\n",
    );
  }
  let trainer: TrainerProcess | undefined;
  let edge: EdgeProcess | undefined;
  let stopping = false;
  const stop = async (code: number) => {
    if (stopping) return;
    stopping = true;
    console.log("\nstopping the edge and the trainer node...");
    await Promise.all([edge && stopProcess(edge.child), trainer && stopProcess(trainer.child)]);
    process.exit(code);
  };
  for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => void stop(0));

  console.log(`starting the trainer node on 127.0.0.1:${trainerPort}...`);
  trainer = await startTrainerProcess(
    {
      port: trainerPort,
      edgeUrl: `http://127.0.0.1:${edgePort}`,
      hmacSecret: vars.HMAC_SECRET,
      stateDir: process.env.YO_STATE_DIR ?? path.join(ROOT, ".wrangler/trainer-state"),
      env: trainerEnv,
    },
    120_000,
  );
  trainer.child.stdout?.on("data", (c: Buffer) => prefixed("trainer", c));
  trainer.child.stderr?.on("data", (c: Buffer) => prefixed("trainer", c));
  trainer.child.on("exit", (code) => {
    if (!stopping) {
      console.error(`trainer node exited (${code})`);
      void stop(1);
    }
  });
  console.log(`starting wrangler dev on 127.0.0.1:${edgePort}...`);
  edge = await startEdgeProcess(
    {
      port: edgePort,
      persistTo: undefined,
      trainerUrl: trainer.url,
      vars: { DEFAULT_BASE_MODEL: trainer.ready.model.id },
    },
    120_000,
  );
  edge.child.stdout?.on("data", (c: Buffer) => prefixed("edge", c));
  edge.child.stderr?.on("data", (c: Buffer) => prefixed("edge", c));
  edge.child.on("exit", (code) => {
    if (!stopping) {
      console.error(`wrangler dev exited (${code})`);
      void stop(1);
    }
  });

  const admin = new EdgeClient(edge.url, `Bearer ${vars.ADMIN_KEY}`);
  const { tenantId, key } = await admin.createTenantAndKey(`demo-${new Date().toISOString().slice(0, 19)}`);
  const photosDir = path.join(ROOT, ".cache/demo/bo");
  mkdirSync(photosDir, { recursive: true });
  const photos = await toyPhotos("<bo>", { train: 5, heldOut: 2 });
  const file = (name: string) => path.relative(ROOT, path.join(photosDir, name));
  photos.train.forEach((bytes, i) => {
    writeFileSync(path.join(photosDir, `train-${i}.png`), bytes);
  });
  writeFileSync(path.join(photosDir, "held-out-positive.png"), photos.positives[0]!);
  writeFileSync(path.join(photosDir, "negative.png"), photos.negatives[0]!);
  const form = photos.train.map((_, i) => `-F photos=@${file(`train-${i}.png`)}`).join(" ");
  console.log(`
==== yo-edge is up =========================================================================================
edge     ${edge.url}        (wrangler dev: local D1, KV, Queues, R2; state in .wrangler/state)
trainer  ${trainer.url}        model ${trainer.ready.model.id} [${trainer.ready.model.source}] on ${trainer.ready.device}
         trainer: ${trainer.ready.training?.trainer ?? "none (training refused)"}
demo tenant ${tenantId}; toy photos of <bo> in ${path.relative(ROOT, photosDir)}/
Copy-paste (bash, from the repository root):

export YO=${edge.url} KEY=${key}
# 1. a concept
CONCEPT=$(curl -s $YO/v1/concepts -H "authorization: Bearer $KEY" -H 'content-type: application/json' \\
  -d '{"name":"<bo>","kind":"pet"}' | sed -E 's/.*"id":"([^"]+)".*/\\1/'); echo $CONCEPT
# 2. train it on the toy photos (queued, dispatched to the trainer node)
JOB=$(curl -s $YO/v1/concepts/$CONCEPT/train -H "authorization: Bearer $KEY" ${form} \\
  -F 'options={"latent_tokens":16,"preset":"fast"}' | sed -E 's/.*"id":"([^"]+)".*/\\1/'); echo $JOB
# 3. follow the job (Server-Sent Events; Ctrl-C when it says succeeded), or poll it
curl -sN $YO/v1/jobs/$JOB/events -H "authorization: Bearer $KEY"
curl -s $YO/v1/jobs/$JOB -H "authorization: Bearer $KEY"
# 4. recognition: P(yes) for a held-out photo of <bo> and for a negative
curl -s $YO/v1/recognize -H "authorization: Bearer $KEY" -H 'content-type: application/json' -d "{\\"concept\\":\\"<bo>\\",\\"images\\":[\\"data:image/png;base64,$(base64 -w0 ${file("held-out-positive.png")})\\",\\"data:image/png;base64,$(base64 -w0 ${file("negative.png")})\\"]}"
# 5. chat, streamed
curl -sN $YO/v1/chat -H "authorization: Bearer $KEY" -H 'content-type: application/json' \\
  -d '{"messages":[{"role":"user","content":"What colour is <bo>?"}],"stream":true,"max_tokens":32}'
# 6. delete the concept (D1 rows, KV keys, the node's caches and photos)
curl -s -X DELETE $YO/v1/concepts/$CONCEPT -H "authorization: Bearer $KEY" -o /dev/null -w '%{http_code}\\n'
# trainer node: readiness and Prometheus metrics
curl -s ${trainer.url}/readyz; curl -s ${trainer.url}/metrics | head -20
=============================================================================================================
Ctrl-C stops both.
`);
}

if (edgeOnly) await runEdgeOnly();
else
  await runAll().catch((error: unknown) => {
    console.error(error instanceof Error ? error.message : error);
    process.exit(1);
  });
