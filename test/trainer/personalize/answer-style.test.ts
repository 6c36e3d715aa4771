import { describe, expect, it } from "vitest";
import { Runtime } from "../../../trainer/engine/index";
import { answersLike, SENTENCE_ANSWERS, selfAnswerStyle } from "../../../trainer/personalize/answer-style";
import { loadConceptModel } from "../../../trainer/personalize/concept-model";
import { SeededRandom } from "../../../trainer/personalize/random";
import { recognitionExamples } from "../../../trainer/personalize/recognition-data";
import { CONCEPTS, conceptSamples, renderSample } from "../../../trainer/toyworld/index";
import { TOY_LLAVA_DIR } from "../../../trainer/toyworld/train/toy-models";
import { photo } from "./fixture";

describe("recognition answer style", () => {
  it("a lone yes or no is the word style, with the model's punctuation; anything else is sentences", () => {
    expect(answersLike("Yes")).toMatchObject({ style: "word", yes: ["Yes"], no: ["No"] });
    expect(answersLike(" no. ")).toMatchObject({ style: "word", yes: ["Yes."], no: ["No."] });
    expect(answersLike("Yes, the dog is in this photo.")).toBe(SENTENCE_ANSWERS);
    expect(answersLike("Nothing")).toBe(SENTENCE_ANSWERS);
    expect(answersLike("")).toBe(SENTENCE_ANSWERS);
  });

  it("recognition examples answer in the chosen words", () => {
    const examples = recognitionExamples(
      "<bo>",
      1,
      { positives: [photo(1)], hardNegatives: [photo(2)], easyNegatives: [] },
      new SeededRandom(0),
      { flip: false, answers: answersLike("Yes") },
    );
    expect(examples.map((e) => [e.label, e.conversation.answer])).toEqual([
      ["yes", [{ type: "text", text: "Yes" }]],
      ["no", [{ type: "text", text: "No" }]],
    ]);
  });

  it("the toy LLaVA answers yes/no questions with one word, so its concepts train on one-word answers", async () => {
    const runtime = new Runtime({ intraOpNumThreads: 1 });
    try {
      const model = await loadConceptModel(TOY_LLAVA_DIR, { runtime, repo: "toy-llava" });
      const concept = CONCEPTS[0]!;
      const [positive] = conceptSamples(concept, "train", {
        positives: 1,
        hardNegatives: 0,
        easyNegatives: 0,
      }).positives;
      const answers = await selfAnswerStyle(model, renderSample(positive!), "subject");
      expect(answers.probe).toMatch(/^(Yes|No)$/);
      expect(answers).toMatchObject({ style: "word", yes: ["Yes"], no: ["No"] });
    } finally {
      await runtime.release();
    }
  });
});
