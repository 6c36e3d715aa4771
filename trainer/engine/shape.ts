// Static shapes with named symbolic dims. Broadcasting is resolved at build time: two dims must be
// equal (same number or same name) or one of them must be 1.

export type Dim = number | string;
export type Shape = readonly Dim[];

export function formatShape(shape: Shape): string {
  return `[${shape.join(",")}]`;
}

export function isStatic(shape: Shape): shape is readonly number[] {
  return shape.every((d) => typeof d === "number");
}

export function sameShape(a: Shape, b: Shape): boolean {
  return a.length === b.length && a.every((d, i) => d === b[i]);
}

export function broadcastShapes(...shapes: Shape[]): Dim[] {
  const rank = Math.max(...shapes.map((s) => s.length));
  const out: Dim[] = [];
  for (let i = 0; i < rank; i++) {
    let dim: Dim = 1;
    for (const s of shapes) {
      const d = s[i - (rank - s.length)] ?? 1;
      if (d === 1 || d === dim) continue;
      if (dim === 1) dim = d;
      else
        throw new Error(
          `cannot broadcast ${shapes.map(formatShape).join(" with ")}: dim ${i} is ${dim} vs ${d}`,
        );
    }
    out.push(dim);
  }
  return out;
}

export function normalizeAxis(axis: number, rank: number): number {
  const a = axis < 0 ? axis + rank : axis;
  if (a < 0 || a >= rank) throw new Error(`axis ${axis} out of range for rank ${rank}`);
  return a;
}

/** Number of elements if static, else undefined. */
export function staticSize(shape: Shape): number | undefined {
  let n = 1;
  for (const d of shape) {
    if (typeof d !== "number") return undefined;
    n *= d;
  }
  return n;
}

/** Product of dims as a Dim: a number when all are numbers, else a readable name like "B*T". */
export function dimProduct(dims: Shape): Dim {
  let num = 1;
  const names: string[] = [];
  for (const d of dims) {
    if (typeof d === "number") num *= d;
    else names.push(d);
  }
  if (names.length === 0) return num;
  if (num === 0) return 0;
  return [...(num === 1 ? [] : [String(num)]), ...names].join("*");
}

/** Factorizes a dim into a numeric part and named factors (inverse of dimProduct for its own output). */
function factors(dim: Dim): { num: number; names: string[] } {
  if (typeof dim === "number") return { num: dim, names: [] };
  let num = 1;
  const names: string[] = [];
  for (const part of dim.split("*")) {
    if (/^\d+$/.test(part)) num *= Number(part);
    else names.push(part);
  }
  return { num, names };
}

/** total / divisor over dims, when it divides cleanly; undefined otherwise. */
export function dimQuotient(total: Shape, divisor: Shape): Dim | undefined {
  let num = 1;
  const names: string[] = [];
  for (const d of total) {
    const f = factors(d);
    num *= f.num;
    names.push(...f.names);
  }
  let den = 1;
  for (const d of divisor) {
    const f = factors(d);
    den *= f.num;
    for (const n of f.names) {
      const i = names.indexOf(n);
      if (i < 0) return undefined;
      names.splice(i, 1);
    }
  }
  if (den === 0 || num % den !== 0) return undefined;
  return dimProduct([num / den, ...names]);
}
