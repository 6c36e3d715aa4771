// Measuring a concept the way Yo'LLaVA does, and its baselines on the same questions: recognition
// (P(yes) for "Is <bo> in this photo?"; positive, negative and weighted accuracy), and multiple choice by
// likelihood (the candidate answer with the highest summed log-probability wins), text-only or about a
// photo. Methods: "yollava" (the learned rows in slots), "vanilla" (the name as plain text, nothing
// else), "text_prompt" (a written description in the system turn), "image_prompt" (k reference photos
// in context), and the reference "inline_description" (the description instead of the name).

import type { PromptSegment } from "../text/prompt";
import type { RgbImage } from "../vision/image";
import { type ConceptRowsInput, scoreExamples } from "./concept-batch";
import type { ConceptGraphs } from "./concept-graph";
import type { ConceptModel } from "./concept-model";
import { mentionSegments, templateSegments } from "./concept-prompt";
import { type EncodedExample, type ExampleSpec, encodeExample } from "./examples";
import {
  type RecognitionAccuracy,
  recognitionAccuracy,
  recognitionProbabilities,
  type YesNoIds,
} from "./recognition-score";

export type ConceptMethod =
  | { kind: "yollava"; rows: ConceptRowsInput }
  | { kind: "vanilla" }
  | { kind: "text_prompt"; description: string }
  | { kind: "image_prompt"; references: readonly RgbImage[] }
  /** The written description in place of the name ("Is a red striped star ... in this photo?"): what the
   * base model can do when told exactly what to look for; a reference, not a personalization method. */
  | { kind: "inline_description"; phrase: string };

export const RECOGNITION_TEST_QUESTION = "Is {name} in this photo?";
export const RECOGNITION_TEST_ANSWER = "Yes, {name} is in this photo.";

function plain(template: string, name: string): PromptSegment[] {
  return [{ type: "text", text: template.replaceAll("{name}", name) }];
}

/** One exchange about `name` as `method` poses it. `answer` may mention the concept as {name} or <name>. */
export function methodExample(
  method: ConceptMethod,
  name: string,
  images: readonly RgbImage[],
  question: string,
  answer: string,
): ExampleSpec {
  if (method.kind === "yollava") {
    return {
      kind: images.length > 0 ? "recognition" : "conversation",
      images,
      conversation: {
        concepts: [{ name, k: method.rows.k }],
        images: images.length,
        question: templateSegments(question, name),
        answer: mentionSegments(answer.replaceAll("{name}", name), new Set([name])),
      },
    };
  }
  if (method.kind === "inline_description") {
    return {
      kind: images.length > 0 ? "recognition" : "conversation",
      images,
      conversation: {
        concepts: [],
        images: images.length,
        question: plain(question, method.phrase),
        answer: plain(answer, method.phrase),
      },
    };
  }
  const references = method.kind === "image_prompt" ? method.references : [];
  const lead =
    method.kind === "image_prompt"
      ? `The first ${references.length} image${references.length === 1 ? " shows" : "s show"} ${name}. `
      : "";
  return {
    kind: images.length > 0 ? "recognition" : "conversation",
    images: [...references, ...images],
    conversation: {
      concepts: [],
      images: references.length + images.length,
      systemText: method.kind === "text_prompt" ? method.description : undefined,
      question: plain(lead + question, name),
      answer: plain(answer, name),
    },
  };
}

function rowsOf(method: ConceptMethod): ConceptRowsInput[] {
  return method.kind === "yollava" ? [method.rows] : [];
}

export interface EvalContext {
  model: ConceptModel;
  graphs: ConceptGraphs;
  ids: YesNoIds;
  bucket: number;
  batchSize: number;
}

export async function evaluateRecognition(
  ctx: EvalContext,
  method: ConceptMethod,
  name: string,
  images: readonly { image: RgbImage; label: "yes" | "no" }[],
): Promise<RecognitionAccuracy> {
  const encoded: EncodedExample[] = [];
  for (const { image } of images) {
    encoded.push(
      await encodeExample(
        ctx.model,
        methodExample(method, name, [image], RECOGNITION_TEST_QUESTION, RECOGNITION_TEST_ANSWER),
      ),
    );
  }
  const pYes = await recognitionProbabilities(ctx.model, ctx.graphs, encoded, rowsOf(method), ctx.ids, ctx);
  return recognitionAccuracy(
    pYes,
    images.map((i) => i.label),
  );
}

export interface MultipleChoiceItem {
  question: string;
  /** The correct answer first. */
  candidates: readonly string[];
  image?: RgbImage;
}

/** Share of items whose correct candidate has the highest summed answer log-probability. */
export async function evaluateMultipleChoice(
  ctx: EvalContext,
  method: ConceptMethod,
  name: string,
  items: readonly MultipleChoiceItem[],
): Promise<number> {
  let correct = 0;
  for (const item of items) {
    const encoded: EncodedExample[] = [];
    for (const candidate of item.candidates) {
      encoded.push(
        await encodeExample(
          ctx.model,
          methodExample(method, name, item.image ? [item.image] : [], item.question, candidate),
        ),
      );
    }
    const scores = await scoreExamples(ctx.model, ctx.graphs, encoded, rowsOf(method), ctx);
    const totals = scores.map((s) => s.logProbs.reduce((a, b) => a + b, 0));
    const best = totals.indexOf(Math.max(...totals));
    if (best === 0) correct++;
  }
  return items.length > 0 ? correct / items.length : Number.NaN;
}
