// The whole training schedule in one place: how many scenes are rendered, and each stage's steps, batch,
// learning rate, data mix and which weights it trains. `npm run toy:train` takes about 218 minutes on 2
// CPU cores: 62.5 through stage 5 (measured end to end), 58 for stages 6, 7 and 7b, and 97 for the eight
// cycles of stages 8-10 (measured stage by stage, those last on a faster machine).

import type { AttentionTarget } from "../../models/attention-target";
import type { HeadWeights } from "./attribute-supervision";
import type { RowMix, VqaKindWeights } from "./instruction-data";
import type { Schedule } from "./optimize";

/** What every stage has; LiT stages (`clipText`) need nothing more. */
export interface StagePlan {
  /** Stage name in logs, loss curves and `--stage`. */
  name: string;
  schedule: Schedule;
  batchSize: number;
  seed: number;
}

export interface ClipPlan extends StagePlan {
  /** Weight of the dense attribute heads (attribute-supervision.ts) next to the contrastive loss. */
  attributeWeight: number;
  /** Per-head weights inside the attribute loss (default 1 each). */
  headWeights?: HeadWeights;
  /** With CLIP's contrastive loss (default); without it the stage trains the vision tower alone. */
  contrastive?: boolean;
}

/** The LLaVA's weights in three groups, as LLaVA's stages freeze and train them. */
export type LlavaPart = "vision" | "projector" | "llm";

export interface LlavaStagePlan extends StagePlan {
  mix: RowMix;
  trains: readonly LlavaPart[];
  /** Learning-rate multiplier of the vision tower when it trains (default 1). */
  visionLrScale?: number;
  /** Text only: the scene's detailed description stands where the image goes (no image path). */
  textOnly?: boolean;
  /** Curriculum: image rows only from scenes with at most this many objects (default: all scenes). */
  maxObjects?: number;
  /** Loss weight of rows whose answer is at most three tokens (short VQA, yes/no); default 1. */
  shortAnswerWeight?: number;
  /** Auxiliary loss on where one attention head looks, for rows with targets (recognition quads). */
  attentionTarget?: AttentionTarget;
  /** Relative weight of each kind of short VQA question (default: every kind equally often). */
  vqaKindWeights?: VqaKindWeights;
}

export interface TrainingPlan {
  /** Training scenes rendered once (seeds 0..scenes-1 of the train split). */
  scenes: number;
  /** CLIP stages (joint contrastive + attribute heads, or the vision tower alone), each continuing the last. */
  clip: readonly ClipPlan[];
  /** Locked-image text tuning after `clip` (clip-text-recipe.ts): text side only, bigger batches. */
  clipText: readonly StagePlan[];
  /** LLaVA stages in order; each starts from the weights the previous one left. */
  llava: readonly LlavaStagePlan[];
}

const schedule = (steps: number, lr: number, warmup = Math.ceil(steps / 20)): Schedule => ({
  steps,
  lr,
  warmup,
  weightDecay: 0.05,
  maxGradNorm: 1,
  logEvery: 20,
});

/** The main LLaVA mix: captions carry most grounded tokens, short answers teach answering in a word. */
const GROUND_MIX = { caption: 0.3, vqa: 0.4, recognition: 0.15, instruction: 0.1, text: 0.05 };

/** Stage 6's mix with its short VQA as `vqa_located` rows: the locating head told where answers are. */
const LOCATE_MIX = {
  recognition_quad: 0.2,
  caption: 0.2,
  vqa_located: 0.36,
  recognition: 0.12,
  instruction: 0.08,
  text: 0.04,
};

/** Head 0 of layer 2: the head stages 6 on teach where a question's answer is (attention-target.ts). */
const LOCATING_HEAD: AttentionTarget = { layer: 2, head: 0, weight: 1 };

const WHOLE_MODEL: readonly LlavaPart[] = ["vision", "projector", "llm"];

/** One cosine cycle (2400 x 32) of the locate mix with the locating head's loss; tower frozen unless said. */
const locateCycle = (
  name: string,
  lr: number,
  seed: number,
  more: Partial<LlavaStagePlan> = {},
): LlavaStagePlan => ({
  name,
  mix: LOCATE_MIX,
  trains: ["projector", "llm"],
  schedule: schedule(2400, lr),
  batchSize: 32,
  seed,
  attentionTarget: LOCATING_HEAD,
  ...more,
});

/** A locate cycle with the tower training too and short questions drawn by `weights`. */
const weightedCycle = (name: string, lr: number, seed: number, weights: VqaKindWeights) =>
  locateCycle(name, lr, seed, { trains: WHOLE_MODEL, vqaKindWeights: weights });

/** Every kind of short question equally often (in VQA_CYCLE's order: the draw follows the key order). */
const EVEN: VqaKindWeights = { colour: 1, shape: 1, pattern: 1, count: 1, position: 1, mark: 1 };

/** More of every kind still under 0.9 after the position cycles (position 0.80 to shape 0.89). */
const WEAK_KINDS: VqaKindWeights = { ...EVEN, shape: 1.5, pattern: 2, count: 2, position: 3, mark: 1.5 };

/**
 * CLIP first (the tower is what every later stage reads), then LLaVA with the tower frozen, as LLaVA
 * freezes CLIP ViT-L: a curriculum stage on single-object scenes (where attention has nothing to choose
 * between) and the main stage on every scene. There is no pretrained LLM, so the LLM learns the
 * language in these stages too; captions carry most of the grounded tokens (every attribute word of a
 * caption is a prediction the picture decides), short answers make the model answer in a word.
 */
export const TRAINING_PLAN: TrainingPlan = {
  scenes: 10000,
  clip: [
    { name: "clip", schedule: schedule(2000, 2e-3), batchSize: 64, attributeWeight: 1, seed: 1 },
    // After `clip` a linear probe of the tower (tools/reference/probe_toy_tower.py) read colour 0.97 but
    // shape 0.19 (chance 0.10), pattern 0.32 and mark 0.53, and no LLaVA could answer about them. This
    // stage trains the tower on the identity heads alone. Both per-image losses held shape back: with the
    // CLS count head in the loss a 600-step probe read shape 0.24, without it 0.60 (PyTorch, same setup:
    // 0.63); with the contrastive loss as well, 0.22. Size and cell are off too (a PyTorch run with all
    // six patch heads read 0.30). LiT then realigns the text side to the tower (README, "The tower was the
    // bottleneck").
    {
      name: "clip_attributes",
      schedule: { ...schedule(3000, 2e-3), decay: "constant" },
      batchSize: 64,
      attributeWeight: 1,
      contrastive: false,
      headWeights: { shape: 4, pattern: 2, mark: 2, size: 0, cell: 0, count: 0 },
      seed: 2,
    },
    // An earlier second cycle with every head at weight 1 ("clip_more": 2000 steps, lr 1e-3, heads
    // weight 2) lowered the heads' mean loss (0.78 -> 0.48) but not the LLaVA's shape error (README,
    // Results).
  ],
  // The vision-only tower stage leaves CLS untrained for captions (LiT starts at loss 12.8), so LiT runs
  // two cycles: retrieval top-1 0.772 after the first, 0.892 after the second
  // (stage by stage; 0.91 for the committed models, one end-to-end run).
  clipText: [
    { name: "clip_text", schedule: schedule(600, 1e-3), batchSize: 256, seed: 8 },
    { name: "clip_text_more", schedule: schedule(2000, 1e-3), batchSize: 256, seed: 9 },
  ],
  llava: [
    {
      name: "llava_ground_single",
      maxObjects: 1,
      mix: { caption: 0.4, vqa: 0.45, recognition: 0.15 },
      trains: ["projector", "llm"],
      schedule: schedule(800, 1e-3),
      batchSize: 16,
      seed: 3,
    },
    {
      name: "llava_ground",
      mix: GROUND_MIX,
      trains: ["projector", "llm"],
      schedule: schedule(3000, 1e-3),
      batchSize: 16,
      seed: 4,
    },
    {
      // A second cosine cycle at half the peak: the loss was still falling at the end of the first.
      name: "llava_ground_more",
      mix: GROUND_MIX,
      trains: ["projector", "llm"],
      schedule: schedule(2000, 5e-4),
      batchSize: 16,
      seed: 5,
    },
    {
      // Yes/no recognition. Every earlier stage left "Is there a red striped star ...?" at chance: the
      // answer depends only on whether the description matches the picture, and the plain loss reaches
      // the attention that finds the described object only through a product of two untrained parts.
      // Crossed quads (recognition-quads.ts) cancel what the question or the picture says alone, and the
      // attention-target loss tells head 0 of layer 2 where to look from the answer position: the
      // described object's patches, or <s> when nothing matches (attention-target.ts). A quad is four
      // rows, so 0.2 of the draws make about half the rows; the ground mix keeps the rest of the skills.
      name: "llava_recognize",
      mix: {
        recognition_quad: 0.2,
        caption: 0.24,
        vqa: 0.32,
        recognition: 0.12,
        instruction: 0.08,
        text: 0.04,
      },
      trains: ["projector", "llm"],
      schedule: schedule(2400, 1e-3),
      batchSize: 32,
      seed: 6,
      attentionTarget: LOCATING_HEAD,
    },
    // Attribute VQA needs the same binding: "What colour is the star?" is answered from the star's
    // patches, and in 3-object scenes the model read the named object's colour poorly (README, "Where it
    // breaks"). The short-answer rows now tell the same head where the answer is (`vqa_located`: the
    // asked-about object's patches, every counted object's, or <s> for a count of zero).
    locateCycle("llava_locate", 5e-4, 8),
    // A second cycle at a lower peak: the first was still gaining at its end.
    locateCycle("llava_locate_more", 3e-4, 9),
    // The tower trains too from here (LLaVA-1.5 freezes CLIP; later LLaVAs and most small VLMs do not).
    // Position was the weakest answer (0.58), and its errors were mostly the column: the row can be read
    // off where a patch sits in the sequence (RoPE), the column only from the patch's features, which
    // the frozen tower, trained without its cell head, kept weakly. Half the rate first, then the full.
    locateCycle("llava_locate_tower", 3e-4, 10, { trains: WHOLE_MODEL, visionLrScale: 0.5 }),
    locateCycle("llava_locate_tower_more", 3e-4, 11, { trains: WHOLE_MODEL }),
    // Position stayed the weakest (0.61, and 0.53 on training seeds: not learned, rather than not
    // generalized), so these cycles ask more position and count questions (README, Results).
    weightedCycle("llava_locate_position", 3e-4, 12, { ...EVEN, count: 2, position: 3 }),
    weightedCycle("llava_locate_position_more", 4e-4, 13, { ...EVEN, count: 2, position: 4 }),
    // Then every kind still under 0.9 gets more questions; the last two cycles follow the weakest ones.
    weightedCycle("llava_locate_weak", 4e-4, 14, WEAK_KINDS),
    weightedCycle("llava_locate_weak_more", 3e-4, 15, WEAK_KINDS),
    weightedCycle("llava_locate_weakest", 3e-4, 16, {
      ...EVEN,
      shape: 2,
      pattern: 1.5,
      count: 2,
      position: 3,
    }),
    weightedCycle("llava_locate_last", 3e-4, 17, {
      ...EVEN,
      shape: 1.5,
      pattern: 1.5,
      count: 1.5,
      position: 3,
    }),
  ],
};
