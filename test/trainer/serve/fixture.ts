// The trainer node in-process on the tiny LLaVA fixture (trainer/serve/fixture-tokenizer), with a concept
// artifact, prompt plans as the edge builds them, and signed requests.
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { encodeConceptArtifact } from "../../../shared/concept-artifact";
import { signRequest } from "../../../shared/hmac";
import type { PromptPlan } from "../../../shared/prompt-plan";
import { createServeApp } from "../../../trainer/serve/app";
import type { ConceptTrainer } from "../../../trainer/serve/concept-trainer";
import { serveConfigFromEnv } from "../../../trainer/serve/config";
import type { EdgeCallbacks } from "../../../trainer/serve/job-runner";
import { TrainerNode } from "../../../trainer/serve/trainer-node";
import { conceptSamples, encodePng, findConcept, renderSample } from "../../../trainer/toyworld/index";

export const SECRET = "serve-test-secret-0123456789abcdef";
export const MODEL_ID = "fixture/llava";
export const HIDDEN = 64;

/** A concept artifact (base64); `output` replaces the identifier output row (default: small, never wins). */
export function artifact(name: string, version: number, k = 2, fill = 0.01, output?: Float32Array): string {
  const row = (seed: number) => Float32Array.from({ length: HIDDEN }, (_, i) => Math.sin(i + seed) * fill);
  const bytes = encodeConceptArtifact({
    header: {
      format_version: 1,
      model: { repo: MODEL_ID, revision: "local", config_hash: "0123456789abcdef" },
      name,
      kind: "pet",
      k,
      hidden_size: HIDDEN,
      dtype: "fp16",
      rows: { identifier_input: 1, latent_input: k, identifier_output: 1, generation: 0 },
      training_report: {},
      version,
    },
    rows: {
      identifierInput: row(0),
      latentInput: Array.from({ length: k }, (_, i) => row(i + 1)),
      identifierOutput: output ?? row(99),
      generation: [],
    },
  });
  return Buffer.from(bytes).toString("base64");
}

export async function toyPng(index: number): Promise<string> {
  const samples = conceptSamples(findConcept("<bo>"), "test", {
    positives: index + 1,
    hardNegatives: 0,
    easyNegatives: 0,
  });
  return Buffer.from(await encodePng(renderSample(samples.positives[index]!))).toString("base64");
}

export function conceptSegment(id = "con_bo", version = 1) {
  return {
    type: "concept" as const,
    concept: id,
    version,
    name: "<bo>",
    artifact: artifact("<bo>", version),
  };
}

export function chatPlan(
  text: string,
  options: Partial<PromptPlan["options"]> = {},
  id = "con_bo",
): PromptPlan {
  return {
    plan_version: 1,
    request_id: "req-chat",
    base_model: MODEL_ID,
    task: { kind: "chat" },
    turns: [
      {
        role: "user",
        segments: [
          { type: "text", text: "What colour is " },
          conceptSegment(id),
          { type: "text", text: text },
        ],
      },
    ],
    options: { max_tokens: 6, temperature: 0, top_p: 1, top_k: 0, stop: [], stream: false, ...options },
    concepts: [id],
  };
}

/** Candidates as the edge sends them; lowercase ones share their first (character) token in the fixture. */
export function recognizePlan(images: string[], candidates = ["Yes", "No"]): PromptPlan {
  return {
    plan_version: 1,
    request_id: "req-rec",
    base_model: MODEL_ID,
    task: {
      kind: "recognize",
      candidates,
      batch: images.map((base64) => ({ base64, mime: "image/png" as const })),
    },
    turns: [
      {
        role: "user",
        segments: [
          { type: "batch_image" },
          { type: "text", text: "Is " },
          conceptSegment(),
          { type: "text", text: " in this photo? Answer with yes or no." },
        ],
      },
    ],
    options: { max_tokens: 1, temperature: 0, top_p: 1, top_k: 0, stop: [], stream: false },
    concepts: ["con_bo"],
  };
}

export interface NodeUnderTest {
  node: TrainerNode;
  app: ReturnType<typeof createServeApp>;
  posted: { path: string; body: unknown }[];
  call(method: string, path: string, body?: unknown, headers?: Record<string, string>): Promise<Response>;
}

export async function startNode(
  trainer?: ConceptTrainer,
  edge?: EdgeCallbacks,
  stateDir?: string,
  env: Record<string, string> = {},
): Promise<NodeUnderTest> {
  const posted: { path: string; body: unknown }[] = [];
  const config = serveConfigFromEnv({
    YO_HMAC_SECRET: SECRET,
    YO_STATE_DIR: stateDir ?? mkdtempSync(path.join(tmpdir(), "yo-serve-test-")),
    YO_MODEL_DIR: path.join(import.meta.dirname, "../../fixtures/models/llava"),
    YO_TOKENIZER_DIR: path.join(import.meta.dirname, "../../../trainer/serve/fixture-tokenizer"),
    YO_MODEL_ID: MODEL_ID,
    YO_THREADS: "1",
    ...env,
  });
  const node = new TrainerNode({
    config,
    ...(trainer ? { createTrainer: async () => trainer, trainerName: "test double" } : {}),
    edge: edge ?? {
      post: async (p, body) => {
        posted.push({ path: p, body });
        return "delivered";
      },
    },
    log: () => {},
  });
  await node.start();
  const app = createServeApp(node);
  const call = async (method: string, p: string, body?: unknown, headers: Record<string, string> = {}) => {
    const text = body === undefined ? "" : JSON.stringify(body);
    const signed = await signRequest(SECRET, method, p, text);
    return await app.request(p, {
      method,
      headers: { ...signed, "content-type": "application/json", ...headers },
      ...(method === "GET" ? {} : { body: text }),
    });
  };
  return { node, app, posted, call };
}

/** The `data:` payloads of an SSE body, in order. */
export function sseData(text: string): string[] {
  return text
    .split("\n\n")
    .map((e) =>
      e
        .split("\n")
        .find((l) => l.startsWith("data:"))
        ?.slice(5)
        .trim(),
    )
    .filter((d): d is string => d !== undefined && d.length > 0);
}
