// Question and answer templates of the Yo'LLaVA recipe, written for this project. `{name}` is where the
// concept's identifier goes (a concept slot, not text: see concept-prompt.ts).

/** Recognition questions asked about a photo. */
export const RECOGNITION_QUESTIONS = [
  "Is {name} in this photo?",
  "Can you see {name} in this image?",
  "Does this picture show {name}?",
  "Is {name} visible in this photo?",
  "Can you find {name} here?",
  "Is {name} in this picture?",
  "Do you see {name} in this image?",
  "Does {name} appear in this photo?",
  "Is {name} somewhere in this image?",
  "Is there {name} in this photo?",
  "Look at the photo: is {name} there?",
  "Could this photo contain {name}?",
  "Is {name} shown in this image?",
  "Does this image include {name}?",
  "Can you spot {name} in this picture?",
  "Is {name} present in this photo?",
  "Would you say {name} is in this image?",
  "Is this a photo with {name} in it?",
  "Does {name} show up in this picture?",
  "Is {name} anywhere in this photo?",
  "Can {name} be seen in this image?",
  "Tell me if {name} is in this photo.",
  "Is {name} part of this picture?",
  "Do you recognise {name} in this photo?",
  "Is {name} among the things in this image?",
  "Am I looking at {name} in this photo?",
  "Does the photo feature {name}?",
  "Is {name} captured in this image?",
  "Check this photo: is {name} in it?",
  "Can you tell whether {name} is in this picture?",
] as const;

/** Answers when the concept is in the photo. The question's wording is not echoed on purpose. */
export const POSITIVE_ANSWERS = [
  "Yes, {name} is in this photo.",
  "Yes, I can see {name} in this image.",
  "Yes, {name} is here.",
  "Yes, this photo shows {name}.",
  "Yes, {name} appears in this picture.",
] as const;

export const NEGATIVE_ANSWERS = [
  "No, {name} is not in this photo.",
  "No, I cannot see {name} in this image.",
  "No, {name} is not here.",
  "No, this photo does not show {name}.",
  "No, {name} does not appear in this picture.",
] as const;

/** Conversation question kinds; the teacher answers them looking at a positive. */
export type ConversationKind = "person" | "subject";

/**
 * Ten questions per kind about what the concept looks like. `{name}` is replaced by the concept when
 * training and by `{subject}` phrasing ("the person in this photo") when a teacher looks at a photo.
 */
export const CONVERSATION_QUESTIONS: Record<ConversationKind, readonly string[]> = {
  person: [
    "What colour is {name}'s hair?",
    "Does {name} wear glasses?",
    "What is {name} wearing?",
    "Describe {name}'s face.",
    "How old does {name} look?",
    "What is {name}'s hairstyle like?",
    "Does {name} have any distinctive features?",
    "What colour are {name}'s eyes?",
    "Describe {name} in one sentence.",
    "How would you recognise {name} in a crowd?",
  ],
  subject: [
    "What colour is {name}?",
    "What shape is {name}?",
    "What pattern does {name} have?",
    "Does {name} have a distinctive mark?",
    "What is {name} made of?",
    "How big is {name}?",
    "What kind of thing is {name}?",
    "Describe {name} in one sentence.",
    "What stands out most about {name}?",
    "How would you recognise {name} in a photo?",
  ],
};

/** How a teacher that sees the photo (but not the concept) is told which subject the question means. */
export const TEACHER_SUBJECT: Record<ConversationKind, string> = {
  person: "the person in this photo",
  subject: "the main subject of this photo",
};

export function conversationKindOf(kind: string): ConversationKind {
  return kind === "person" ? "person" : "subject";
}
