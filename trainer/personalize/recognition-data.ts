// Recognition data of the Yo'LLaVA recipe: "Is <bo> in this photo?" over the user's photos (and their
// horizontal flips) answered yes, and over hard and easy negatives answered no. Positives are repeated
// with other question/answer templates until they are about half as many as the negatives, so the
// identifier does not learn "no" from the class imbalance alone. Answers are worded as answer-style.ts
// decides (Yo'LLaVA's sentences, or the base model's one word).

import type { RgbImage } from "../vision/image";
import { type RecognitionAnswers, SENTENCE_ANSWERS } from "./answer-style";
import { templateSegments } from "./concept-prompt";
import type { ExampleSpec } from "./examples";
import type { SeededRandom } from "./random";
import { RECOGNITION_QUESTIONS } from "./templates";

export interface RecognitionImages {
  positives: readonly RgbImage[];
  hardNegatives: readonly RgbImage[];
  easyNegatives: readonly RgbImage[];
}

export function flipHorizontal(image: RgbImage): RgbImage {
  const { width, height, data } = image;
  const out = new Uint8Array(data.length);
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      const from = (y * width + x) * 3;
      const to = (y * width + (width - 1 - x)) * 3;
      out[to] = data[from]!;
      out[to + 1] = data[from + 1]!;
      out[to + 2] = data[from + 2]!;
    }
  }
  return { width, height, data: out };
}

export function recognitionExample(
  name: string,
  k: number,
  image: RgbImage,
  label: "yes" | "no",
  rng: SeededRandom,
  answers: RecognitionAnswers = SENTENCE_ANSWERS,
): ExampleSpec {
  const question = rng.pick(RECOGNITION_QUESTIONS);
  const answer = rng.pick(label === "yes" ? answers.yes : answers.no);
  return {
    kind: "recognition",
    label,
    images: [image],
    conversation: {
      concepts: [{ name, k }],
      images: 1,
      question: templateSegments(question, name),
      answer: templateSegments(answer, name),
    },
  };
}

export interface RecognitionDataOptions {
  flip: boolean;
  /** Repeat positives up to this share of the negatives (default 0.5). */
  positiveShare?: number;
  /** Default Yo'LLaVA's sentences. */
  answers?: RecognitionAnswers;
}

export function recognitionExamples(
  name: string,
  k: number,
  images: RecognitionImages,
  rng: SeededRandom,
  options: RecognitionDataOptions,
): ExampleSpec[] {
  const positives = options.flip
    ? images.positives.flatMap((p) => [p, flipHorizontal(p)])
    : [...images.positives];
  const negatives = [
    ...images.hardNegatives.map((image) => ({ image, negative: "hard" as const })),
    ...images.easyNegatives.map((image) => ({ image, negative: "easy" as const })),
  ];
  const wanted = Math.max(positives.length, Math.round(negatives.length * (options.positiveShare ?? 0.5)));
  const specs: ExampleSpec[] = [];
  for (let i = 0; i < wanted && positives.length > 0; i++) {
    specs.push(recognitionExample(name, k, positives[i % positives.length]!, "yes", rng, options.answers));
  }
  for (const { image, negative } of negatives) {
    specs.push({ ...recognitionExample(name, k, image, "no", rng, options.answers), negative });
  }
  return specs;
}
