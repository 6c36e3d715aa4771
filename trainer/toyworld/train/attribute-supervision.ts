// Dense attribute supervision for the toy vision tower, trained alongside CLIP's contrastive loss.
// Contrastive training alone left a tower whose features barely told colours apart (loss plateaued at
// 3.06 of ln 64), and no LLaVA stage could ground answers on it. Here every patch token is also asked,
// through small linear heads, what object covers its centre (colour, shape, pattern, mark, size and the
// object's 3x3 cell, or "nothing"), and the CLS token how many objects there are. The labels come from
// the scene graph, so they are exact; the heads are dropped when the model is saved (HF's CLIPModel has
// no such heads), and what stays is a tower whose states carry every attribute a question can ask about.

import { add, type Graph, maskedTokenCrossEntropy, mul, type Tensor } from "../../engine/index";
import type { Scene } from "../scene";
import { CELLS, COLOURS, MARKS, PATTERNS, SHAPES, SIZES } from "../vocabulary";
import type { ParameterBinding } from "./parameters";

/** Per-patch heads: class 0 is "no object at this patch centre", then the vocabulary in order. */
export const PATCH_HEADS = {
  colour: COLOURS,
  shape: SHAPES,
  pattern: PATTERNS,
  mark: MARKS,
  size: SIZES,
  cell: CELLS,
} as const;
export type PatchHead = keyof typeof PATCH_HEADS;
const PATCH_HEAD_NAMES = Object.keys(PATCH_HEADS) as PatchHead[];

/** The CLS head: object count 1..MAX_OBJECTS as classes 0..MAX_OBJECTS-1. */
export const MAX_OBJECTS = 4;

/** Weight names start with this; `isAuxiliaryWeight` keeps them out of saved checkpoints. */
const PREFIX = "aux_attribute_heads.";
export const isAuxiliaryWeight = (name: string): boolean => name.startsWith(PREFIX);

export interface AttributeLabels {
  /** Per patch (row-major over the grid x grid patches), class per head. */
  patch: Record<PatchHead, Int32Array>;
  /** Object count minus one. */
  count: number;
}

/** Exact labels for a scene seen as `grid` x `grid` patches: the object whose box holds each patch centre. */
export function attributeLabels(scene: Scene, grid: number): AttributeLabels {
  const patch = Object.fromEntries(PATCH_HEAD_NAMES.map((h) => [h, new Int32Array(grid * grid)])) as Record<
    PatchHead,
    Int32Array
  >;
  for (let r = 0; r < grid; r++) {
    for (let c = 0; c < grid; c++) {
      const x = (c + 0.5) / grid;
      const y = (r + 0.5) / grid;
      const o = scene.objects.find((o) => x >= o.box.x0 && x < o.box.x1 && y >= o.box.y0 && y < o.box.y1);
      if (!o) continue;
      const i = r * grid + c;
      for (const h of PATCH_HEAD_NAMES) {
        patch[h][i] = 1 + (PATCH_HEADS[h] as readonly string[]).indexOf(o[h]);
      }
    }
  }
  if (scene.objects.length < 1 || scene.objects.length > MAX_OBJECTS) {
    throw new Error(`attributeLabels: scene ${scene.seed} has ${scene.objects.length} objects`);
  }
  return { patch, count: scene.objects.length - 1 };
}

/** Graph inputs of the heads; `attributeFeeds` fills them. */
export const ATTRIBUTE_INPUTS = {
  patchPositions: "aux_patch_positions",
  clsPositions: "aux_cls_positions",
  target: (head: PatchHead | "count") => `aux_target_${head}`,
} as const;

/** Per-head loss weights (the patch heads and the CLS count head); a head left out weighs 1. */
export type HeadWeights = Partial<Record<PatchHead | "count", number>>;

/**
 * Cross-entropy of the heads over `states` [N, 1 + P, D] (CLS first), as one scalar: the patch heads'
 * weighted mean (weights from `headWeights`, divided by the number of heads) plus the count head times
 * its weight, each head a bias-free linear map. Shape is the slow one to learn (a patch must see its
 * neighbours to tell a star from a hexagon), which is why a plan may weigh it up; the count head, on one
 * token per image, held shape back when it trained alongside (toyworld README), so a plan may set it to 0.
 */
export function attributeLoss(
  graph: Graph,
  binding: ParameterBinding,
  states: Tensor,
  headWeights: HeadWeights = {},
): Tensor {
  const width = states.shape[2] as number;
  return graph.scope("aux_attribute_heads", () => {
    const patchPositions = graph.input(ATTRIBUTE_INPUTS.patchPositions, "int64", ["patch_rows"]);
    const clsPositions = graph.input(ATTRIBUTE_INPUTS.clsPositions, "int64", ["cls_rows"]);
    // A head at weight 0 stays in the graph (its loss is still logged) but out of the sum, so no
    // gradient flows back through it.
    const weighted = (loss: Tensor, weight: number) => (weight === 1 ? loss : mul(loss, weight));
    const patchTerms: Tensor[] = [];
    for (const head of PATCH_HEAD_NAMES) {
      const classes = PATCH_HEADS[head].length + 1;
      const w = binding.weight(`${PREFIX}${head}.weight`, [classes, width]);
      const targets = graph.input(ATTRIBUTE_INPUTS.target(head), "int64", ["patch_rows"]);
      const headLoss = maskedTokenCrossEntropy(states, patchPositions, targets, w);
      graph.output(headLoss, `attribute_loss_${head}`); // unweighted, for the training log
      const weight = headWeights[head] ?? 1;
      if (weight !== 0) patchTerms.push(weighted(headLoss, weight));
    }
    const countHead = binding.weight(`${PREFIX}count.weight`, [MAX_OBJECTS, width]);
    const countTargets = graph.input(ATTRIBUTE_INPUTS.target("count"), "int64", ["cls_rows"]);
    const countLoss = maskedTokenCrossEntropy(states, clsPositions, countTargets, countHead);
    graph.output(countLoss, "attribute_loss_count");
    const parts: Tensor[] = [];
    if (patchTerms.length > 0) {
      parts.push(
        mul(
          patchTerms.reduce((a, b) => add(a, b)),
          1 / PATCH_HEAD_NAMES.length,
        ),
      );
    }
    const countWeight = headWeights.count ?? 1;
    if (countWeight !== 0) parts.push(weighted(countLoss, countWeight));
    if (parts.length === 0) throw new Error("attributeLoss: every head has weight 0");
    return parts.reduce((a, b) => add(a, b));
  });
}

/** Feeds for `attributeLoss` over a batch of labelled images (rows of `states` are image n, token t). */
export function attributeFeeds(
  labels: readonly AttributeLabels[],
  grid: number,
): Record<string, BigInt64Array> {
  const tokens = grid * grid + 1;
  const patches = grid * grid;
  const patchPositions = new BigInt64Array(labels.length * patches);
  const clsPositions = new BigInt64Array(labels.length);
  const count = new BigInt64Array(labels.length);
  const targets = Object.fromEntries(
    PATCH_HEAD_NAMES.map((h) => [h, new BigInt64Array(labels.length * patches)]),
  ) as Record<PatchHead, BigInt64Array>;
  labels.forEach((l, n) => {
    clsPositions[n] = BigInt(n * tokens);
    count[n] = BigInt(l.count);
    for (let p = 0; p < patches; p++) {
      patchPositions[n * patches + p] = BigInt(n * tokens + 1 + p);
      for (const h of PATCH_HEAD_NAMES) targets[h][n * patches + p] = BigInt(l.patch[h][p]!);
    }
  });
  const feeds: Record<string, BigInt64Array> = {
    [ATTRIBUTE_INPUTS.patchPositions]: patchPositions,
    [ATTRIBUTE_INPUTS.clsPositions]: clsPositions,
    [ATTRIBUTE_INPUTS.target("count")]: count,
  };
  for (const h of PATCH_HEAD_NAMES) feeds[ATTRIBUTE_INPUTS.target(h)] = targets[h];
  return feeds;
}
