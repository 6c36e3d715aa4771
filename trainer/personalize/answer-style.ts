// How recognition answers are worded in the training data. Yo'LLaVA answers in sentences ("Yes, <bo> is
// in this photo."); a frozen model that fluently continues such sentences puts almost all of the loss on
// the decision token and the name. A base model that answers yes/no questions with one word cannot be
// moved to say the rest by a few input rows: on the toy LLaVA the sentence tokens kept ~3.4 nats each,
// their gradients swamped the decision's, and the learned concepts answered "no" to everything
// (eval:yollava weighted 0.511, AUC 0.555; with one-word answers and the defaults of defaults.ts, 0.767
// and 0.84: personalize README, "Results").
// So by default the recipe asks the frozen model a yes/no question about one of the user's photos and
// trains the concept to answer in the model's own form: one word when it answers with one word, else
// Yo'LLaVA's sentences.

import type { RgbImage } from "../vision/image";
import type { ConceptModel } from "./concept-model";
import { SelfTeacher } from "./teacher";
import {
  type ConversationKind,
  NEGATIVE_ANSWERS,
  POSITIVE_ANSWERS,
  RECOGNITION_QUESTIONS,
  TEACHER_SUBJECT,
} from "./templates";

export type AnswerStyle = "sentence" | "word";

export interface RecognitionAnswers {
  style: AnswerStyle;
  /** Templates with `{name}` (sentences) or the bare words. */
  yes: readonly string[];
  no: readonly string[];
}

export const SENTENCE_ANSWERS: RecognitionAnswers = {
  style: "sentence",
  yes: POSITIVE_ANSWERS,
  no: NEGATIVE_ANSWERS,
};

/** "Yes"/"No" followed by the punctuation the model itself used ("Yes." when it says "No."). */
export function wordAnswers(punctuation = ""): RecognitionAnswers {
  return { style: "word", yes: [`Yes${punctuation}`], no: [`No${punctuation}`] };
}

/** The style of one answer of the frozen model to a yes/no question: a lone yes or no is "word". */
export function answersLike(answer: string): RecognitionAnswers {
  const m = /^\s*(yes|no)\s*([.!]?)\s*$/i.exec(answer);
  return m ? wordAnswers(m[2]) : SENTENCE_ANSWERS;
}

/** Asks the frozen model whether the photo's subject is in `photo` and answers in its style. */
export async function selfAnswerStyle(
  model: ConceptModel,
  photo: RgbImage,
  kind: ConversationKind,
  signal?: AbortSignal,
): Promise<RecognitionAnswers & { probe: string }> {
  const subject = TEACHER_SUBJECT[kind];
  const question = RECOGNITION_QUESTIONS[0].replace("{name}", subject);
  // A few tokens tell a word from a sentence (the decoder is the self-teacher's, compiled once per model).
  const answer = await new SelfTeacher(model, 6).answer({ image: photo, question, subject }, signal);
  return { ...answersLike(answer), probe: answer };
}
