import type { DrizzleD1Database } from "drizzle-orm/d1";
import type * as schema from "./db/schema";
import type { Logger } from "./lib/log";

/** Bindings from wrangler.toml, secrets from .dev.vars / wrangler secret. */
export interface EdgeEnv {
  DB: D1Database;
  CONCEPTS_KV: KVNamespace;
  PHOTOS: R2Bucket;
  TRAINING_QUEUE: Queue<TrainingMessage>;
  KEY_RATE_LIMITER: RateLimit;
  /** Service binding to the trainer node; when absent the edge calls TRAINER_URL over HTTP. */
  TRAINER?: Fetcher;
  TRAINER_URL: string;
  TRAINER_TIMEOUT_MS: string;
  DEFAULT_BASE_MODEL: string;
  GENERATION_MODEL: string;
  /** debug | info | warn | error */
  LOG_LEVEL?: string;
  ADMIN_KEY: string;
  HMAC_SECRET: string;
}

/** The only thing on the training queue: job ids, never photos (messages are capped at 128 KB). */
export interface TrainingMessage {
  job_id: string;
  tenant_id: string;
  request_id: string;
}

export type Db = DrizzleD1Database<typeof schema>;

export interface AppVariables {
  requestId: string;
  log: Logger;
  db: Db;
  tenantId: string;
  /** "admin", "trainer" or the API key id. */
  actor: string;
  /** Milliseconds spent waiting on the trainer node, reported in Server-Timing so edge overhead is visible. */
  timings: { trainerMs: number };
}

export type AppEnv = { Bindings: EdgeEnv; Variables: AppVariables };

declare global {
  namespace Cloudflare {
    interface GlobalProps {
      mainModule: typeof import("./index");
    }
    interface Env extends EdgeEnv {
      TEST_MIGRATIONS: import("cloudflare:test").D1Migration[];
    }
  }
}
