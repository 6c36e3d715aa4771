// Teachers answer the conversation questions about the user's photos: (a) the frozen base model itself,
// looking at each positive (offline, the default); (b) a vision model behind Hugging Face Inference
// Providers when a token is configured; (c) facts the user wrote. A teacher sees the photo, not the
// concept, so the question names "the main subject of this photo" and the answer is rewritten to name
// the concept.

import { InferenceClient } from "@huggingface/inference";
import sharp from "sharp";
import { CachedDecoder } from "../generate/decoder";
import { assembleEmbeddings } from "../generate/embeddings";
import { generate } from "../generate/generate";
import type { RgbImage } from "../vision/image";
import type { ConceptModel } from "./concept-model";
import { conversationTurns } from "./concept-prompt";
import type { ConceptQA } from "./conversation-data";
import { CONCEPT_DEFAULTS } from "./defaults";
import { ConceptTrainingError, throwIfCancelled } from "./errors";
import { CONVERSATION_QUESTIONS, type ConversationKind, TEACHER_SUBJECT } from "./templates";

export interface TeacherRequest {
  image: RgbImage;
  /** The question about `subject`, e.g. "What colour is the main subject of this photo?". */
  question: string;
  subject: string;
}

export interface ConversationTeacher {
  readonly name: string;
  answer(request: TeacherRequest, signal?: AbortSignal): Promise<string>;
}

/** The teacher's answer with its references to the subject replaced by the concept's name. */
export function nameTheSubject(answer: string, subject: string, name: string): string {
  let text = answer.trim().split("\n")[0]!.trim();
  const escaped = subject.replace(/[.*+?^${}()|[\]\\]/g, "\\$&");
  text = text.replace(new RegExp(escaped, "gi"), name);
  // "The main subject ...", "This object ...", "It ..." at the start become the name.
  text = text.replace(/^(the|this) (main )?(subject|object|pet|person|thing|item)\b/i, name);
  text = text.replace(/^it\b/i, name);
  return text;
}

/** Asks `teacher` every question of `kind` once, cycling over the photos. */
export async function teacherConversations(
  teacher: ConversationTeacher,
  name: string,
  kind: ConversationKind,
  photos: readonly RgbImage[],
  signal?: AbortSignal,
): Promise<ConceptQA[]> {
  const subject = TEACHER_SUBJECT[kind];
  const pairs: ConceptQA[] = [];
  const questions = CONVERSATION_QUESTIONS[kind];
  for (let i = 0; i < questions.length; i++) {
    throwIfCancelled(signal);
    const template = questions[i]!;
    const question = template.replaceAll("{name}", subject).replace(/^./, (ch) => ch.toUpperCase());
    let answer: string;
    try {
      answer = await teacher.answer({ image: photos[i % photos.length]!, question, subject }, signal);
    } catch (e) {
      if (e instanceof ConceptTrainingError) throw e;
      throw new ConceptTrainingError("teacher_failed", `teacher ${teacher.name}: ${(e as Error).message}`);
    }
    const named = nameTheSubject(answer, subject, name);
    if (named.length > 0) pairs.push({ question: template, answer: named });
  }
  return pairs;
}

/** Compiled decoders of the self-teacher, one per base model: every SelfTeacher of a model shares it (the
 * answer-style probe builds one per concept). */
const selfDecoders = new WeakMap<ConceptModel, CachedDecoder>();

/** (a) The frozen base model, greedy, one image and one question per answer. */
export class SelfTeacher implements ConversationTeacher {
  readonly name = "self";

  constructor(
    private readonly model: ConceptModel,
    private readonly maxTokens: number = CONCEPT_DEFAULTS.teacherMaxTokens,
  ) {}

  async answer(request: TeacherRequest, signal?: AbortSignal): Promise<string> {
    const m = this.model;
    let decoder = m.decoder ?? selfDecoders.get(m);
    if (!decoder) {
      decoder = CachedDecoder.build(
        m.textConfig,
        m.weights ? { binding: m.weights.binding } : m.textWeights,
        {
          runtime: m.runtime,
          modelId: `${m.fingerprint.repo}@${m.fingerprint.revision}`,
          ...(m.weights?.directory ? { directory: m.weights.directory } : {}),
        },
      );
      selfDecoders.set(m, decoder);
    }
    const prepared = await m.prepareImage(request.image);
    const rendered = m.render(
      conversationTurns({ concepts: [], images: 1, question: [{ type: "text", text: request.question }] }),
      { addGenerationPrompt: true, imageExpansions: [prepared.expansion] },
    );
    const h = m.textConfig.hiddenSize;
    const positions = rendered.images[0]!.positions;
    const prompt = await assembleEmbeddings(
      rendered.ids.map((id, t) => (positions.includes(t) ? 0 : id)),
      m.embeddings,
    );
    positions.forEach((pos, r) => {
      prompt.set(prepared.features.subarray(r * h, (r + 1) * h), pos * h);
    });
    const result = await generate(
      { decoder, embeddings: m.embeddings },
      {
        prompt,
        maxNewTokens: this.maxTokens,
        stopTokenIds: m.stopTokenIds,
        stopStrings: ["\n"],
        decode: (ids) => m.decode(ids),
        signal,
      },
    );
    return result.text ?? m.decode(result.tokenIds);
  }
}

export interface HfTeacherOptions {
  /** HF token (Inference Providers). */
  token?: string;
  /** A vision-language chat model, e.g. "Qwen/Qwen2.5-VL-7B-Instruct". */
  model: string;
  /** An OpenAI-compatible endpoint instead of the providers' router (local servers, tests). */
  endpointUrl?: string;
  maxTokens?: number;
}

/** (b) A vision model behind Hugging Face Inference Providers (chat completion with the photo inline). */
export class HfInferenceTeacher implements ConversationTeacher {
  readonly name = "hf-inference";
  private readonly client: InferenceClient;

  constructor(private readonly options: HfTeacherOptions) {
    this.client = new InferenceClient(
      options.token,
      options.endpointUrl ? { endpointUrl: options.endpointUrl } : {},
    );
  }

  async answer(request: TeacherRequest, signal?: AbortSignal): Promise<string> {
    const { width, height, data } = request.image;
    const png = await sharp(Buffer.from(data), { raw: { width, height, channels: 3 } })
      .png()
      .toBuffer();
    const out = await this.client.chatCompletion(
      {
        model: this.options.model,
        max_tokens: this.options.maxTokens ?? 96,
        temperature: 0,
        messages: [
          {
            role: "user",
            content: [
              { type: "image_url", image_url: { url: `data:image/png;base64,${png.toString("base64")}` } },
              { type: "text", text: `${request.question} Answer in one short sentence.` },
            ],
          },
        ],
      },
      { signal },
    );
    const content = out.choices[0]?.message?.content;
    if (typeof content !== "string" || content.trim().length === 0) {
      throw new Error("empty answer");
    }
    return content;
  }
}

/** (c) Facts the user wrote: used as given (questions may use `{name}`, answers `<name>` or `{name}`). */
export function factConversations(facts: readonly ConceptQA[]): ConceptQA[] {
  return facts.map((f) => ({ question: f.question, answer: f.answer }));
}

/** The default vision-language model asked through Inference Providers when a token is configured. */
export const DEFAULT_HF_TEACHER_MODEL = "Qwen/Qwen2.5-VL-7B-Instruct";

/**
 * (b) when HF_TOKEN is set (model from YO_TEACHER_MODEL, optional YO_TEACHER_ENDPOINT), else (a) the frozen
 * model itself.
 */
export function teacherFromEnvironment(
  model: ConceptModel,
  env: Record<string, string | undefined> = process.env,
): ConversationTeacher {
  const token = env.HF_TOKEN;
  if (!token) return new SelfTeacher(model);
  return new HfInferenceTeacher({
    token,
    model: env.YO_TEACHER_MODEL ?? DEFAULT_HF_TEACHER_MODEL,
    endpointUrl: env.YO_TEACHER_ENDPOINT,
  });
}
