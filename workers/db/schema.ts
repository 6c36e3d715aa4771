/**
 * D1 schema (drizzle). migrations/ is generated from this file by `npm run db:generate` (drizzle-kit).
 * Every tenant-owned table carries tenant_id and every query filters on it. Timestamps are ISO 8601 UTC.
 */
import { sql } from "drizzle-orm";
import {
  customType,
  index,
  integer,
  primaryKey,
  real,
  sqliteTable,
  text,
  uniqueIndex,
} from "drizzle-orm/sqlite-core";

/** BLOB as Uint8Array (D1 binds ArrayBuffer; reads may come back as ArrayBuffer or number[]). */
const bytes = customType<{ data: Uint8Array; driverData: ArrayBuffer }>({
  dataType: () => "blob",
  toDriver: (value) =>
    value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength) as ArrayBuffer,
  fromDriver: (value: unknown) =>
    value instanceof ArrayBuffer ? new Uint8Array(value) : Uint8Array.from(value as ArrayLike<number>),
});

export const tenants = sqliteTable("tenants", {
  id: text("id").primaryKey(),
  name: text("name").notNull(),
  createdAt: text("created_at").notNull(),
});

export const apiKeys = sqliteTable(
  "api_keys",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    name: text("name").notNull(),
    /** Public lookup handle embedded in the key; the secret part is only ever stored as a SHA-256 hash. */
    prefix: text("prefix").notNull(),
    keyHash: text("key_hash").notNull(),
    scopes: text("scopes", { mode: "json" }).$type<string[]>().notNull(),
    createdAt: text("created_at").notNull(),
    lastUsedAt: text("last_used_at"),
    revokedAt: text("revoked_at"),
  },
  (t) => [uniqueIndex("api_keys_prefix_unique").on(t.prefix), index("api_keys_tenant_idx").on(t.tenantId)],
);

export const concepts = sqliteTable(
  "concepts",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    name: text("name").notNull(),
    kind: text("kind", { enum: ["person", "pet", "object", "place", "character", "other"] }).notNull(),
    baseModel: text("base_model").notNull(),
    status: text("status", { enum: ["draft", "training", "ready", "failed"] }).notNull(),
    currentVersion: integer("current_version"),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
  },
  (t) => [
    uniqueIndex("concepts_tenant_name_unique").on(t.tenantId, t.name),
    index("concepts_tenant_id_idx").on(t.tenantId, t.id),
  ],
);

export const conceptVersions = sqliteTable(
  "concept_versions",
  {
    conceptId: text("concept_id")
      .notNull()
      .references(() => concepts.id, { onDelete: "cascade" }),
    tenantId: text("tenant_id").notNull(),
    version: integer("version").notNull(),
    /** The YOCN concept artifact (shared/concept-artifact.ts). */
    artifact: bytes("artifact").notNull(),
    sizeBytes: integer("size_bytes").notNull(),
    trainingReport: text("training_report", { mode: "json" }).$type<Record<string, unknown>>().notNull(),
    jobId: text("job_id"),
    createdAt: text("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.conceptId, t.version] })],
);

export const jobs = sqliteTable(
  "jobs",
  {
    id: text("id").primaryKey(),
    tenantId: text("tenant_id")
      .notNull()
      .references(() => tenants.id),
    conceptId: text("concept_id").notNull(),
    status: text("status", { enum: ["queued", "running", "succeeded", "failed", "cancelled"] }).notNull(),
    stage: text("stage"),
    progress: real("progress").notNull().default(0),
    error: text("error"),
    attempts: integer("attempts").notNull().default(0),
    options: text("options", { mode: "json" }).$type<{ latent_tokens: number; preset: string }>().notNull(),
    photoCount: integer("photo_count").notNull(),
    requestId: text("request_id").notNull(),
    createdAt: text("created_at").notNull(),
    updatedAt: text("updated_at").notNull(),
    startedAt: text("started_at"),
    finishedAt: text("finished_at"),
  },
  (t) => [index("jobs_tenant_concept_idx").on(t.tenantId, t.conceptId)],
);

export const auditLog = sqliteTable(
  "audit_log",
  {
    id: integer("id").primaryKey({ autoIncrement: true }),
    tenantId: text("tenant_id"),
    /** "admin", "trainer" or an API key id. */
    actor: text("actor").notNull(),
    action: text("action").notNull(),
    targetId: text("target_id"),
    requestId: text("request_id").notNull(),
    detail: text("detail", { mode: "json" }).$type<Record<string, unknown>>(),
    createdAt: text("created_at").notNull().default(sql`(strftime('%Y-%m-%dT%H:%M:%fZ','now'))`),
  },
  (t) => [index("audit_log_tenant_idx").on(t.tenantId, t.id)],
);

/**
 * First response of each creating call, replayed for a retry with the same Idempotency-Key. Holds only a
 * hash of the key and the response encrypted under a key derived from it (workers/lib/idempotency.ts).
 */
export const idempotencyKeys = sqliteTable(
  "idempotency_keys",
  {
    /** Tenant id, or "admin" for admin calls. */
    scope: text("scope").notNull(),
    keyHash: text("key_hash").notNull(),
    requestHash: text("request_hash").notNull(),
    status: integer("status"),
    /** base64(iv + AES-GCM ciphertext) of the JSON response. */
    body: text("body"),
    createdAt: text("created_at").notNull(),
  },
  (t) => [primaryKey({ columns: [t.scope, t.keyHash] })],
);

/** HMAC nonces seen from the trainer node; the primary key makes a replay fail atomically. */
export const hmacNonces = sqliteTable("hmac_nonces", {
  nonce: text("nonce").primaryKey(),
  expiresAt: integer("expires_at").notNull(),
});

export type ConceptRow = typeof concepts.$inferSelect;
export type JobRow = typeof jobs.$inferSelect;
export type ApiKeyRow = typeof apiKeys.$inferSelect;
