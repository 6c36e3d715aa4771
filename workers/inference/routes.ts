/** Inference: chat (JSON or SSE), recognize (P(yes) per image), generate (501 until configured). */
import { Hono } from "hono";
import * as v from "valibot";
import { ChatRequestSchema, GenerateRequestSchema, RecognizeRequestSchema } from "../../shared/api";
import { RecognizeNodeResultSchema } from "../../shared/prompt-plan";
import type { AppEnv } from "../env";
import { requireApiKey } from "../lib/auth";
import { ApiError } from "../lib/errors";
import { callTrainer } from "../lib/trainer-client";
import { validJson } from "../lib/validation";
import { assembleChatPlan, assembleRecognizePlan, type ResolvedConcept } from "./prompt-assembly";

const cacheHeader = (concepts: ResolvedConcept[]) => concepts.map((c) => `${c.name}=${c.cache}`).join(", ");

export const inferenceRoutes = new Hono<AppEnv>()
  .post("/chat", requireApiKey("infer"), validJson(ChatRequestSchema), async (c) => {
    const requestId = c.get("requestId");
    const { plan, concepts } = await assembleChatPlan(
      c.env,
      c.get("db"),
      c.get("tenantId"),
      requestId,
      c.req.valid("json"),
    );
    const node = await callTrainer(c.env, {
      method: "POST",
      path: "/v1/infer",
      body: JSON.stringify(plan),
      requestId,
      timings: c.get("timings"),
    });
    const headers: Record<string, string> = { "x-concept-cache": cacheHeader(concepts) };
    if (plan.options.stream) {
      // The node already speaks OpenAI-style SSE (data: {chunk} ... data: [DONE]); pass it through.
      return new Response(node.body, {
        headers: { ...headers, "content-type": "text/event-stream", "cache-control": "no-cache" },
      });
    }
    const answer = (await node.json()) as Record<string, unknown>;
    return c.json(
      { ...answer, concepts: concepts.map((k) => ({ id: k.id, name: k.name, version: k.version })) },
      200,
      headers,
    );
  })
  .post("/recognize", requireApiKey("infer"), validJson(RecognizeRequestSchema), async (c) => {
    const requestId = c.get("requestId");
    const body = c.req.valid("json");
    const { plan, concept } = await assembleRecognizePlan(
      c.env,
      c.get("db"),
      c.get("tenantId"),
      requestId,
      body,
    );
    const node = await callTrainer(c.env, {
      method: "POST",
      path: "/v1/infer",
      body: JSON.stringify(plan),
      requestId,
      timings: c.get("timings"),
    });
    const parsed = v.safeParse(RecognizeNodeResultSchema, await node.json().catch(() => null));
    if (!parsed.success || parsed.output.results.length !== body.images.length) {
      throw new ApiError("trainer_error", "trainer node returned a malformed recognize result");
    }
    return c.json(
      {
        concept: { id: concept.id, name: concept.name, version: concept.version },
        results: parsed.output.results.map((r, index) => ({ index, p_yes: r.p_yes })),
      },
      200,
      { "x-concept-cache": cacheHeader([concept]) },
    );
  })
  .post("/generate", requireApiKey("infer"), validJson(GenerateRequestSchema), async (c) => {
    if (!c.env.GENERATION_MODEL) {
      throw new ApiError(
        "generation_not_configured",
        "set GENERATION_MODEL to a unified (understanding + generation) model",
      );
    }
    // Wiring to a unified model comes with the Yo'Chameleon issue; until then the configured case is also 501.
    throw new ApiError(
      "generation_not_configured",
      `generation with ${c.env.GENERATION_MODEL} is not implemented yet`,
    );
  });
