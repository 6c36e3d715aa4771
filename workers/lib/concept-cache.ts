/**
 * Concept artifacts in KV under versioned keys (concept:<id>:v<version>). D1 stays the source of truth:
 * on a miss, or when the cached bytes do not carry the expected version (stale or foreign entry), the
 * artifact is read from D1 and KV is rewritten.
 */
import { and, eq } from "drizzle-orm";
import { readConceptArtifactHeader } from "../../shared/concept-artifact";
import { conceptVersions } from "../db/schema";
import type { Db, EdgeEnv } from "../env";
import { ApiError } from "./errors";

export type CacheOutcome = "hit" | "miss" | "stale";

export function conceptKvKey(conceptId: string, version: number): string {
  return `concept:${conceptId}:v${version}`;
}

export async function putConceptArtifact(
  env: EdgeEnv,
  conceptId: string,
  version: number,
  bytes: Uint8Array,
) {
  await env.CONCEPTS_KV.put(conceptKvKey(conceptId, version), bytes);
}

function carriesVersion(bytes: Uint8Array, name: string, version: number): boolean {
  try {
    const header = readConceptArtifactHeader(bytes);
    return header.version === version && header.name === name;
  } catch {
    return false;
  }
}

export async function loadConceptArtifact(
  env: EdgeEnv,
  db: Db,
  concept: { id: string; tenantId: string; name: string; currentVersion: number },
): Promise<{ bytes: Uint8Array; cache: CacheOutcome }> {
  const key = conceptKvKey(concept.id, concept.currentVersion);
  const cached = await env.CONCEPTS_KV.get(key, "arrayBuffer");
  if (cached) {
    const bytes = new Uint8Array(cached);
    if (carriesVersion(bytes, concept.name, concept.currentVersion)) return { bytes, cache: "hit" };
  }
  const row = await db.query.conceptVersions.findFirst({
    where: and(
      eq(conceptVersions.conceptId, concept.id),
      eq(conceptVersions.tenantId, concept.tenantId),
      eq(conceptVersions.version, concept.currentVersion),
    ),
  });
  if (!row)
    throw new ApiError(
      "concept_not_ready",
      `version ${concept.currentVersion} of ${concept.name} is missing`,
    );
  const bytes = row.artifact;
  await env.CONCEPTS_KV.put(key, bytes);
  return { bytes, cache: cached ? "stale" : "miss" };
}
