// The symbolic scene graph: what is in a picture, where, and how objects relate. Everything the data
// generators say is read from here, never from pixels, so every caption and answer is true by construction.
// Geometry is in image fractions [0, 1] so one scene renders at 64x64 or 96x96 alike.

import type { Background, Cell, Colour, Mark, Pattern, Shape, Size } from "./vocabulary";

/** What makes an object *that* object: a personal concept is one identity. Size and place vary. */
export interface ObjectIdentity {
  shape: Shape;
  colour: Colour;
  pattern: Pattern;
  mark: Mark;
}

export const IDENTITY_ATTRIBUTES = ["shape", "colour", "pattern", "mark"] as const;
export type IdentityAttribute = (typeof IDENTITY_ATTRIBUTES)[number];

/** Box in image fractions; x grows right, y grows down. */
export interface Box {
  x0: number;
  y0: number;
  x1: number;
  y1: number;
}

export interface SceneObject extends ObjectIdentity {
  id: number;
  size: Size;
  cell: Cell;
  box: Box;
  /** Set when this object is a catalogue concept (e.g. "<bo>"), for records that name it. */
  concept?: string;
}

export type RelationName = "left of" | "right of" | "above" | "below";

export interface Relation {
  subject: number;
  relation: RelationName;
  object: number;
}

export interface Scene {
  /** Background texture noise is keyed by this, so the same scene always looks the same. */
  seed: number;
  background: Background;
  objects: SceneObject[];
  relations: Relation[];
}

export function sameIdentity(a: ObjectIdentity, b: ObjectIdentity): boolean {
  return a.shape === b.shape && a.colour === b.colour && a.pattern === b.pattern && a.mark === b.mark;
}

export function identityOf(o: ObjectIdentity): ObjectIdentity {
  return { shape: o.shape, colour: o.colour, pattern: o.pattern, mark: o.mark };
}

export function boxCenter(box: Box): [number, number] {
  return [(box.x0 + box.x1) / 2, (box.y0 + box.y1) / 2];
}

/**
 * Spatial relations, stated only where nobody could disagree: A is left of B when A's box ends before B's
 * begins. Overlapping extents yield no relation, so "left of" never depends on a judgement call.
 */
export function spatialRelations(objects: readonly SceneObject[]): Relation[] {
  const out: Relation[] = [];
  for (const a of objects) {
    for (const b of objects) {
      if (a === b) continue;
      if (a.box.x1 <= b.box.x0) out.push({ subject: a.id, relation: "left of", object: b.id });
      if (a.box.x0 >= b.box.x1) out.push({ subject: a.id, relation: "right of", object: b.id });
      if (a.box.y1 <= b.box.y0) out.push({ subject: a.id, relation: "above", object: b.id });
      if (a.box.y0 >= b.box.y1) out.push({ subject: a.id, relation: "below", object: b.id });
    }
  }
  return out;
}
