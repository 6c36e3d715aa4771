const ALPHABET = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/** Time-sortable ids (ULID-like: 10 chars of ms timestamp + 16 random), so cursors paginate in creation order. */
export function newId(prefix: "ten" | "key" | "con" | "job"): string {
  let time = Date.now();
  let head = "";
  for (let i = 0; i < 10; i++) {
    head = ALPHABET[time % 32] + head;
    time = Math.floor(time / 32);
  }
  const random = crypto.getRandomValues(new Uint8Array(16));
  let tail = "";
  for (const byte of random) tail += ALPHABET[byte % 32];
  return `${prefix}_${head}${tail}`;
}

export function nowIso(): string {
  return new Date().toISOString();
}

export function randomToken(bytes: number): string {
  const raw = crypto.getRandomValues(new Uint8Array(bytes));
  let out = "";
  for (const byte of raw) out += ALPHABET[byte % 32]!.toLowerCase();
  return out;
}
