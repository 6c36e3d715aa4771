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
import { bytesToBase64 } from "./images";

/** memory: this isolate had it; hit: KV had it; miss: read from D1; stale: KV held other bytes, D1 won. */
export type CacheOutcome = "memory" | "hit" | "miss" | "stale";

/**
 * Versioned keys never change content, so an isolate may keep artifacts it has read (as base64, the form
 * prompt plans need) without invalidation; a byte budget bounds it, least recently used first out.
 */
const MEMORY_BUDGET_BYTES = 32 * 1024 * 1024;
const memory = new Map<string, { bytes: Uint8Array; base64: string }>();
let memoryBytes = 0;

function remember(key: string, bytes: Uint8Array): { bytes: Uint8Array; base64: string } {
  const entry = { bytes, base64: bytesToBase64(bytes) };
  memory.set(key, entry);
  memoryBytes += bytes.byteLength + entry.base64.length;
  for (const [oldKey, old] of memory) {
    if (memoryBytes <= MEMORY_BUDGET_BYTES) break;
    memory.delete(oldKey);
    memoryBytes -= old.bytes.byteLength + old.base64.length;
  }
  return entry;
}

/** For tests: forget everything this isolate remembered. */
export function clearConceptMemoryCache(): void {
  memory.clear();
  memoryBytes = 0;
}

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
): Promise<{ bytes: Uint8Array; base64: string; cache: CacheOutcome }> {
  const key = conceptKvKey(concept.id, concept.currentVersion);
  const remembered = memory.get(key);
  if (remembered) {
    memory.delete(key);
    memory.set(key, remembered);
    return { ...remembered, cache: "memory" };
  }
  const cached = await env.CONCEPTS_KV.get(key, "arrayBuffer");
  if (cached) {
    const bytes = new Uint8Array(cached);
    if (carriesVersion(bytes, concept.name, concept.currentVersion))
      return { ...remember(key, bytes), cache: "hit" };
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
  return { ...remember(key, bytes), cache: cached ? "stale" : "miss" };
}
