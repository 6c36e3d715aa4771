/**
 * The trainer node's limits and defaults, named in one place (documented in trainer/serve/README.md).
 * Limits shared with the edge (photo sizes, images per request, HMAC window) live in shared/limits.ts.
 */

/** Port of the node's HTTP server (wrangler.toml's TRAINER_URL points here). */
export const DEFAULT_TRAINER_PORT = 8788;

/** Training jobs running at once per device: one, since a job saturates the device. */
export const DEFAULT_TRAINING_CONCURRENCY = 1;
/** Accepted jobs waiting for a slot; the next dispatch is answered 429 (the edge's queue retries). */
export const DEFAULT_TRAINING_QUEUE_DEPTH = 8;

/** Inference requests in flight or waiting; beyond this the node answers 503 + Retry-After. */
export const MAX_INFERENCE_IN_FLIGHT = 64;
/** Seconds the node asks callers to wait when it is overloaded or not ready. */
export const RETRY_AFTER_SECONDS = 5;

/** Recognition micro-batching: requests for the same concept arriving within this window share one run. */
export const RECOGNIZE_BATCH_WINDOW_MS = 4;
/** Prompts in one scoring run (images across the merged requests). */
export const MAX_RECOGNIZE_BATCH_PROMPTS = 32;

/** Decoded concept artifacts kept (by concept id + version); each is (k + 2) rows of hidden floats. */
export const MAX_DECODED_CONCEPTS = 1_024;

/** Cache budgets (bytes). */
export const IMAGE_FEATURE_CACHE_BYTES = 128 * 1024 * 1024;
export const PREFIX_CACHE_BYTES = 256 * 1024 * 1024;

/** Seen HMAC nonces remembered at most (oldest expire first); replays inside the window are refused. */
export const MAX_REMEMBERED_NONCES = 100_000;

/** Callbacks to the edge (progress, result): attempts and the backoff between them. */
export const CALLBACK_ATTEMPTS = 6;
export const CALLBACK_BACKOFF_BASE_MS = 250;
export const CALLBACK_BACKOFF_MAX_MS = 10_000;
export const CALLBACK_TIMEOUT_MS = 15_000;
/** A result the edge never took (every attempt failed) is posted again this often, this many times. */
export const REDELIVERY_INTERVAL_MS = 60_000;
export const REDELIVERY_ROUNDS = 30;
/** Progress is posted at most this often (the last update and the result always go out). */
export const PROGRESS_MIN_INTERVAL_MS = 500;

/** Finished job ids remembered so a redelivered dispatch is answered without training again. */
export const MAX_REMEMBERED_JOBS = 10_000;

/** Largest request body the node reads (a full training dispatch: 10 photos of 8 MB, base64). */
export const MAX_NODE_BODY_BYTES = 128 * 1024 * 1024;

/** Training presets (TrainDispatch options.preset) as epochs of trainer/personalize's recipe. */
export const TRAINING_PRESET_EPOCHS: Readonly<Record<string, number>> = {
  fast: 4,
  standard: 10,
  thorough: 20,
};
/** Negatives drawn from the pool per job (Yo'LLaVA: 100 hard + 100 easy). */
export const TRAINING_HARD_NEGATIVES = 100;
export const TRAINING_EASY_NEGATIVES = 100;
