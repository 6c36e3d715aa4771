// The toy models' tokenizer: the world's language is small and closed, so every word the generators can
// say gets its own id (a WordPiece model whose vocabulary is whole words, plus single characters and
// "##"-continuations so that any other word still spells out instead of collapsing to <unk>). The
// @huggingface/tokenizers JS port has no WordLevel model, WordPiece behaves the same on in-vocabulary
// words and loads in both it and transformers. Whitespace pre-tokenization makes spacing irrelevant:
// "USER: <image>\nQ" and "USER:<image> Q" give the same ids.

import { RECOGNITION_QUESTIONS } from "../concept-records";
import { CONCEPTS, conceptFactRecords, instructionRecords, vqaItems } from "../index";
import { captionRecords } from "../records";
import { recognitionQuestions } from "./recognition-data";

export const SPECIAL_TOKENS = {
  unk: "<unk>",
  bos: "<s>",
  pad: "<pad>",
  // Not id 2: CLIP configs with eos_token_id 2 make transformers pool at the argmax id (pre-#24773 rule).
  eos: "</s>",
  image: "<image>",
} as const;

/** Ids of the specials, fixed so configs can name them without reading the vocabulary. */
export const TOKEN_IDS = { unk: 0, bos: 1, pad: 2, eos: 3, image: 4 } as const;

/**
 * LLaVA-1.5-style turns with an optional system line first (concept prompts go in the system turn).
 * Message content may be a string or typed parts. The image goes *after* the question:
 * "USER: {question}\n<image> ASSISTANT:". A tiny decoder trained from scratch then reads the picture
 * with the question already in context, and the answer position sits at a fixed distance from every
 * image token (RoPE is relative), which is what let it ground answers in the image at all; with the
 * image first (LLaVA's order) it learned the language prior and ignored the picture. A string starting
 * with "<image>\n" (LLaVA data's convention) is rendered in the same order.
 * Each assistant turn ends with </s>, which is what the model learns to stop on.
 */
export const CHAT_TEMPLATE =
  "{% for message in messages %}" +
  "{% if message['content'] is string %}{% set text = message['content'] %}" +
  "{% if text.startswith('<image>\n') %}{% set text = text[8:] + '\n<image>' %}{% endif %}" +
  "{% else %}{% set parts = namespace(text='', images='') %}" +
  "{% for part in message['content'] %}{% if part['type'] == 'image' %}{% set parts.images = parts.images + '\n<image>' %}" +
  "{% elif part['type'] == 'text' %}{% set parts.text = parts.text + part['text'] %}{% endif %}{% endfor %}" +
  "{% set text = parts.text + parts.images %}{% endif %}" +
  "{% if message['role'] == 'system' %}{{ text + '\n' }}" +
  "{% elif message['role'] == 'user' %}{{ 'USER: ' + text + ' ' }}" +
  "{% else %}{{ 'ASSISTANT: ' + text + eos_token + ' ' }}{% endif %}" +
  "{% endfor %}" +
  "{% if add_generation_prompt %}{{ 'ASSISTANT:' }}{% endif %}";

/** The pre-tokenizer's split (HF `Whitespace`: \w+|[^\w\s]+). */
export function pieces(text: string): string[] {
  return text.match(/\w+|[^\w\s]+/g) ?? [];
}

/** Every text the toy generators produce for a sample of training seeds, plus the template's own words. */
function corpus(): string[] {
  const texts: string[] = ["USER: ASSISTANT: Yes No yes no"];
  for (const r of instructionRecords("train", 0, 6000)) for (const t of r.conversations) texts.push(t.value);
  for (const r of captionRecords("train", 0, 3000)) texts.push(r.caption, r.conversations[0]!.value);
  for (const v of vqaItems("train", 0, 3000)) texts.push(v.prompt, v.answer);
  for (const r of conceptFactRecords()) for (const t of r.conversations) texts.push(t.value);
  for (const q of RECOGNITION_QUESTIONS)
    texts.push(q, "Yes, {name} is in this photo.", "No, {name} is not in this photo.");
  for (const c of CONCEPTS) texts.push(c.name);
  texts.push(...recognitionQuestions());
  return texts;
}

export interface ToyTokenizerFiles {
  tokenizerJson: Record<string, unknown>;
  tokenizerConfig: Record<string, unknown>;
  vocabSize: number;
}

export function buildToyTokenizer(): ToyTokenizerFiles {
  const words = new Set<string>();
  for (const text of corpus()) for (const p of pieces(text)) words.add(p);
  const chars = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789".split("");
  const punctuation = ".,;:!?'\"-()<>/&%+=*#@_[]{}".split("");
  for (const c of [...chars, ...punctuation]) words.add(c);
  const specials = [
    SPECIAL_TOKENS.unk,
    SPECIAL_TOKENS.bos,
    SPECIAL_TOKENS.pad,
    SPECIAL_TOKENS.eos,
    SPECIAL_TOKENS.image,
  ];
  const vocab: Record<string, number> = {};
  specials.forEach((t, i) => {
    vocab[t] = i;
  });
  const sorted = [...words].filter((w) => !(w in vocab)).sort();
  for (const w of sorted) vocab[w] = Object.keys(vocab).length;
  for (const c of chars) vocab[`##${c}`] = Object.keys(vocab).length;
  const addedTokens = specials.map((content, id) => ({
    id,
    content,
    single_word: false,
    lstrip: false,
    rstrip: false,
    normalized: false,
    special: true,
  }));
  const tokenizerJson = {
    version: "1.0",
    truncation: null,
    padding: null,
    added_tokens: addedTokens,
    normalizer: null,
    pre_tokenizer: { type: "Whitespace" },
    post_processor: {
      type: "TemplateProcessing",
      single: [
        { SpecialToken: { id: SPECIAL_TOKENS.bos, type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
      ],
      pair: [
        { SpecialToken: { id: SPECIAL_TOKENS.bos, type_id: 0 } },
        { Sequence: { id: "A", type_id: 0 } },
        { Sequence: { id: "B", type_id: 1 } },
      ],
      special_tokens: {
        [SPECIAL_TOKENS.bos]: { id: SPECIAL_TOKENS.bos, ids: [TOKEN_IDS.bos], tokens: [SPECIAL_TOKENS.bos] },
      },
    },
    decoder: { type: "WordPiece", prefix: "##", cleanup: true },
    model: {
      type: "WordPiece",
      unk_token: SPECIAL_TOKENS.unk,
      continuing_subword_prefix: "##",
      max_input_chars_per_word: 100,
      vocab,
    },
  };
  const tokenizerConfig = {
    tokenizer_class: "PreTrainedTokenizerFast",
    bos_token: SPECIAL_TOKENS.bos,
    eos_token: SPECIAL_TOKENS.eos,
    unk_token: SPECIAL_TOKENS.unk,
    pad_token: SPECIAL_TOKENS.pad,
    additional_special_tokens: [SPECIAL_TOKENS.image],
    add_bos_token: true,
    add_eos_token: false,
    clean_up_tokenization_spaces: true,
    model_max_length: 256,
    padding_side: "right",
    chat_template: CHAT_TEMPLATE,
  };
  return { tokenizerJson, tokenizerConfig, vocabSize: Object.keys(vocab).length };
}
