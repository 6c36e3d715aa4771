/** Concepts: create, list (cursor pagination), get, delete (D1 rows, KV keys, staged photos, node caches). */
import { and, asc, count, eq, gt } from "drizzle-orm";
import { Hono } from "hono";
import { CreateConceptRequestSchema, ListQuerySchema } from "../../shared/api";
import { DEFAULT_PAGE_SIZE, MAX_CONCEPTS_PER_TENANT } from "../../shared/limits";
import type { ConceptPurge } from "../../shared/trainer-api";
import { concepts, conceptVersions, jobs } from "../db/schema";
import type { AppEnv } from "../env";
import { auditEntry } from "../lib/audit";
import { requireApiKey } from "../lib/auth";
import { conceptKvKey } from "../lib/concept-cache";
import { ApiError } from "../lib/errors";
import { idempotent } from "../lib/idempotency";
import { newId, nowIso } from "../lib/ids";
import { callTrainer } from "../lib/trainer-client";
import { validJson, validQuery } from "../lib/validation";
import { findConcept, toConcept } from "./concept";

export const conceptRoutes = new Hono<AppEnv>()
  .post(
    "/",
    requireApiKey("concepts:write"),
    idempotent,
    validJson(CreateConceptRequestSchema),
    async (c) => {
      const db = c.get("db");
      const tenantId = c.get("tenantId");
      const body = c.req.valid("json");
      const [owned] = await db.select({ n: count() }).from(concepts).where(eq(concepts.tenantId, tenantId));
      if ((owned?.n ?? 0) >= MAX_CONCEPTS_PER_TENANT) throw new ApiError("too_many_concepts");
      const taken = await db.query.concepts.findFirst({
        where: and(eq(concepts.tenantId, tenantId), eq(concepts.name, body.name)),
      });
      if (taken) throw new ApiError("concept_name_taken", `${body.name} already exists`);
      const now = nowIso();
      const row = {
        id: newId("con"),
        tenantId,
        name: body.name,
        kind: body.kind,
        baseModel: body.base_model ?? c.env.DEFAULT_BASE_MODEL,
        status: "draft" as const,
        currentVersion: null,
        createdAt: now,
        updatedAt: now,
      };
      try {
        await db.batch([
          db.insert(concepts).values(row),
          auditEntry(db, {
            tenantId,
            actor: c.get("actor"),
            action: "concept.create",
            targetId: row.id,
            requestId: c.get("requestId"),
          }),
        ]);
      } catch (error) {
        // A concurrent create with the same name loses on the unique index.
        if (String(error).includes("UNIQUE"))
          throw new ApiError("concept_name_taken", `${body.name} already exists`);
        throw error;
      }
      return c.json(toConcept(row), 201);
    },
  )
  .get("/", requireApiKey("concepts:read"), validQuery(ListQuerySchema), async (c) => {
    const { limit = DEFAULT_PAGE_SIZE, cursor } = c.req.valid("query");
    const tenantId = c.get("tenantId");
    const rows = await c
      .get("db")
      .select()
      .from(concepts)
      .where(and(eq(concepts.tenantId, tenantId), cursor ? gt(concepts.id, cursor) : undefined))
      .orderBy(asc(concepts.id))
      .limit(limit + 1);
    const page = rows.slice(0, limit);
    const nextCursor = rows.length > limit ? page[page.length - 1]!.id : null;
    return c.json({ data: page.map(toConcept), next_cursor: nextCursor });
  })
  .get("/:id", requireApiKey("concepts:read"), async (c) => {
    return c.json(toConcept(await findConcept(c.get("db"), c.get("tenantId"), c.req.param("id"))));
  })
  .delete("/:id", requireApiKey("concepts:write"), async (c) => {
    const db = c.get("db");
    const tenantId = c.get("tenantId");
    const concept = await findConcept(db, tenantId, c.req.param("id"));
    const versions = await db
      .select({ version: conceptVersions.version })
      .from(conceptVersions)
      .where(and(eq(conceptVersions.conceptId, concept.id), eq(conceptVersions.tenantId, tenantId)));
    const conceptJobs = await db
      .select({ id: jobs.id })
      .from(jobs)
      .where(and(eq(jobs.conceptId, concept.id), eq(jobs.tenantId, tenantId)));
    const jobIds = conceptJobs.map((j) => j.id);
    await db.batch([
      db
        .delete(conceptVersions)
        .where(and(eq(conceptVersions.conceptId, concept.id), eq(conceptVersions.tenantId, tenantId))),
      db.delete(jobs).where(and(eq(jobs.conceptId, concept.id), eq(jobs.tenantId, tenantId))),
      db.delete(concepts).where(and(eq(concepts.id, concept.id), eq(concepts.tenantId, tenantId))),
      auditEntry(db, {
        tenantId,
        actor: c.get("actor"),
        action: "concept.delete",
        targetId: concept.id,
        requestId: c.get("requestId"),
      }),
    ]);
    await Promise.all(versions.map((v) => c.env.CONCEPTS_KV.delete(conceptKvKey(concept.id, v.version))));
    for (const jobId of jobIds) {
      const staged = await c.env.PHOTOS.list({ prefix: `jobs/${jobId}/` });
      if (staged.objects.length) await c.env.PHOTOS.delete(staged.objects.map((o) => o.key));
    }
    // The node drops its caches and any photos it still holds; best effort, the concept is gone either way.
    const requestId = c.get("requestId");
    const log = c.get("log");
    c.executionCtx.waitUntil(
      callTrainer(c.env, {
        method: "POST",
        path: `/v1/concepts/${concept.id}/purge`,
        body: JSON.stringify({
          concept_id: concept.id,
          tenant_id: tenantId,
          job_ids: jobIds,
        } satisfies ConceptPurge),
        requestId,
      })
        .then((res) => res.body?.cancel())
        .catch((error) =>
          log("warn", "trainer purge failed", { concept_id: concept.id, error: String(error) }),
        ),
    );
    return c.body(null, 204);
  });
