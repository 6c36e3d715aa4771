/**
 * Recognition: P(yes) per batch image by scoring the candidate answers ("yes", "no") as the first answer
 * token after the rendered prompt. Prompts of concurrent requests for the same concept and candidates are
 * micro-batched into one left-padded scoring pass. Candidates whose first tokens coincide (character-level
 * vocabularies) are scored as whole sequences instead, one image at a time.
 */
import type { PromptPlan } from "../../shared/prompt-plan";
import { scoreNextTokenBatch, scoreSequences } from "../generate/index";
import type { ChatDeps } from "./chat";
import { ServeError } from "./errors";
import { MAX_RECOGNIZE_BATCH_PROMPTS, RECOGNIZE_BATCH_WINDOW_MS } from "./limits";
import { MicroBatcher } from "./micro-batcher";
import { planPrompt } from "./plan-prompt";

export interface RecognizeResult {
  results: { p_yes: number }[];
}

export class Recognizer {
  readonly batcher: MicroBatcher<Float32Array, number>;

  constructor(private readonly deps: ChatDeps) {
    this.batcher = new MicroBatcher(
      async (key, prompts) => {
        const candidates = key.split("|")[1]!.split(",").map(Number);
        const scores = await scoreNextTokenBatch(deps.model.decoder, prompts, candidates);
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
      const conceptKey = plan.turns
        .flatMap((t) =>
          t.segments.flatMap((s) => (s.type === "concept" ? [`${s.concept}@${s.version}`] : [])),
        )
        .join(",");
      const probs = await this.batcher.submit(
        `${conceptKey}|${firsts.join(",")}`,
        prompts.map((p) => p.embeds),
      );
      return { results: probs.map((p) => ({ p_yes: p })) };
    }
    const results: { p_yes: number }[] = [];
    for (const prompt of prompts) {
      const scores = await scoreSequences(model.decoder, model.embeddings, prompt.embeds, candidateIds);
      results.push({ p_yes: scores.probs[0]! });
    }
    return { results };
  }
}
