// Text-only questions about the world itself. LLaVA mixes language-only data into instruction tuning so
// the model keeps answering without an image; here that text teaches the vocabulary the images use.

import type { QA } from "./qa";

export const WORLD_FACTS: readonly QA[] = [
  { question: "How many points does a star have?", answer: "A star has five points." },
  { question: "Which shape has a hole in the middle?", answer: "A ring has a hole in the middle." },
  { question: "How many sides does a hexagon have?", answer: "A hexagon has six sides." },
  { question: "How many corners does a triangle have?", answer: "A triangle has three corners." },
  {
    question: "What is the difference between a square and a diamond?",
    answer: "A diamond is a square standing on one corner, taller than it is wide.",
  },
  { question: "Which shape looks like a plus sign?", answer: "A cross looks like a plus sign." },
  { question: "Which shape looks like a thin slice of the moon?", answer: "A crescent." },
  {
    question: "What does a striped object look like?",
    answer: "It is covered in diagonal stripes of a lighter or darker shade of its colour.",
  },
  {
    question: "What does a dotted object look like?",
    answer: "It has small round dots of a lighter or darker shade of its colour.",
  },
  {
    question: "What is a checkered pattern?",
    answer: "Squares of two shades alternating like a chessboard.",
  },
  {
    question: "What does a gradient object look like?",
    answer: "It is light at the top and gets darker towards the bottom.",
  },
  {
    question: "What marks can an object carry?",
    answer: "A dot in the middle, a band across the middle, an outline, or a cap on top.",
  },
  {
    question: "What colour is a mark on a dark object?",
    answer: "Marks on dark objects are white; marks on light objects are black.",
  },
  { question: "Which colours are close to red?", answer: "Orange, pink and brown are close to red." },
  { question: "Which colour lies between green and blue?", answer: "Teal lies between green and blue." },
  {
    question: "How is the picture divided into positions?",
    answer:
      "Into a 3x3 grid: top-left, top, top-right, left, center, right, bottom-left, bottom and bottom-right.",
  },
];
