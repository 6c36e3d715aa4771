/** Admin: tenants and their API keys. Authenticated with the bootstrap ADMIN_KEY secret. */
import { and, eq } from "drizzle-orm";
import { Hono } from "hono";
import { CreateApiKeyRequestSchema, CreateTenantRequestSchema } from "../../shared/api";
import { sha256Hex } from "../../shared/hmac";
import { type ApiKeyRow, apiKeys, tenants } from "../db/schema";
import type { AppEnv } from "../env";
import { auditEntry } from "../lib/audit";
import { forgetApiKey, mintApiKey, requireAdmin } from "../lib/auth";
import { ApiError } from "../lib/errors";
import { idempotent } from "../lib/idempotency";
import { newId, nowIso } from "../lib/ids";
import { validJson } from "../lib/validation";

export function toApiKey(row: ApiKeyRow) {
  return {
    id: row.id,
    tenant_id: row.tenantId,
    name: row.name,
    prefix: row.prefix,
    scopes: row.scopes,
    created_at: row.createdAt,
    last_used_at: row.lastUsedAt,
    revoked_at: row.revokedAt,
  };
}

export const adminRoutes = new Hono<AppEnv>()
  .use(requireAdmin)
  .post("/tenants", idempotent, validJson(CreateTenantRequestSchema), async (c) => {
    const { name } = c.req.valid("json");
    const tenant = { id: newId("ten"), name, createdAt: nowIso() };
    const db = c.get("db");
    await db.batch([
      db.insert(tenants).values(tenant),
      auditEntry(db, {
        tenantId: tenant.id,
        actor: "admin",
        action: "tenant.create",
        targetId: tenant.id,
        requestId: c.get("requestId"),
      }),
    ]);
    return c.json({ id: tenant.id, name: tenant.name, created_at: tenant.createdAt }, 201);
  })
  .post("/tenants/:tenantId/keys", idempotent, validJson(CreateApiKeyRequestSchema), async (c) => {
    const db = c.get("db");
    const tenantId = c.req.param("tenantId");
    const tenant = await db.query.tenants.findFirst({ where: eq(tenants.id, tenantId) });
    if (!tenant) throw new ApiError("tenant_not_found");
    const { name, scopes } = c.req.valid("json");
    const { key, prefix } = mintApiKey();
    const row: ApiKeyRow = {
      id: newId("key"),
      tenantId,
      name,
      prefix,
      keyHash: await sha256Hex(key),
      scopes,
      createdAt: nowIso(),
      lastUsedAt: null,
      revokedAt: null,
    };
    await db.batch([
      db.insert(apiKeys).values(row),
      auditEntry(db, {
        tenantId,
        actor: "admin",
        action: "api_key.create",
        targetId: row.id,
        requestId: c.get("requestId"),
      }),
    ]);
    return c.json({ ...toApiKey(row), key }, 201);
  })
  .post("/tenants/:tenantId/keys/:keyId/revoke", async (c) => {
    const db = c.get("db");
    const where = and(eq(apiKeys.id, c.req.param("keyId")), eq(apiKeys.tenantId, c.req.param("tenantId")));
    const row = await db.query.apiKeys.findFirst({ where });
    if (!row) throw new ApiError("api_key_not_found");
    const revokedAt = row.revokedAt ?? nowIso();
    forgetApiKey(row.prefix);
    await db.batch([
      db.update(apiKeys).set({ revokedAt }).where(where),
      auditEntry(db, {
        tenantId: row.tenantId,
        actor: "admin",
        action: "api_key.revoke",
        targetId: row.id,
        requestId: c.get("requestId"),
      }),
    ]);
    return c.json(toApiKey({ ...row, revokedAt }));
  });
