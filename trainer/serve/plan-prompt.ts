/**
 * A prompt plan (shared/prompt-plan.ts) as input embeddings for the base model. The system turn introduces
 * every mentioned concept ("<bo> is <bo:1>...<bo:k>.", the segments training uses: conceptSystemSegments
 * of trainer/personalize/concept-prompt.ts, so a k = 0 concept gets no sentence, as in training); the chat
 * template renders the turns (user text tokenized with special tokens disabled); concept rows and image
 * features are spliced over their placeholder positions. The concept introduction is the cacheable prefix:
 * the prefix KV cache keys on (model, concept versions, rendered template ids). The mentioned concepts'
 * identifiers are also extra output classes for generation (the answer can say "<bo>").
 */
import type { ConceptSegment, ImageRef, PromptPlan } from "../../shared/prompt-plan";
import { assembleEmbeddings, contentKey, type ExtraClass, type Splice } from "../generate/index";
import { conceptSystemSegments, parseSlotName } from "../personalize/concept-prompt";
import {
  PromptRenderError,
  type PromptSegment,
  type PromptTurn,
  promptTurnsFromPlan,
  renderPrompt,
} from "../text/prompt";
import { UntrustedTextError } from "../text/tokenizer";
import { ImageDecodeError } from "../vision/image";
import type { BaseModel } from "./base-model";
import type { ConceptInput, ConceptRowsCache } from "./concept-rows";
import { ServeError } from "./errors";

export interface PlanPrompt {
  ids: number[];
  embeds: Float32Array;
  /** Cacheable prefix (up to the end of the concept introduction), when the prompt has one. */
  prefix: { length: number; key: string; concepts: string[] } | undefined;
  /**
   * One per mentioned concept, in order of first mention: its name (as the plan spells it), identifier
   * output row (logit) and identifier input row (what follows it), for generate's extraClasses.
   */
  extraClasses: ExtraClass[];
}

export function imageBytes(ref: ImageRef): Uint8Array {
  if ("r2_key" in ref)
    throw new ServeError("invalid_image", "images by R2 key are not supported by this node");
  return Buffer.from(ref.base64, "base64");
}

/** The plan's turns with the concept introduction merged into (or inserted as) the system turn. */
function conceptTurns(
  plan: PromptPlan,
  concepts: ConceptRowsCache,
): {
  turns: PromptTurn[];
  images: (ImageRef | "batch")[];
  inputs: Map<string, ConceptInput>;
  names: Map<string, string>;
  versions: string[];
} {
  const inputs = new Map<string, ConceptInput>();
  const names = new Map<string, string>();
  const versions: string[] = [];
  const seen = (segment: ConceptSegment) => {
    if (!inputs.has(segment.concept)) {
      inputs.set(segment.concept, concepts.get(segment));
      names.set(segment.concept, segment.name);
      versions.push(`${segment.concept}@${segment.version}`);
    }
    return 1;
  };
  const { turns, images } = promptTurnsFromPlan(plan.turns, seen);
  // Slots are named by concept id (names may repeat across tenants' concepts; ids do not).
  const intro: PromptSegment[] = conceptSystemSegments(
    [...inputs].map(([id, input]) => ({ name: id, k: input.header.k })),
  );
  if (intro.length === 0) return { turns, images, inputs, names, versions };
  const first = turns[0];
  if (first?.role === "system") first.segments = [...intro, { type: "text", text: " " }, ...first.segments];
  else turns.unshift({ role: "system", segments: intro });
  return { turns, images, inputs, names, versions };
}

/** Renders the plan's turns; `batchImage` fills `batch_image` segments (recognition). */
export async function planPrompt(
  model: BaseModel,
  concepts: ConceptRowsCache,
  plan: PromptPlan,
  batchImage?: ImageRef,
): Promise<PlanPrompt> {
  if (plan.base_model !== model.id) {
    throw new ServeError(
      "base_model_mismatch",
      `plan is for ${plan.base_model}, this node serves ${model.id}`,
    );
  }
  try {
    const { turns, images, inputs: conceptInputs, names, versions } = conceptTurns(plan, concepts);
    const inputs = await Promise.all(
      images.map((ref) => {
        const resolved = ref === "batch" ? batchImage : ref;
        if (!resolved) throw new ServeError("invalid_request", "batch_image outside a recognize plan");
        return model.imageInput(imageBytes(resolved));
      }),
    );
    if (inputs.length > 0 && !model.processor)
      throw new ServeError("invalid_image", `${model.id} takes no images`);
    const rendered = renderPrompt(model.tokenizer, turns, {
      addGenerationPrompt: true,
      imageToken: model.processor?.imageToken ?? "<image>",
      expandImage: (i) => inputs[i]!.prompt,
    });
    const maxPositions = model.textConfig.maxPositionEmbeddings;
    if (rendered.ids.length >= maxPositions) {
      throw new ServeError(
        "invalid_request",
        `the prompt is ${rendered.ids.length} tokens; ${model.id} has ${maxPositions} positions`,
      );
    }
    const h = model.hiddenSize;
    const splices: Splice[] = [];
    let prefixLength = 0;
    for (const placement of rendered.concepts) {
      const { name: id, part } = parseSlotName(placement.concept);
      const latent = part === "latent";
      const input = conceptInputs.get(id)!;
      splices.push({ position: placement.start, rows: latent ? input.latent : input.identifier });
      if (latent) prefixLength = Math.max(prefixLength, placement.start + placement.rows);
    }
    rendered.images.forEach((image, i) => {
      const features = inputs[i]!.features;
      if (features.length !== image.positions.length * h) {
        throw new ServeError(
          "invalid_image",
          `image ${i}: ${features.length / h} features for ${image.positions.length} slots`,
        );
      }
      image.positions.forEach((position, row) => {
        splices.push({ position, rows: features.subarray(row * h, (row + 1) * h) });
      });
    });
    const embeds = await assembleEmbeddings(rendered.ids, model.embeddings, splices);
    const firstImage = Math.min(
      ...rendered.images.flatMap((image) => image.positions),
      Number.POSITIVE_INFINITY,
    );
    const prefix =
      prefixLength > 0 && prefixLength <= firstImage && prefixLength < rendered.ids.length
        ? {
            length: prefixLength,
            key: contentKey(
              model.id,
              JSON.stringify(rendered.ids.slice(0, prefixLength)),
              versions.join(","),
            ),
            concepts: [...conceptInputs.keys()],
          }
        : undefined;
    const extraClasses = [...conceptInputs].map(([id, input]) => ({
      text: names.get(id)!,
      output: input.output,
      input: input.identifier,
    }));
    return { ids: rendered.ids, embeds, prefix, extraClasses };
  } catch (error) {
    if (error instanceof ImageDecodeError)
      throw new ServeError("invalid_image", `${error.code}: ${error.message}`);
    if (error instanceof PromptRenderError || error instanceof UntrustedTextError)
      throw new ServeError("invalid_request", error.message);
    throw error;
  }
}
