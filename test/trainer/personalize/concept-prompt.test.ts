import { describe, expect, it } from "vitest";
import {
  conceptSystemSegments,
  conversationTurns,
  mentionSegments,
  parseSlotName,
  slotName,
} from "../../../trainer/personalize/concept-prompt";
import { SeededRandom } from "../../../trainer/personalize/random";
import { flipHorizontal, recognitionExamples } from "../../../trainer/personalize/recognition-data";
import { CONVERSATION_QUESTIONS, RECOGNITION_QUESTIONS } from "../../../trainer/personalize/templates";
import { photo } from "./fixture";

describe("concept prompts", () => {
  it("introduces every concept in the system turn: <bo> is <bo:1>...<bo:k>.", () => {
    expect(
      conceptSystemSegments([
        { name: "<bo>", k: 16 },
        { name: "<mochi>", k: 2 },
      ]),
    ).toEqual([
      { type: "concept", concept: "<bo>", rows: 1 },
      { type: "text", text: " is " },
      { type: "concept", concept: "<bo>#latent", rows: 16 },
      { type: "text", text: "." },
      { type: "text", text: " " },
      { type: "concept", concept: "<mochi>", rows: 1 },
      { type: "text", text: " is " },
      { type: "concept", concept: "<mochi>#latent", rows: 2 },
      { type: "text", text: "." },
    ]);
    expect(parseSlotName(slotName("<bo>", "latent"))).toEqual({ name: "<bo>", part: "latent" });
  });

  it("k = 0: no sentence for that concept (nothing to say), and no system turn when it is alone", () => {
    expect(conceptSystemSegments([{ name: "<bo>", k: 0 }])).toEqual([]);
    expect(
      conceptSystemSegments([
        { name: "<bo>", k: 0 },
        { name: "<mochi>", k: 1 },
      ]),
    ).toEqual([
      { type: "concept", concept: "<mochi>", rows: 1 },
      { type: "text", text: " is " },
      { type: "concept", concept: "<mochi>#latent", rows: 1 },
      { type: "text", text: "." },
    ]);
    const turns = conversationTurns({ concepts: [{ name: "<bo>", k: 0 }], images: 0, question: [] });
    expect(turns.map((t) => t.role)).toEqual(["user"]);
  });

  it("turns only known mentions into slots", () => {
    expect(mentionSegments("Are <bo> and <mochi> with <unknown>?", new Set(["<bo>", "<mochi>"]))).toEqual([
      { type: "text", text: "Are " },
      { type: "concept", concept: "<bo>", rows: 1 },
      { type: "text", text: " and " },
      { type: "concept", concept: "<mochi>", rows: 1 },
      { type: "text", text: " with <unknown>?" },
    ]);
  });

  it("puts images before the question and the answer in the assistant turn", () => {
    const turns = conversationTurns({
      concepts: [{ name: "<bo>", k: 1 }],
      images: 1,
      question: [{ type: "text", text: "Q" }],
      answer: [{ type: "text", text: "A" }],
    });
    expect(turns.map((t) => t.role)).toEqual(["system", "user", "assistant"]);
    expect(turns[1]!.segments[0]).toEqual({ type: "image" });
  });

  it("has ~30 recognition templates and 10 conversation questions per kind", () => {
    expect(RECOGNITION_QUESTIONS.length).toBe(30);
    expect(CONVERSATION_QUESTIONS.person).toHaveLength(10);
    expect(CONVERSATION_QUESTIONS.subject).toHaveLength(10);
  });
});

describe("recognition data", () => {
  it("adds flips and repeats positives to half the negatives", () => {
    const image = photo(1);
    const flipped = flipHorizontal(image);
    expect(flipped.data[0]).toBe(image.data[(image.width - 1) * 3]);
    expect(flipHorizontal(flipped).data).toEqual(image.data);
    const specs = recognitionExamples(
      "<bo>",
      4,
      {
        positives: [photo(1), photo(2)],
        hardNegatives: [photo(3), photo(4), photo(5)],
        easyNegatives: Array.from({ length: 7 }, (_, i) => photo(10 + i)),
      },
      new SeededRandom(0),
      { flip: true },
    );
    expect(specs.filter((s) => s.label === "yes")).toHaveLength(5);
    expect(specs.filter((s) => s.label === "no")).toHaveLength(10);
  });
});
