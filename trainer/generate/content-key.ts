import { createHash } from "node:crypto";

/** sha256 (hex) over parts, each length-prefixed so that ("ab", "c") and ("a", "bc") differ. */
export function contentKey(...parts: readonly (string | ArrayBufferView)[]): string {
  const hash = createHash("sha256");
  for (const part of parts) {
    const bytes =
      typeof part === "string"
        ? Buffer.from(part, "utf8")
        : new Uint8Array(part.buffer, part.byteOffset, part.byteLength);
    const length = Buffer.alloc(8);
    length.writeBigUInt64LE(BigInt(bytes.byteLength));
    hash.update(length).update(bytes);
  }
  return hash.digest("hex");
}

/** JSON with object keys sorted, so equal configs give equal keys whatever their key order. */
export function stableJson(value: unknown): string {
  if (Array.isArray(value)) return `[${value.map(stableJson).join(",")}]`;
  if (value !== null && typeof value === "object") {
    const entries = Object.entries(value as Record<string, unknown>)
      .filter(([, v]) => v !== undefined)
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    return `{${entries.map(([k, v]) => `${JSON.stringify(k)}:${stableJson(v)}`).join(",")}}`;
  }
  return JSON.stringify(value);
}
