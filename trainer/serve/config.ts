/**
 * The node's configuration, from environment variables only (documented in trainer/serve/README.md).
 * Nothing else in trainer/serve reads process.env.
 */
import { existsSync } from "node:fs";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import { WEIGHT_FORMATS, type WeightFormat } from "../models/quantized-weights";
import { DEFAULT_TRAINER_PORT, DEFAULT_TRAINING_CONCURRENCY, DEFAULT_TRAINING_QUEUE_DEPTH } from "./limits";

const ROOT = path.resolve(import.meta.dirname, "../..");
/** The project's toy base model (trained by trainer/toyworld), served by default when it has been built. */
export const TOY_MODEL_DIR = path.join(ROOT, "trainer/toyworld/models/toy-llava");
/** The tiny random LLaVA test checkpoint: plumbing only, it has learned nothing. */
export const FIXTURE_MODEL_DIR = path.join(ROOT, "test/fixtures/models/llava");
/** A character-level tokenizer matching the fixture's 128-token vocabulary (the fixture ships none). */
export const FIXTURE_TOKENIZER_DIR = path.join(import.meta.dirname, "fixture-tokenizer");

export class ServeConfigError extends Error {
  override name = "ServeConfigError";
}

export interface ServeConfig {
  host: "127.0.0.1";
  port: number;
  modelDir: string;
  /** Why this model: "YO_MODEL_DIR", "toy-llava (default)" or "fixture (toy-llava not built)". */
  modelSource: string;
  tokenizerDir: string;
  /** The base model id concepts are trained for and plans name (the edge's concept.base_model). */
  modelId: string;
  device: string;
  threads: number | undefined;
  /** How the decoder's weights are held: "float32" (as loaded today), or quantized at load ("int8", "int4"). */
  weights: WeightFormat;
  /** Node-local caches on disk: converted (quantized) weights go to `<cacheDir>/converted/`. */
  cacheDir: string;
  hmacSecret: string;
  edgeUrl: string;
  stateDir: string;
  trainingConcurrency: number;
  trainingQueueDepth: number;
  /** Module exporting `createConceptTrainer` (concept-trainer.ts); default the trainer/personalize adapter. */
  conceptTrainerModule: string | undefined;
  /** Negatives pool (trainer/personalize/cli.ts pool build) and the CLIP it was indexed with. */
  negativesPoolDir: string | undefined;
  clipDir: string | undefined;
  /** Conversation teacher for concept training: the frozen model itself ("self") or none. */
  teacher: "self" | "none";
}

type Env = Record<string, string | undefined>;

function positiveInt(env: Env, name: string, fallback: number): number {
  const raw = env[name];
  if (raw === undefined || raw === "") return fallback;
  const value = Number(raw);
  if (!Number.isInteger(value) || value < 0) throw new ServeConfigError(`${name} must be an integer >= 0`);
  return value;
}

function teacherFrom(value: string | undefined): "self" | "none" {
  if (value === undefined || value === "" || value === "self") return "self";
  if (value === "none") return "none";
  throw new ServeConfigError("YO_TEACHER must be self or none");
}

function weightsFrom(value: string | undefined): WeightFormat {
  if (value === undefined || value === "") return "float32";
  if ((WEIGHT_FORMATS as readonly string[]).includes(value)) return value as WeightFormat;
  throw new ServeConfigError(`YO_WEIGHTS must be one of ${WEIGHT_FORMATS.join(", ")}`);
}

/** `requireSecret: false` for local CLI commands that never talk to the edge. */
export function serveConfigFromEnv(
  env: Env = process.env,
  options: { requireSecret?: boolean } = {},
): ServeConfig {
  let modelDir: string;
  let modelSource: string;
  if (env.YO_MODEL_DIR) {
    modelDir = path.resolve(env.YO_MODEL_DIR);
    modelSource = "YO_MODEL_DIR";
  } else if (existsSync(path.join(TOY_MODEL_DIR, "config.json"))) {
    modelDir = TOY_MODEL_DIR;
    modelSource = "toy-llava (default)";
  } else {
    modelDir = FIXTURE_MODEL_DIR;
    modelSource = "fixture (trainer/toyworld/models/toy-llava is not built yet)";
  }
  const tokenizerDir = env.YO_TOKENIZER_DIR
    ? path.resolve(env.YO_TOKENIZER_DIR)
    : existsSync(path.join(modelDir, "tokenizer.json"))
      ? modelDir
      : modelDir === FIXTURE_MODEL_DIR
        ? FIXTURE_TOKENIZER_DIR
        : modelDir;
  const defaultId =
    modelDir === TOY_MODEL_DIR
      ? "yo/toy-llava"
      : modelDir === FIXTURE_MODEL_DIR
        ? "fixture/llava"
        : path.basename(modelDir);
  const hmacSecret = env.YO_HMAC_SECRET ?? env.HMAC_SECRET ?? "";
  if ((options.requireSecret ?? true) && hmacSecret.length < 16) {
    throw new ServeConfigError(
      "YO_HMAC_SECRET (or HMAC_SECRET) must be set to the edge's HMAC secret (>= 16 chars)",
    );
  }
  const threads = positiveInt(env, "YO_THREADS", 0);
  return {
    host: "127.0.0.1",
    port: positiveInt(env, "YO_TRAINER_PORT", DEFAULT_TRAINER_PORT),
    modelDir,
    modelSource,
    tokenizerDir,
    modelId: env.YO_MODEL_ID || defaultId,
    device: env.YO_DEVICE || "cpu",
    threads: threads > 0 ? threads : undefined,
    weights: weightsFrom(env.YO_WEIGHTS),
    cacheDir: path.resolve(env.YO_CACHE_DIR || path.join(homedir(), ".cache", "yo-edge")),
    hmacSecret,
    edgeUrl: (env.YO_EDGE_URL || "http://127.0.0.1:8787").replace(/\/$/, ""),
    stateDir: path.resolve(env.YO_STATE_DIR || path.join(tmpdir(), "yo-trainer-state")),
    trainingConcurrency: Math.max(
      1,
      positiveInt(env, "YO_TRAINING_CONCURRENCY", DEFAULT_TRAINING_CONCURRENCY),
    ),
    trainingQueueDepth: positiveInt(env, "YO_TRAINING_QUEUE_DEPTH", DEFAULT_TRAINING_QUEUE_DEPTH),
    conceptTrainerModule: env.YO_CONCEPT_TRAINER_MODULE || undefined,
    negativesPoolDir: env.YO_NEGATIVES_POOL ? path.resolve(env.YO_NEGATIVES_POOL) : undefined,
    clipDir: env.YO_CLIP_DIR ? path.resolve(env.YO_CLIP_DIR) : undefined,
    teacher: teacherFrom(env.YO_TEACHER),
  };
}
