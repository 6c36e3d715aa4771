// From a recipe to a scene graph. A recipe is small and JSON-serializable; data records store recipes,
// not pixels, and anyone can re-render the exact image later with composeScene + renderScene.

import { Random } from "./random";
import { type ObjectIdentity, type Scene, type SceneObject, sameIdentity, spatialRelations } from "./scene";
import {
  BACKGROUND_NAMES,
  type Background,
  backgroundContrasts,
  CELLS,
  type Cell,
  COLOURS,
  MARKS,
  PATTERNS,
  SHAPES,
  SIZE_FRACTION,
  SIZES,
  type Size,
} from "./vocabulary";

export interface SceneSubject extends ObjectIdentity {
  /** Catalogue name when the subject is a personal concept, e.g. "<bo>". */
  concept?: string;
}

export interface SceneRecipe {
  seed: number;
  /** Names the random stream: the same seed under "positive:<bo>" and "scene" gives unrelated scenes. */
  stream?: string;
  /** Objects that must appear, placed first (a concept, or a hard-negative variant of it). */
  subjects?: SceneSubject[];
  /** Identities no distractor may take: a concept's negatives must not contain the concept by chance. */
  exclude?: ObjectIdentity[];
  /** Object count is drawn uniformly from [minObjects, maxObjects]; defaults 1 and 4. */
  minObjects?: number;
  maxObjects?: number;
}

export const DEFAULT_MIN_OBJECTS = 1;
export const DEFAULT_MAX_OBJECTS = 4;
/** Empty space kept between boxes and to the image border, in image fractions. */
const GAP = 0.02;
const PLACEMENT_ATTEMPTS = 12;
const LAYOUT_ATTEMPTS = 50;

export function composeScene(recipe: SceneRecipe): Scene {
  const rng = new Random(recipe.seed, recipe.stream ?? "scene");
  const subjects = recipe.subjects ?? [];
  const minObjects = Math.max(recipe.minObjects ?? DEFAULT_MIN_OBJECTS, subjects.length);
  const maxObjects = Math.max(recipe.maxObjects ?? DEFAULT_MAX_OBJECTS, minObjects);
  if (maxObjects > CELLS.length) throw new Error(`composeScene: at most ${CELLS.length} objects`);
  const count = rng.intBetween(minObjects, maxObjects);

  const background = pickBackground(rng, subjects);
  const avoid = [...subjects, ...(recipe.exclude ?? [])];
  const wanted: SceneSubject[] = [...subjects];
  while (wanted.length < count) wanted.push(randomDistractor(rng, background, avoid));

  const placed = placeObjects(rng, wanted, subjects.length);
  // Reading order (row-major cells), so captions never mention the concept first just because it is one.
  placed.sort((a, b) => CELLS.indexOf(a.cell) - CELLS.indexOf(b.cell));
  const objects = placed.map((o, id) => ({ ...o, id }));
  return { seed: rng.nextUint32(), background, objects, relations: spatialRelations(objects) };
}

function pickBackground(rng: Random, subjects: readonly ObjectIdentity[]): Background {
  const usable = BACKGROUND_NAMES.filter((b) => subjects.every((s) => backgroundContrasts(b, s.colour)));
  if (usable.length === 0) throw new Error("composeScene: no background contrasts with every subject");
  return rng.pick(usable);
}

export function randomDistractor(
  rng: Random,
  background: Background,
  avoid: readonly ObjectIdentity[],
): ObjectIdentity {
  const colours = COLOURS.filter((c) => backgroundContrasts(background, c));
  for (;;) {
    const o: ObjectIdentity = {
      shape: rng.pick(SHAPES),
      colour: rng.pick(colours),
      pattern: rng.pick(PATTERNS),
      // Half of all objects are unmarked, so a mark is distinctive rather than the norm.
      mark: rng.chance(0.5) ? "none" : rng.pick(MARKS.slice(1)),
    };
    if (!avoid.some((a) => sameIdentity(a, o))) return o;
  }
}

type Placed = Omit<SceneObject, "id">;

/** One object per grid cell, so every object has a unique position word and boxes never overlap.
 * Required subjects go first; if they cannot all be placed (four large concepts), start over. */
function placeObjects(rng: Random, wanted: readonly SceneSubject[], required: number): Placed[] {
  for (let layout = 0; layout < LAYOUT_ATTEMPTS; layout++) {
    const freeCells = rng.shuffle(CELLS);
    const placed: Placed[] = [];
    let complete = true;
    wanted.forEach((identity, index) => {
      const spot = findSpot(rng, freeCells, placed);
      if (spot) {
        freeCells.splice(freeCells.indexOf(spot.cell), 1);
        placed.push({ ...identity, ...spot });
      } else if (index < required) {
        complete = false;
      }
      // A distractor that does not fit is dropped: the scene graph only ever lists what is drawn.
    });
    if (complete) return placed;
  }
  throw new Error("composeScene: could not place the required subjects");
}

function findSpot(
  rng: Random,
  freeCells: readonly Cell[],
  placed: readonly Placed[],
): Pick<Placed, "size" | "cell" | "box"> | undefined {
  for (let attempt = 0; attempt < PLACEMENT_ATTEMPTS; attempt++) {
    const cell = rng.pick(freeCells);
    // Later attempts prefer smaller sizes, which is how a crowded scene still fits four objects.
    const size: Size = attempt < PLACEMENT_ATTEMPTS / 2 ? rng.pick(SIZES) : "small";
    const half = SIZE_FRACTION[size] / 2;
    const index = CELLS.indexOf(cell);
    const cx = centerInCell(rng, index % 3, half);
    const cy = centerInCell(rng, Math.floor(index / 3), half);
    const box = { x0: cx - half, y0: cy - half, x1: cx + half, y1: cy + half };
    const clear = placed.every(
      (p) =>
        box.x1 + GAP <= p.box.x0 ||
        p.box.x1 + GAP <= box.x0 ||
        box.y1 + GAP <= p.box.y0 ||
        p.box.y1 + GAP <= box.y0,
    );
    if (clear) return { size, cell, box };
  }
  return undefined;
}

/** A centre coordinate inside grid column/row k whose box stays inside the image. */
function centerInCell(rng: Random, k: number, half: number): number {
  const eps = 1e-3;
  const lo = Math.max(k / 3 + eps, half + GAP);
  const hi = Math.min((k + 1) / 3 - eps, 1 - half - GAP);
  return rng.uniform(lo, hi);
}
