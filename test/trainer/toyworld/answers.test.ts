import { describe, expect, it } from "vitest";
import { normalizeAnswer, scoreAnswer } from "../../../trainer/toyworld/language/answers";

describe("normalizeAnswer", () => {
  it.each([
    ["Red.", "red"],
    ["It is grey", "gray"],
    ["The upper-left corner", "top-left"],
    ["lower right", "bottom-right"],
    ["in the middle", "center"],
    ["top centre", "top"],
    ["center left", "left"],
    ["Three", "3"],
    ["It's a STAR!", "star"],
    ["stars", "star"],
    ["polka dots", "polka dotted"],
    ["Stripes", "striped"],
  ])("%s -> %s", (input, expected) => {
    expect(normalizeAnswer(input)).toBe(expected);
  });
});

describe("scoreAnswer", () => {
  it("accepts paraphrases naming the right canonical term", () => {
    expect(scoreAnswer("The object is red.", "red", "colour")).toBe(true);
    expect(scoreAnswer("There are three red objects", "3", "count")).toBe(true);
    expect(scoreAnswer("It sits in the upper left", "top-left", "position")).toBe(true);
    expect(scoreAnswer("checkerboard", "checkered", "pattern")).toBe(true);
    expect(scoreAnswer("a white dot", "dot", "mark")).toBe(true);
    expect(scoreAnswer("It has no markings.", "none", "mark")).toBe(true);
    expect(scoreAnswer("Yes, it is.", "yes", "yesno")).toBe(true);
  });

  it("rejects wrong, hedged and empty answers", () => {
    expect(scoreAnswer("blue", "red", "colour")).toBe(false);
    expect(scoreAnswer("red or blue", "red", "colour")).toBe(false);
    expect(scoreAnswer("top", "top-left", "position")).toBe(false);
    expect(scoreAnswer("2 or 3", "3", "count")).toBe(false);
    expect(scoreAnswer("", "circle", "shape")).toBe(false);
    expect(scoreAnswer("a white dot", "none", "mark")).toBe(false);
  });
});
