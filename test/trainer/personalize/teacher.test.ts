import { createServer, type IncomingMessage } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { conversationExamples, repeatedConversations } from "../../../trainer/personalize/conversation-data";
import { encodeExample } from "../../../trainer/personalize/examples";
import {
  HfInferenceTeacher,
  nameTheSubject,
  SelfTeacher,
  teacherConversations,
  teacherFromEnvironment,
} from "../../../trainer/personalize/teacher";
import { CONVERSATION_QUESTIONS } from "../../../trainer/personalize/templates";
import { photo, tinyConceptModel } from "./fixture";

const requests: { url: string; auth?: string; body: Record<string, unknown> }[] = [];
let baseUrl = "";
const server = createServer(async (req: IncomingMessage, res) => {
  let text = "";
  for await (const chunk of req) text += chunk;
  requests.push({ url: req.url ?? "", auth: req.headers.authorization, body: JSON.parse(text) });
  res.setHeader("content-type", "application/json");
  res.end(
    JSON.stringify({
      id: "x",
      object: "chat.completion",
      created: 0,
      model: "local",
      choices: [
        {
          index: 0,
          finish_reason: "stop",
          message: {
            role: "assistant",
            content: "The main subject of this photo is red with white stripes.",
          },
        },
      ],
    }),
  );
});

beforeAll(async () => {
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  baseUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(() => {
  server.close();
});

describe("teachers", () => {
  it("rewrites the teacher's subject into the concept's name", () => {
    expect(nameTheSubject("It is red.", "the main subject of this photo", "<bo>")).toBe("<bo> is red.");
    expect(
      nameTheSubject(
        "The main subject of this photo is a star.\nMore",
        "the main subject of this photo",
        "<bo>",
      ),
    ).toBe("<bo> is a star.");
    expect(nameTheSubject("Red and round.", "the person in this photo", "<ana>")).toBe("Red and round.");
  });

  it("asks a vision model behind an OpenAI-compatible endpoint (local server) with the photo inline", async () => {
    const teacher = new HfInferenceTeacher({ token: "hf_test", model: "vlm/test", endpointUrl: baseUrl });
    const pairs = await teacherConversations(teacher, "<bo>", "subject", [photo(1), photo(2)]);
    expect(pairs).toHaveLength(CONVERSATION_QUESTIONS.subject.length);
    expect(pairs[0]).toEqual({
      question: "What colour is {name}?",
      answer: "<bo> is red with white stripes.",
    });
    expect(requests).toHaveLength(10);
    const first = requests[0]!;
    expect(first.url).toBe("/v1/chat/completions");
    expect(first.auth).toBe("Bearer hf_test");
    const content = (
      first.body.messages as { content: { type: string; text?: string; image_url?: { url: string } }[] }[]
    )[0]!.content;
    expect(content[0]!.image_url!.url).toMatch(/^data:image\/png;base64,iVBORw0KGgo/);
    expect(content[1]!.text).toMatch(/^What colour is the main subject of this photo\?/);
  });

  it("fails with teacher_failed when the endpoint is down", async () => {
    const teacher = new HfInferenceTeacher({ model: "vlm/test", endpointUrl: "http://127.0.0.1:9" });
    await expect(teacherConversations(teacher, "<bo>", "subject", [photo(1)])).rejects.toMatchObject({
      code: "teacher_failed",
    });
  });

  it("uses Inference Providers when a token is configured, else the frozen model", async () => {
    const model = await tinyConceptModel();
    expect(teacherFromEnvironment(model, {}).name).toBe("self");
    expect(teacherFromEnvironment(model, { HF_TOKEN: "hf_x" }).name).toBe("hf-inference");
  });

  it("the frozen model answers offline, and its answers train text-only", async () => {
    const model = await tinyConceptModel();
    const teacher = new SelfTeacher(model, 4);
    const answer = await teacher.answer({ image: photo(3), question: "What colour is it?", subject: "it" });
    expect(typeof answer).toBe("string");
    const [example] = conversationExamples("<bo>", 2, [
      { question: "What colour is {name}?", answer: "<bo> is red." },
    ]);
    const encoded = await encodeExample(model, example!);
    expect(example!.images).toHaveLength(0);
    expect(encoded.targets.some((t) => "concept" in t.target)).toBe(true);
  });

  it("repeats conversation turns in order up to their share of the recognition turns, never fewer than given", () => {
    const qa = (q: string) => ({ question: q, answer: "<bo> is red." });
    const pairs = [qa("a"), qa("b"), qa("c")];
    const questions = repeatedConversations(pairs, 7, 1).map((p) => p.question);
    expect(questions.join("")).toBe("abcabca");
    expect(repeatedConversations(pairs, 2, 1)).toEqual(pairs);
    expect(repeatedConversations([], 5, 1)).toEqual([]);
  });
});
