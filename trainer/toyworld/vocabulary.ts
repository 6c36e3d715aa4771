// The closed vocabulary of the toy world. Every attribute value is a word the data generators say and the
// VQA normalizer accepts, so answers can be scored exactly. The "near" tables say which values a tiny model
// could confuse; hard negatives change an attribute only to a near value, the way a friend's dog differs
// from yours by a shade of fur, not by species.

export type Rgb = readonly [number, number, number];

export const SHAPES = [
  "circle",
  "square",
  "triangle",
  "star",
  "heart",
  "ring",
  "cross",
  "diamond",
  "hexagon",
  "crescent",
] as const;
export type Shape = (typeof SHAPES)[number];

export const NEAR_SHAPES: Record<Shape, readonly Shape[]> = {
  circle: ["ring", "hexagon"],
  square: ["diamond", "hexagon"],
  triangle: ["diamond", "heart"],
  star: ["cross", "hexagon"],
  heart: ["circle", "triangle"],
  ring: ["circle", "crescent"],
  cross: ["star", "square"],
  diamond: ["square", "triangle"],
  hexagon: ["circle", "square"],
  crescent: ["ring", "heart"],
};

export const COLOURS = [
  "red",
  "orange",
  "yellow",
  "green",
  "teal",
  "blue",
  "purple",
  "pink",
  "brown",
  "white",
  "gray",
  "black",
] as const;
export type Colour = (typeof COLOURS)[number];

export const COLOUR_RGB: Record<Colour, Rgb> = {
  red: [220, 38, 38],
  orange: [247, 135, 22],
  yellow: [250, 214, 36],
  green: [46, 160, 56],
  teal: [20, 160, 160],
  blue: [37, 82, 225],
  purple: [135, 55, 200],
  pink: [245, 120, 185],
  brown: [125, 75, 35],
  white: [248, 248, 248],
  gray: [128, 128, 128],
  black: [28, 28, 28],
};

export const NEAR_COLOURS: Record<Colour, readonly Colour[]> = {
  red: ["orange", "pink", "brown"],
  orange: ["red", "yellow", "brown"],
  yellow: ["orange", "white"],
  green: ["teal", "yellow"],
  teal: ["green", "blue"],
  blue: ["teal", "purple"],
  purple: ["blue", "pink"],
  pink: ["red", "purple"],
  brown: ["orange", "red"],
  white: ["gray", "yellow"],
  gray: ["white", "black"],
  black: ["gray", "brown"],
};

export const PATTERNS = ["solid", "striped", "dotted", "checkered", "gradient"] as const;
export type Pattern = (typeof PATTERNS)[number];

/** Distinctive marks: drawn in the object's contrast colour (white on dark objects, black on light). */
export const MARKS = ["none", "dot", "band", "outline", "cap"] as const;
export type Mark = (typeof MARKS)[number];

/** How each mark is said after "with": "with a white dot". */
export const MARK_PHRASE: Record<Exclude<Mark, "none">, (contrast: string) => string> = {
  dot: (c) => `a ${c} dot in the middle`,
  band: (c) => `a ${c} band across the middle`,
  outline: (c) => `a ${c} outline`,
  cap: (c) => `a ${c} cap`,
};

export const SIZES = ["small", "medium", "large"] as const;
export type Size = (typeof SIZES)[number];

/** Side of an object's square box as a fraction of the image side: large enough that a mark on a small
 * object still covers a few pixels at 64x64. */
export const SIZE_FRACTION: Record<Size, number> = { small: 0.24, medium: 0.31, large: 0.38 };

/** Cells of the 3x3 grid, row-major; the cell of an object's centre is its position. */
export const CELLS = [
  "top-left",
  "top",
  "top-right",
  "left",
  "center",
  "right",
  "bottom-left",
  "bottom",
  "bottom-right",
] as const;
export type Cell = (typeof CELLS)[number];

/** How a cell is said after a preposition: "in the top-left", "at the top", "in the center". */
export const CELL_PHRASE: Record<Cell, string> = {
  "top-left": "in the top-left corner",
  top: "at the top",
  "top-right": "in the top-right corner",
  left: "on the left",
  center: "in the center",
  right: "on the right",
  "bottom-left": "in the bottom-left corner",
  bottom: "at the bottom",
  "bottom-right": "in the bottom-right corner",
};

export type BackgroundKind = "plain" | "gradient" | "noise" | "grass" | "sand";

export interface BackgroundStyle {
  kind: BackgroundKind;
  /** Colour stops: plain uses the first, gradient goes top to bottom, textures vary between the two. */
  colours: readonly Rgb[];
  /** How the caption says it: "on a cream background", "on grass". */
  phrase: string;
}

export const BACKGROUNDS = {
  cream: { kind: "plain", colours: [[240, 232, 208]], phrase: "on a cream background" },
  sky: { kind: "plain", colours: [[185, 218, 245]], phrase: "on a light blue background" },
  mint: { kind: "plain", colours: [[196, 238, 210]], phrase: "on a mint background" },
  lavender: { kind: "plain", colours: [[222, 210, 245]], phrase: "on a lavender background" },
  slate: { kind: "plain", colours: [[52, 62, 78]], phrase: "on a dark slate background" },
  sunset: {
    kind: "gradient",
    colours: [
      [252, 214, 170],
      [238, 160, 180],
    ],
    phrase: "on a sunset gradient",
  },
  dusk: {
    kind: "gradient",
    colours: [
      [30, 40, 95],
      [95, 60, 125],
    ],
    phrase: "on a dark dusk gradient",
  },
  static: {
    kind: "noise",
    colours: [
      [120, 120, 120],
      [190, 190, 190],
    ],
    phrase: "on a noisy gray background",
  },
  grass: {
    kind: "grass",
    colours: [
      [52, 115, 40],
      [110, 180, 70],
    ],
    phrase: "on grass",
  },
  sand: {
    kind: "sand",
    colours: [
      [226, 200, 150],
      [200, 170, 120],
    ],
    phrase: "on sand",
  },
} as const satisfies Record<string, BackgroundStyle>;
export type Background = keyof typeof BACKGROUNDS;
export const BACKGROUND_NAMES = Object.keys(BACKGROUNDS) as Background[];

/** Minimum RGB distance between an object's colour and every stop of its background, so that every
 * object is visible: a white mug on cream or a green ball on grass would teach nothing. */
export const MIN_BACKGROUND_CONTRAST = 80;

export function rgbDistance(a: Rgb, b: Rgb): number {
  return Math.hypot(a[0] - b[0], a[1] - b[1], a[2] - b[2]);
}

export function luminance(c: Rgb): number {
  return (0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]) / 255;
}

/** Colour of marks on an object: white, except on the lightest colours (yellow, white) where it would
 * vanish. Deliberately not "whichever contrasts more": then a red-to-orange hard negative would also flip
 * its mark from white to black, a second, easier difference than the one declared. */
export function contrastColourName(colour: Colour): "white" | "black" {
  return luminance(COLOUR_RGB[colour]) < 0.7 ? "white" : "black";
}

export function backgroundContrasts(background: Background, colour: Colour): boolean {
  const rgb = COLOUR_RGB[colour];
  return BACKGROUNDS[background].colours.every((stop) => rgbDistance(stop, rgb) >= MIN_BACKGROUND_CONTRAST);
}
