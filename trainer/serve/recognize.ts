/**
 * Recognition: P(yes) per batch image by scoring the candidate answers ("Yes", "No") as the first answer
 * token after the rendered prompt. The concept introduction is a shared prefix: prefilled once per concept
 * version (prefix KV-cache) and broadcast to the rows. Prompts of concurrent requests for the same concept
 * prefix and candidates are micro-batched into one scoring pass. Candidates whose first tokens coincide
 * (character-level vocabularies) are scored as whole sequences instead, one image at a time.
 */
import type { PromptPlan } from "../../shared/prompt-plan";
import { scoreNextTokenBatch, scoreSequences } from "../generate/index";
import type { ChatDeps } from "./chat";
import { ServeError } from "./errors";
import { MAX_RECOGNIZE_BATCH_PROMPTS, RECOGNIZE_BATCH_WINDOW_MS } from "./limits";
import { MicroBatcher } from "./micro-batcher";
import { type PlanPrompt, planPrompt } from "./plan-prompt";

export interface RecognizeResult {
  results: { p_yes: number }[];
}

/** One image's prompt, split at the shared prefix (same prefix for every item under one batch key). */
interface ScoringItem {
  suffix: Float32Array;
  prefix: { embeds: Float32Array; key: string; concepts: string[] } | undefined;
  candidates: number[];
}

function split(prompt: PlanPrompt, hidden: number, candidates: number[]): ScoringItem {
  if (!prompt.prefix) return { suffix: prompt.embeds, prefix: undefined, candidates };
  const at = prompt.prefix.length * hidden;
  return {
    suffix: prompt.embeds.subarray(at),
    prefix: {
      embeds: prompt.embeds.subarray(0, at),
      key: prompt.prefix.key,
      concepts: prompt.prefix.concepts,
    },
    candidates,
  };
}

export class Recognizer {
  readonly batcher: MicroBatcher<ScoringItem, number>;

  constructor(private readonly deps: ChatDeps) {
    const { model, prefixes } = deps;
    this.batcher = new MicroBatcher(
      async (_key, items) => {
        const first = items[0]!;
        const view = first.prefix ? prefixes.view(model.id, first.prefix.key) : undefined;
        const scores = await scoreNextTokenBatch(
          model.decoder,
          items.map((item) => item.suffix),
          first.candidates,
          first.prefix && view
            ? { embeds: first.prefix.embeds, key: first.prefix.key, prefixCache: view }
            : undefined,
        );
        if (first.prefix && view) prefixes.adopt(view, model.id, first.prefix.key, first.prefix.concepts);
        return scores.map((s) => s.probs[0]!);
      },
      RECOGNIZE_BATCH_WINDOW_MS,
      MAX_RECOGNIZE_BATCH_PROMPTS,
    );
  }

  async recognize(plan: PromptPlan): Promise<RecognizeResult> {
    const task = plan.task;
    if (task.kind !== "recognize") throw new ServeError("invalid_request", "not a recognize plan");
    const { model } = this.deps;
    const candidateIds = task.candidates.map((c) => model.tokenizer.encodeUntrusted(c));
    if (candidateIds.some((ids) => ids.length === 0))
      throw new ServeError("invalid_request", "empty candidate");
    const prompts = await Promise.all(
      task.batch.map((image) => planPrompt(model, this.deps.concepts, plan, image)),
    );
    const firsts = candidateIds.map((ids) => ids[0]!);
    if (new Set(firsts).size === firsts.length) {
      const items = prompts.map((p) => split(p, model.hiddenSize, firsts));
      // Items of one key share the prefix; a plan without one (no concept) batches with its own kind.
      const byKey = new Map<string, ScoringItem[]>();
      for (const item of items) {
        const key = `${item.prefix?.key ?? "none"}|${firsts.join(",")}`;
        byKey.set(key, [...(byKey.get(key) ?? []), item]);
      }
      const scored = new Map<ScoringItem, number>();
      await Promise.all(
        [...byKey].map(async ([key, group]) => {
          const probs = await this.batcher.submit(key, group);
          group.forEach((item, i) => {
            scored.set(item, probs[i]!);
          });
        }),
      );
      return { results: items.map((item) => ({ p_yes: scored.get(item)! })) };
    }
    const results: { p_yes: number }[] = [];
    for (const prompt of prompts) {
      const scores = await scoreSequences(model.decoder, model.embeddings, prompt.embeds, candidateIds);
      results.push({ p_yes: scores.probs[0]! });
    }
    return { results };
  }
}
