// Training and scoring examples: a conversation with concept slots and images, encoded once into input
// embeddings (token rows + cached image features; concept slots are filled per step inside the graph),
// the slot positions, and the answer's target classes (a token id, or a concept's identifier output row).

import type { RenderedPrompt } from "../text/prompt";
import type { RgbImage } from "../vision/image";
import type { ConceptModel } from "./concept-model";
import { type ConversationSpec, conversationTurns, parseSlotName } from "./concept-prompt";

export type ExampleKind = "recognition" | "conversation";

export interface ExampleSpec {
  conversation: ConversationSpec;
  /** One per image segment, in order. */
  images: readonly RgbImage[];
  kind: ExampleKind;
  /** Recognition only: whether the concept is in the photo. */
  label?: "yes" | "no";
  /** Recognition negatives: "hard" when retrieved as a look-alike of the photos (the warm-up leaves these out). */
  negative?: "hard" | "easy";
}

export interface ConceptSlotUse {
  position: number;
  name: string;
  /** 0: the identifier input row; 1..k: latent rows. */
  row: number;
}

export type TargetClass = { token: number } | { concept: string };

export interface EncodedExample {
  kind: ExampleKind;
  label?: "yes" | "no";
  negative?: "hard" | "easy";
  length: number;
  /** [length * hidden]: token rows and image features; slot positions hold zeros. */
  embeds: Float32Array;
  slots: ConceptSlotUse[];
  /** Hidden position p predicts the answer token at p + 1. */
  targets: { position: number; target: TargetClass }[];
  /** Positions of the image features, every image's in order (empty without an image). */
  imagePositions: number[];
  /** For a positive: the positions of the subject's rows (subject-location.ts), when located. */
  subjectPositions?: number[];
}

function slotUses(rendered: RenderedPrompt): ConceptSlotUse[] {
  const uses: ConceptSlotUse[] = [];
  for (const p of rendered.concepts) {
    const { name, part } = parseSlotName(p.concept);
    for (let r = 0; r < p.rows; r++) {
      uses.push({ position: p.start + r, name, row: part === "identifier" ? 0 : 1 + r });
    }
  }
  return uses;
}

export async function encodeExample(model: ConceptModel, spec: ExampleSpec): Promise<EncodedExample> {
  const h = model.textConfig.hiddenSize;
  const prepared = await Promise.all(spec.images.map((image) => model.prepareImage(image)));
  const imageExpansions = prepared.map((p) => p.expansion);
  const full = model.render(conversationTurns(spec.conversation), {
    addGenerationPrompt: false,
    imageExpansions,
  });
  const prompt = model.render(conversationTurns({ ...spec.conversation, answer: undefined }), {
    addGenerationPrompt: true,
    imageExpansions,
  });
  // The answer is what the full conversation adds after the generation prompt. Tokenization at the
  // boundary can differ; the first differing token starts the answer.
  const maxLength = model.textConfig.maxPositionEmbeddings;
  if (full.ids.length > maxLength) {
    throw new Error(`encodeExample: ${full.ids.length} tokens exceed the model's ${maxLength} positions`);
  }
  let start = 0;
  while (start < prompt.ids.length && start < full.ids.length && prompt.ids[start] === full.ids[start])
    start++;
  if (start >= full.ids.length || start === 0)
    throw new Error("encodeExample: the conversation has no answer");
  const slots = slotUses(full);
  const slotAt = new Map(slots.map((s) => [s.position, s]));
  const targets: EncodedExample["targets"] = [];
  for (let t = start; t < full.ids.length; t++) {
    const slot = slotAt.get(t);
    if (slot && slot.row !== 0) throw new Error("encodeExample: latent rows cannot be an answer");
    targets.push({ position: t - 1, target: slot ? { concept: slot.name } : { token: full.ids[t]! } });
  }
  const imagePositions = new Set(full.images.flatMap((i) => i.positions));
  const lookupIds = full.ids.map((id, t) => (slotAt.has(t) || imagePositions.has(t) ? 0 : id));
  const embeds = model.embeddings.lookup(lookupIds);
  for (const s of slots) embeds.fill(0, s.position * h, (s.position + 1) * h);
  full.images.forEach((img, i) => {
    const features = prepared[i]!.features;
    if (img.positions.length !== prepared[i]!.rows) {
      throw new Error(
        `encodeExample: image ${i} has ${img.positions.length} slots for ${prepared[i]!.rows} rows`,
      );
    }
    img.positions.forEach((pos, r) => {
      embeds.set(features.subarray(r * h, (r + 1) * h), pos * h);
    });
  });
  return {
    kind: spec.kind,
    label: spec.label,
    ...(spec.negative ? { negative: spec.negative } : {}),
    length: full.ids.length,
    embeds,
    slots,
    targets,
    imagePositions: full.images.flatMap((i) => i.positions),
  };
}
