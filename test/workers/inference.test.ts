import { env } from "cloudflare:test";
import * as v from "valibot";
import { beforeEach, describe, expect, it } from "vitest";
import { readConceptArtifactHeader } from "../../shared/concept-artifact";
import { verifyRequest } from "../../shared/hmac";
import { MAX_IMAGES_PER_RECOGNIZE } from "../../shared/limits";
import { type PromptPlan, PromptPlanSchema } from "../../shared/prompt-plan";
import { clearConceptMemoryCache, conceptKvKey } from "../../workers/lib/concept-cache";
import { base64ToBytes } from "../../workers/lib/images";
import {
  artifactBytes,
  call,
  createConcept,
  createTenant,
  jsonInit,
  pngDataUrl,
  problem,
  readyConcept,
  toBase64,
  trainerStub,
} from "./helpers";

beforeEach(() => trainerStub.reset());

async function lastPlan(): Promise<PromptPlan> {
  const requests = await trainerStub.requests();
  const infer = requests.filter((r) => r.path === "/v1/infer").at(-1)!;
  return v.parse(PromptPlanSchema, JSON.parse(infer.body));
}

describe("POST /v1/chat", () => {
  it("resolves <name> mentions to concept segments and returns the node's answer", async () => {
    const tenant = await createTenant();
    const bo = await readyConcept(tenant);
    const res = await call(
      "/v1/chat",
      jsonInit(
        "POST",
        {
          messages: [
            { role: "system", content: "Be brief." },
            {
              role: "user",
              content: [
                { type: "text", text: `What is ${bo.name} doing? <not-mine> stays text` },
                { type: "image_url", image_url: { url: pngDataUrl(32, 16) } },
              ],
            },
          ],
          max_tokens: 32,
        },
        { ...tenant.auth, "x-request-id": "chat-req-00001" },
      ),
    );
    expect(res.status).toBe(404); // <not-mine> is not a concept of this tenant
    expect((await problem(res)).detail).toContain("<not-mine>");

    const ok = await call(
      "/v1/chat",
      jsonInit(
        "POST",
        {
          messages: [
            { role: "system", content: "Be brief." },
            {
              role: "user",
              content: [
                { type: "text", text: `What is ${bo.name} doing?` },
                { type: "image_url", image_url: { url: pngDataUrl(32, 16) } },
              ],
            },
          ],
          max_tokens: 32,
        },
        { ...tenant.auth, "x-request-id": "chat-req-00002" },
      ),
    );
    expect(ok.status).toBe(200);
    const body = (await ok.json()) as { choices: { message: { content: string } }[]; concepts: unknown[] };
    expect(body.choices[0]!.message.content).toBe(`stub answer about ${bo.name}`);
    expect(body.concepts).toEqual([{ id: bo.id, name: bo.name, version: 1 }]);

    const plan = await lastPlan();
    expect(plan.request_id).toBe("chat-req-00002");
    expect(plan.task).toEqual({ kind: "chat" });
    expect(plan.options).toMatchObject({ max_tokens: 32, stream: false });
    expect(plan.turns[0]).toEqual({ role: "system", segments: [{ type: "text", text: "Be brief." }] });
    const segments = plan.turns[1]!.segments;
    expect(segments.map((s) => s.type)).toEqual(["text", "concept", "text", "image"]);
    const concept = segments[1] as Extract<(typeof segments)[number], { type: "concept" }>;
    expect(concept).toMatchObject({ concept: bo.id, version: 1, name: bo.name });
    expect(readConceptArtifactHeader(base64ToBytes(concept.artifact)).name).toBe(bo.name);
    expect(segments[3]).toMatchObject({ type: "image", image: { mime: "image/png" } });

    const [sent] = (await trainerStub.requests()).filter((r) => r.path === "/v1/infer").slice(-1);
    expect(sent!.headers["x-request-id"]).toBe("chat-req-00002");
    expect(
      (await verifyRequest(env.HMAC_SECRET, "POST", "/v1/infer", sent!.body, new Headers(sent!.headers))).ok,
    ).toBe(true);
  });

  it("answers text-only chat and several concepts in one request", async () => {
    const tenant = await createTenant();
    const bo = await readyConcept(tenant);
    const mochi = await readyConcept(tenant);
    const res = await call(
      "/v1/chat",
      jsonInit(
        "POST",
        { messages: [{ role: "user", content: `Are ${bo.name} and ${mochi.name} together? ${bo.name}!` }] },
        tenant.auth,
      ),
    );
    expect(res.status).toBe(200);
    const plan = await lastPlan();
    expect(plan.concepts.sort()).toEqual([bo.id, mochi.id].sort());
    expect(plan.turns[0]!.segments.filter((s) => s.type === "concept")).toHaveLength(3);
  });

  it("streams Server-Sent Events when stream is true", async () => {
    const tenant = await createTenant();
    const bo = await readyConcept(tenant);
    const res = await call(
      "/v1/chat",
      jsonInit("POST", { stream: true, messages: [{ role: "user", content: `Hi ${bo.name}` }] }, tenant.auth),
    );
    expect(res.headers.get("content-type")).toBe("text/event-stream");
    const text = await res.text();
    expect(text).toContain("chat.completion.chunk");
    expect(text.trim().endsWith("data: [DONE]")).toBe(true);
  });

  it("treats another tenant's concept names as unknown", async () => {
    const a = await createTenant();
    const b = await createTenant();
    const bo = await readyConcept(a);
    const res = await call(
      "/v1/chat",
      jsonInit("POST", { messages: [{ role: "user", content: `Where is ${bo.name}?` }] }, b.auth),
    );
    expect((await problem(res)).code).toBe("concept_not_found");
    // (Training dispatches from the local queue may reach the stub meanwhile; no inference call must.)
    expect((await trainerStub.requests()).filter((r) => r.path === "/v1/infer")).toEqual([]);
  });

  it("refuses concepts that are not trained yet", async () => {
    const tenant = await createTenant();
    const draft = await createConcept(tenant);
    const res = await call(
      "/v1/chat",
      jsonInit("POST", { messages: [{ role: "user", content: `${draft.name}?` }] }, tenant.auth),
    );
    expect((await problem(res)).code).toBe("concept_not_ready");
  });

  it("validates messages, images and sampling options", async () => {
    const tenant = await createTenant();
    const send = async (body: unknown) =>
      (await problem(await call("/v1/chat", jsonInit("POST", body, tenant.auth)))).code;
    expect(await send({ messages: [] })).toBe("validation_failed");
    expect(await send({ messages: [{ role: "robot", content: "hi" }] })).toBe("validation_failed");
    expect(await send({ messages: [{ role: "user", content: "hi" }], temperature: 5 })).toBe(
      "validation_failed",
    );
    const image = (url: string) => ({
      messages: [{ role: "user", content: [{ type: "image_url", image_url: { url } }] }],
    });
    expect(await send(image("https://example.com/cat.png"))).toBe("validation_failed");
    expect(
      await send(image(`data:image/gif;base64,${toBase64(new TextEncoder().encode("GIF89a-----------"))}`)),
    ).toBe("invalid_image");
    expect(await send(image(pngDataUrl(9000, 9000)))).toBe("image_too_large");
  });

  it(
    "answers 503 with Retry-After when the node is down, and when it times out",
    {
      timeout: 10_000,
    },
    async () => {
      const tenant = await createTenant();
      const bo = await readyConcept(tenant);
      const body = { messages: [{ role: "user", content: `Hi ${bo.name}` }] };
      await trainerStub.mode("down");
      const down = await call("/v1/chat", jsonInit("POST", body, tenant.auth));
      expect(down.status).toBe(503);
      expect(down.headers.get("retry-after")).toBe("7");
      expect((await problem(down)).code).toBe("trainer_unavailable");
      await trainerStub.mode("hang");
      const slow = await call("/v1/chat", jsonInit("POST", body, tenant.auth));
      expect(slow.status).toBe(503);
      expect(slow.headers.get("retry-after")).toBe("30");
      expect((await problem(slow)).detail).toMatch(/did not answer within 2000 ms/);
    },
  );
});

describe("POST /v1/recognize", () => {
  it("returns P(yes) per image from a recognize plan with one batch image slot", async () => {
    const tenant = await createTenant();
    const bo = await readyConcept(tenant);
    const images = [
      pngDataUrl(),
      pngDataUrl(128, 96),
      toBase64(new Uint8Array(base64ToBytes(pngDataUrl().split(",")[1]!))),
    ];
    const res = await call("/v1/recognize", jsonInit("POST", { concept: bo.name, images }, tenant.auth));
    expect(res.status).toBe(200);
    expect(await res.json()).toEqual({
      concept: { id: bo.id, name: bo.name, version: 1 },
      results: [
        { index: 0, p_yes: 0.9 },
        { index: 1, p_yes: 0.1 },
        { index: 2, p_yes: 0.9 },
      ],
    });
    const plan = await lastPlan();
    expect(plan.task.kind).toBe("recognize");
    if (plan.task.kind === "recognize") {
      expect(plan.task.candidates).toEqual(["Yes", "No"]);
      expect(plan.task.batch).toHaveLength(3);
    }
    expect(plan.turns[0]!.segments.map((s) => s.type)).toEqual(["batch_image", "text", "concept", "text"]);
  });

  it("validates the concept name and image count, and hides other tenants' concepts", async () => {
    const a = await createTenant();
    const b = await createTenant();
    const bo = await readyConcept(a);
    const send = async (auth: Record<string, string>, body: unknown) =>
      (await problem(await call("/v1/recognize", jsonInit("POST", body, auth)))).code;
    expect(await send(a.auth, { concept: "bo", images: [pngDataUrl()] })).toBe("validation_failed");
    expect(await send(a.auth, { concept: bo.name, images: [] })).toBe("validation_failed");
    const tooMany = Array.from({ length: MAX_IMAGES_PER_RECOGNIZE + 1 }, () => pngDataUrl());
    expect(await send(a.auth, { concept: bo.name, images: tooMany })).toBe("validation_failed");
    expect(await send(b.auth, { concept: bo.name, images: [pngDataUrl()] })).toBe("concept_not_found");
  });

  it("reads concept artifacts from isolate memory, then KV (hit), then D1 (miss or stale KV version)", async () => {
    const tenant = await createTenant();
    const bo = await readyConcept(tenant);
    const key = conceptKvKey(bo.id, 1);
    const recognize = (fresh = true) => {
      if (fresh) clearConceptMemoryCache();
      return call(
        "/v1/recognize",
        jsonInit("POST", { concept: bo.name, images: [pngDataUrl()] }, tenant.auth),
      );
    };
    const artifactSent = async () => {
      const segment = (await lastPlan()).turns[0]!.segments.find((s) => s.type === "concept")!;
      return segment.type === "concept" ? base64ToBytes(segment.artifact) : new Uint8Array();
    };

    // Hit: a distinct artifact planted in KV is what the node receives, so D1 was not read.
    const planted = artifactBytes(bo.name, 1, "yo/toy-llava", 0.5);
    await env.CONCEPTS_KV.put(key, planted);
    const hit = await recognize();
    expect(hit.headers.get("x-concept-cache")).toBe(`${bo.name}=hit`);
    expect(await artifactSent()).toEqual(planted);
    // The isolate now remembers those immutable versioned bytes.
    const remembered = await recognize(false);
    expect(remembered.headers.get("x-concept-cache")).toBe(`${bo.name}=memory`);
    expect(await artifactSent()).toEqual(planted);

    // Miss: served from D1 and written back to KV.
    await env.CONCEPTS_KV.delete(key);
    const miss = await recognize();
    expect(miss.headers.get("x-concept-cache")).toBe(`${bo.name}=miss`);
    const fromD1 = artifactBytes(bo.name, 1);
    expect(await artifactSent()).toEqual(fromD1);
    expect(new Uint8Array((await env.CONCEPTS_KV.get(key, "arrayBuffer"))!)).toEqual(fromD1);

    // Stale: the KV entry carries another version; D1 wins and KV is rewritten.
    await env.CONCEPTS_KV.put(key, artifactBytes(bo.name, 7));
    const stale = await recognize();
    expect(stale.headers.get("x-concept-cache")).toBe(`${bo.name}=stale`);
    expect(await artifactSent()).toEqual(fromD1);
    expect(new Uint8Array((await env.CONCEPTS_KV.get(key, "arrayBuffer"))!)).toEqual(fromD1);
  });

  it("maps a node error to 502 trainer_error", async () => {
    const tenant = await createTenant();
    const bo = await readyConcept(tenant);
    await trainerStub.mode("refuse");
    const res = await call(
      "/v1/recognize",
      jsonInit("POST", { concept: bo.name, images: [pngDataUrl()] }, tenant.auth),
    );
    expect((await problem(res)).code).toBe("trainer_error");
  });
});

describe("POST /v1/generate", () => {
  it("answers 501 problem+json until a generation-capable model is configured", async () => {
    const tenant = await createTenant();
    const res = await call(
      "/v1/generate",
      jsonInit("POST", { prompt: "A photo of <bo> on a beach" }, tenant.auth),
    );
    expect(res.status).toBe(501);
    expect((await problem(res)).code).toBe("generation_not_configured");
  });

  it("needs the infer scope", async () => {
    const tenant = await createTenant(["concepts:read"]);
    const res = await call("/v1/generate", jsonInit("POST", { prompt: "x" }, tenant.auth));
    expect((await problem(res)).code).toBe("forbidden");
  });
});
