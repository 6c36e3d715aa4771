import { auditLog } from "../db/schema";
import type { Db } from "../env";

/** Appends one audit entry per mutation: who did what to which object, under which request id. */
export function auditEntry(
  db: Db,
  entry: {
    tenantId: string | null;
    actor: string;
    action: string;
    targetId: string | null;
    requestId: string;
    detail?: Record<string, unknown>;
  },
) {
  return db
    .insert(auditLog)
    .values({ ...entry, detail: entry.detail ?? null, createdAt: new Date().toISOString() });
}
