// Concepts as output classes and k = 0 concepts through the trainer node (tiny LLaVA fixture): a concept
// whose identifier output row wins is written as its name in JSON and SSE answers (one completion token);
// a k = 0 artifact serves chat and recognition with the prompt training uses.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { PromptPlan } from "../../../shared/prompt-plan";
import { decodeWithExtraClasses } from "../../../trainer/generate/generate";
import { argmax } from "../../../trainer/generate/sampling";
import { conversationTurns, identifierSegment } from "../../../trainer/personalize/concept-prompt";
import { runChat } from "../../../trainer/serve/chat";
import { planPrompt } from "../../../trainer/serve/plan-prompt";
import { renderPrompt } from "../../../trainer/text/prompt";
import { artifact, chatPlan, type NodeUnderTest, recognizePlan, sseData, startNode, toyPng } from "./fixture";

let t: NodeUnderTest;
beforeAll(async () => {
  t = await startNode();
});
afterAll(async () => {
  await t.node.shutdown();
});

/** chatPlan with the concept's artifact replaced. */
function withArtifact(plan: PromptPlan, base64: string): PromptPlan {
  return {
    ...plan,
    turns: plan.turns.map((turn) => ({
      ...turn,
      segments: turn.segments.map((s) => (s.type === "concept" ? { ...s, artifact: base64 } : s)),
    })),
  };
}

/**
 * An identifier output row that wins the first answer token of `plan` by a margin. The probe renders the
 * plan under another concept id (decoded rows are cached per id and version); the output row is no input,
 * so the prompt's embeddings are the same.
 */
async function winningOutput(plan: PromptPlan): Promise<Float32Array> {
  const { model, concepts } = t.node.loaded!;
  const probe: PromptPlan = {
    ...plan,
    turns: plan.turns.map((turn) => ({
      ...turn,
      segments: turn.segments.map((s) =>
        s.type === "concept" ? { ...s, concept: `${s.concept}_probe` } : s,
      ),
    })),
  };
  const prompt = await planPrompt(model, concepts, probe);
  const n = prompt.ids.length;
  const { logits, hidden } = await model.decoder.stepOutputs(model.decoder.newCache(1, n), {
    embeds: prompt.embeds,
    seq: n,
    logitsAt: [n - 1],
  });
  const best = logits[argmax(logits)]!;
  const norm2 = hidden.reduce((s, x) => s + x * x, 0);
  return hidden.map((x) => (x * (best + 2)) / norm2);
}

describe("a concept's name as an answer token", () => {
  it("JSON and SSE answers say <bo>, counted as one completion token", async () => {
    const probe = chatPlan("?", {}, "con_says");
    const output = await winningOutput(probe);
    const plan = withArtifact(probe, artifact("<bo>", 1, 2, 0.01, output));
    const plain = await t.call("POST", "/v1/infer", plan);
    expect(plain.status).toBe(200);
    const completion = (await plain.json()) as {
      choices: { message: { content: string } }[];
      usage: { completion_tokens: number };
    };
    const content = completion.choices[0]!.message.content;
    expect(content.startsWith("<bo>")).toBe(true);
    // The name is one token of the 6: the rest are vocabulary characters (or further names).
    const { model, concepts } = t.node.loaded!;
    const run = await runChat({ ...t.node.loaded!, model, concepts }, plan);
    expect(run.result.tokenIds[0]).toBe(model.textConfig.vocabSize);
    expect(run.text).toBe(content);
    expect(completion.usage.completion_tokens).toBe(run.result.tokenIds.length);
    expect(run.result.tokenIds.length).toBe(6);

    const streamed = await t.call("POST", "/v1/infer", {
      ...plan,
      options: { ...plan.options, stream: true },
    });
    const events = sseData(await streamed.text());
    expect(events.at(-1)).toBe("[DONE]");
    const deltas = events
      .slice(0, -1)
      .map((e) => (JSON.parse(e) as { choices: { delta: { content?: string } }[] }).choices[0]!.delta.content)
      .filter((d): d is string => d !== undefined && d.length > 0);
    expect(deltas[0]).toBe("<bo>");
    expect(deltas.join("")).toBe(content);
  });

  it("text after the name keeps its leading space with the checkpoint's tokenizer (Llama Strip decoder)", () => {
    const { model } = t.node.loaded!;
    const tok = model.tokenizer;
    const v = model.textConfig.vocabSize;
    const decode = (ids: readonly number[]) => tok.decode(ids, { skipSpecialTokens: true });
    const bo = { text: "<bo>", output: new Float32Array(0), input: new Float32Array(0) };
    // The answer "<bo> is red." as training tokenizes it: a concept, then text in a later section.
    const after = tok.encodeUntrusted(" is red.", 1);
    expect(decode(after)).toBe("is red."); // decoded alone, the leading space is stripped
    expect(decodeWithExtraClasses([v, ...after], v, [bo], decode)).toBe("<bo> is red.");
    const before = tok.encodeUntrusted("Yes, ", 0);
    expect(decodeWithExtraClasses([...before, v, ...after], v, [bo], decode)).toBe("Yes, <bo> is red.");
  });

  it("the default small output row never wins: the answer is the vocabulary's alone", async () => {
    const { model, concepts } = t.node.loaded!;
    const run = await runChat({ ...t.node.loaded!, model, concepts }, chatPlan("?", {}, "con_quiet"));
    expect(run.result.tokenIds.every((id) => id < model.textConfig.vocabSize)).toBe(true);
    expect(run.text).not.toContain("<bo>");
  });

  it("a stop string on the name ends the answer before it", async () => {
    const probe = chatPlan("?", {}, "con_stop");
    const output = await winningOutput(probe);
    const plan = withArtifact(
      chatPlan("?", { stop: ["<bo>"] }, "con_stop"),
      artifact("<bo>", 1, 2, 0.01, output),
    );
    const res = await t.call("POST", "/v1/infer", plan);
    const completion = (await res.json()) as {
      choices: { message: { content: string }; finish_reason: string }[];
      usage: { completion_tokens: number };
    };
    expect(completion.choices[0]).toMatchObject({ message: { content: "" }, finish_reason: "stop" });
    expect(completion.usage.completion_tokens).toBe(1);
  });
});

describe("k = 0 concepts", () => {
  const k0 = (id: string) => withArtifact(chatPlan("?", {}, id), artifact("<bo>", 1, 0));

  it("the serving prompt is the training prompt: no system sentence, the identifier in the question", async () => {
    const { model, concepts } = t.node.loaded!;
    const served = await planPrompt(model, concepts, k0("con_k0"));
    expect(served.prefix).toBeUndefined();
    const trained = renderPrompt(
      model.tokenizer,
      conversationTurns({
        concepts: [{ name: "con_k0", k: 0 }],
        images: 0,
        question: [
          { type: "text", text: "What colour is " },
          identifierSegment("con_k0"),
          { type: "text", text: "?" },
        ],
      }),
      { addGenerationPrompt: true, imageToken: model.processor?.imageToken ?? "<image>" },
    );
    expect(served.ids).toEqual(trained.ids);
    expect(trained.concepts).toHaveLength(1);
    // k = 2: the same check with the "<bo> is <bo:1><bo:2>." sentence.
    const servedK2 = await planPrompt(model, concepts, chatPlan("?", {}, "con_k2"));
    const trainedK2 = renderPrompt(
      model.tokenizer,
      conversationTurns({
        concepts: [{ name: "con_k2", k: 2 }],
        images: 0,
        question: [
          { type: "text", text: "What colour is " },
          identifierSegment("con_k2"),
          { type: "text", text: "?" },
        ],
      }),
      { addGenerationPrompt: true, imageToken: model.processor?.imageToken ?? "<image>" },
    );
    expect(servedK2.ids).toEqual(trainedK2.ids);
    expect(servedK2.prefix).toBeDefined();
  });

  it("chats (JSON and SSE) and recognizes", async () => {
    const res = await t.call("POST", "/v1/infer", k0("con_k0_chat"));
    expect(res.status).toBe(200);
    const completion = (await res.json()) as { choices: { message: { content: string } }[] };
    const streamed = await t.call("POST", "/v1/infer", {
      ...k0("con_k0_chat"),
      options: { ...k0("con_k0_chat").options, stream: true },
    });
    const deltas = sseData(await streamed.text())
      .slice(0, -1)
      .map(
        (e) =>
          (JSON.parse(e) as { choices: { delta: { content?: string } }[] }).choices[0]!.delta.content ?? "",
      );
    expect(deltas.join("")).toBe(completion.choices[0]!.message.content);

    const rec = recognizePlan([await toyPng(0)]);
    const recK0 = withArtifact(rec, artifact("<bo>", 1, 0));
    const recognized = await t.call("POST", "/v1/infer", recK0);
    expect(recognized.status).toBe(200);
    const { results } = (await recognized.json()) as { results: { p_yes: number }[] };
    expect(results).toHaveLength(1);
    expect(results[0]!.p_yes).toBeGreaterThan(0);
    expect(results[0]!.p_yes).toBeLessThan(1);
  });
});
