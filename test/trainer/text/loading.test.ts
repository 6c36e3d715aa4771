// Where the chat template comes from, and how the renderer fails on templates that lose segments.

import { promises as fsp, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PromptRenderError, renderPrompt } from "../../../trainer/text/prompt";
import { loadTokenizer, TokenizerLoadError } from "../../../trainer/text/tokenizer";

const SMOLVLM = join(import.meta.dirname, "../../fixtures/tokenizers/smolvlm");
let dir: string;

async function checkpoint(files: Record<string, string>): Promise<string> {
  const d = await fsp.mkdtemp(join(dir, "ckpt-"));
  await fsp.copyFile(join(SMOLVLM, "tokenizer.json"), join(d, "tokenizer.json"));
  for (const [name, text] of Object.entries(files)) await fsp.writeFile(join(d, name), text);
  return d;
}

const config = () => JSON.parse(readFileSync(join(SMOLVLM, "tokenizer_config.json"), "utf8"));
const messages = [{ role: "user" as const, content: [{ type: "text" as const, text: "hi" }] }];

beforeAll(async () => {
  dir = await fsp.mkdtemp(join(tmpdir(), "yo-edge-text-"));
});
afterAll(async () => {
  await fsp.rm(dir, { recursive: true, force: true });
});

describe("chat template lookup", () => {
  it("prefers chat_template.jinja, then chat_template.json, then tokenizer_config.json", async () => {
    const all = await checkpoint({
      "tokenizer_config.json": JSON.stringify({ ...config(), chat_template: "config" }),
      "chat_template.json": JSON.stringify({ chat_template: "processor" }),
      "chat_template.jinja": "jinja",
    });
    expect(loadTokenizer(all).renderChat(messages)).toBe("jinja");
    const json = await checkpoint({
      "tokenizer_config.json": JSON.stringify({ ...config(), chat_template: "config" }),
      "chat_template.json": JSON.stringify({ chat_template: "processor" }),
    });
    expect(loadTokenizer(json).renderChat(messages)).toBe("processor");
    const named = await checkpoint({
      "tokenizer_config.json": JSON.stringify({
        ...config(),
        chat_template: [
          { name: "tool_use", template: "tools" },
          { name: "default", template: "{{ messages[0]['content'][0]['text'] }}{{ eos_token }}" },
        ],
      }),
    });
    expect(loadTokenizer(named).renderChat(messages)).toBe("hi<end_of_utterance>");
  });

  it("fails clearly without tokenizer.json or without a template", async () => {
    expect(() => loadTokenizer(dir)).toThrow(TokenizerLoadError);
    const none = await checkpoint({ "tokenizer_config.json": JSON.stringify(config()) });
    expect(() => loadTokenizer(none).renderChat(messages)).toThrow(TokenizerLoadError);
  });
});

describe("renderPrompt refuses templates that lose segments", () => {
  it("a template that drops images or text", async () => {
    const noImages = await checkpoint({
      "tokenizer_config.json": JSON.stringify(config()),
      "chat_template.jinja":
        "{% for m in messages %}{% for c in m['content'] %}{% if c['type'] == 'text' %}{{ c['text'] }}{% endif %}{% endfor %}{% endfor %}",
    });
    const tok = loadTokenizer(noImages);
    const turns = [
      { role: "user" as const, segments: [{ type: "image" as const }, { type: "text" as const, text: "x" }] },
    ];
    expect(() => renderPrompt(tok, turns, { imageToken: "<image>" })).toThrow(PromptRenderError);
    const noText = await checkpoint({
      "tokenizer_config.json": JSON.stringify(config()),
      "chat_template.jinja": "<image>",
    });
    expect(() => renderPrompt(loadTokenizer(noText), turns, { imageToken: "<image>" })).toThrow(/dropped/);
    expect(() => renderPrompt(tok, turns, { imageToken: "<not-a-token>" })).toThrow(/not an added token/);
  });
});
