/**
 * Chat on a prompt plan: KV-cached generation with the concept prefix cache, as an OpenAI-style
 * chat.completion, or as chat.completion.chunk events for SSE (the caller writes them).
 */
import type { PromptPlan } from "../../shared/prompt-plan";
import { type GenerateResult, generate } from "../generate/index";
import type { BaseModel } from "./base-model";
import type { ConceptRowsCache } from "./concept-rows";
import { type PlanPrompt, planPrompt } from "./plan-prompt";
import type { ConceptPrefixStore } from "./prefix-store";

export interface ChatDeps {
  model: BaseModel;
  concepts: ConceptRowsCache;
  prefixes: ConceptPrefixStore;
}

export interface ChatChunk {
  id: string;
  object: "chat.completion.chunk";
  created: number;
  model: string;
  choices: { index: 0; delta: { role?: "assistant"; content?: string }; finish_reason: string | null }[];
}

export interface ChatCompletion {
  id: string;
  object: "chat.completion";
  created: number;
  model: string;
  choices: { index: 0; message: { role: "assistant"; content: string }; finish_reason: string }[];
  usage: { prompt_tokens: number; completion_tokens: number; total_tokens: number };
}

/** OpenAI's finish reasons: "stop" for a stop token or string, "length" at max_tokens. */
function finishReason(result: GenerateResult): string {
  return result.finishReason === "max_tokens"
    ? "length"
    : result.finishReason === "aborted"
      ? "stop"
      : "stop";
}

/** Generates for the plan; `onDelta` receives text as it becomes final (streaming). */
export async function runChat(
  deps: ChatDeps,
  plan: PromptPlan,
  options: { signal?: AbortSignal; onDelta?: (text: string) => void; prompt?: PlanPrompt } = {},
): Promise<{ result: GenerateResult; text: string; promptTokens: number }> {
  const { model } = deps;
  // Streaming callers render first, so a bad plan is an HTTP error, not a broken stream.
  const prompt = options.prompt ?? (await planPrompt(model, deps.concepts, plan));
  const view = prompt.prefix ? deps.prefixes.view(model.id, prompt.prefix.key) : undefined;
  const tok = model.tokenizer;
  const o = plan.options;
  const result = await generate(
    { decoder: model.decoder, embeddings: model.embeddings, ...(view ? { prefixCache: view } : {}) },
    {
      prompt: prompt.embeds,
      ...(prompt.prefix ? { prefix: { length: prompt.prefix.length, key: prompt.prefix.key } } : {}),
      // The position table ends at max_position_embeddings: the answer stops there at the latest.
      maxNewTokens: Math.min(o.max_tokens, model.textConfig.maxPositionEmbeddings - prompt.ids.length),
      sampling: { temperature: o.temperature, topK: o.top_k, topP: o.top_p, seed: 0 },
      // The mentioned concepts' names are extra output classes (Yo'LLaVA's answers say "<bo>").
      extraClasses: prompt.extraClasses,
      stopTokenIds: tok.eosId === undefined ? [] : [tok.eosId],
      stopStrings: o.stop,
      decode: (ids) => tok.decode(ids, { skipSpecialTokens: true }),
      ...(options.onDelta
        ? {
            onToken: (event: { textDelta: string }) => {
              if (event.textDelta) options.onDelta?.(event.textDelta);
            },
          }
        : {}),
      ...(options.signal ? { signal: options.signal } : {}),
    },
  );
  if (view && prompt.prefix) deps.prefixes.adopt(view, model.id, prompt.prefix.key, prompt.prefix.concepts);
  return { result, text: result.text ?? "", promptTokens: prompt.ids.length };
}

export function chatCompletion(plan: PromptPlan, run: Awaited<ReturnType<typeof runChat>>): ChatCompletion {
  const completion = run.result.tokenIds.length;
  return {
    id: `chatcmpl-${plan.request_id}`,
    object: "chat.completion",
    created: Math.floor(Date.now() / 1000),
    model: plan.base_model,
    choices: [
      {
        index: 0,
        message: { role: "assistant", content: run.text },
        finish_reason: finishReason(run.result),
      },
    ],
    usage: {
      prompt_tokens: run.promptTokens,
      completion_tokens: completion,
      total_tokens: run.promptTokens + completion,
    },
  };
}

export function chatChunk(
  plan: PromptPlan,
  delta: ChatChunk["choices"][0]["delta"],
  finish: string | null,
): ChatChunk {
  return {
    id: `chatcmpl-${plan.request_id}`,
    object: "chat.completion.chunk",
    created: Math.floor(Date.now() / 1000),
    model: plan.base_model,
    choices: [{ index: 0, delta, finish_reason: finish }],
  };
}

export { finishReason };
