// The question-answer pair type shared by conversations, reasoning and VQA.

export interface QA {
  question: string;
  answer: string;
}
