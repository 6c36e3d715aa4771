import * as v from "valibot";
import { describe, expect, it } from "vitest";
import { type PromptPlan, PromptPlanSchema } from "../../shared/prompt-plan";

const options = { max_tokens: 16, temperature: 0, top_p: 1, top_k: 0, stop: [], stream: false };

const chatPlan: PromptPlan = {
  plan_version: 1,
  request_id: "req-1",
  base_model: "yo/toy-llava",
  task: { kind: "chat" },
  turns: [
    {
      role: "user",
      segments: [
        { type: "text", text: "What is " },
        { type: "concept", concept: "con_01", version: 2, name: "<bo>", artifact: "WU9DTg==" },
        { type: "text", text: " doing?" },
        { type: "image", image: { base64: "iVBORw0KGgo=", mime: "image/png" } },
      ],
    },
  ],
  options,
  concepts: ["con_01"],
};

describe("prompt plan schema", () => {
  it("accepts chat and recognize plans", () => {
    expect(v.parse(PromptPlanSchema, chatPlan)).toEqual(chatPlan);
    const recognize = {
      ...chatPlan,
      task: {
        kind: "recognize",
        candidates: ["Yes", "No"],
        batch: [{ r2_key: "jobs/x/00", mime: "image/jpeg" }],
      },
      turns: [{ role: "user", segments: [{ type: "batch_image" }, { type: "text", text: "Is it?" }] }],
    };
    expect(v.safeParse(PromptPlanSchema, recognize).success).toBe(true);
  });

  it("rejects malformed plans", () => {
    // Each case rewrites one field of a valid plan (JSON pointer-ish path) and must fail validation.
    const cases: [string[], unknown][] = [
      [["plan_version"], 2],
      [["turns", "0", "segments", "1", "name"], "bo"],
      [["turns", "0", "segments", "3", "image", "mime"], "image/gif"],
      [["turns", "0", "role"], "tool"],
      [["task"], { kind: "recognize", candidates: ["Yes", "No"], batch: [] }],
      [["options", "max_tokens"], 0],
      [["turns", "0", "segments", "0", "extra"], 1],
    ];
    for (const [path, value] of cases) {
      const plan = structuredClone(chatPlan) as unknown as Record<string, unknown>;
      let target = plan;
      for (const key of path.slice(0, -1)) target = target[key] as Record<string, unknown>;
      target[path.at(-1)!] = value;
      expect(v.safeParse(PromptPlanSchema, plan).success, path.join(".")).toBe(false);
    }
  });
});
