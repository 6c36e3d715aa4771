import { and, eq } from "drizzle-orm";
import { type ConceptRow, concepts } from "../db/schema";
import type { Db } from "../env";
import { ApiError } from "../lib/errors";

export function toConcept(row: ConceptRow) {
  return {
    id: row.id,
    name: row.name,
    kind: row.kind,
    base_model: row.baseModel,
    status: row.status,
    current_version: row.currentVersion,
    created_at: row.createdAt,
    updated_at: row.updatedAt,
  };
}

/** Another tenant's concept is indistinguishable from a missing one. */
export async function findConcept(db: Db, tenantId: string, conceptId: string): Promise<ConceptRow> {
  const row = await db.query.concepts.findFirst({
    where: and(eq(concepts.id, conceptId), eq(concepts.tenantId, tenantId)),
  });
  if (!row) throw new ApiError("concept_not_found");
  return row;
}
