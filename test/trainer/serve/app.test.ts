// The trainer node's HTTP surface in-process on the tiny LLaVA fixture: HMAC (signature, window, replay),
// readiness, recognition, chat (JSON and SSE), the concept prefix cache, purge and metrics.
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { signRequest } from "../../../shared/hmac";
import {
  chatPlan,
  MODEL_ID,
  type NodeUnderTest,
  recognizePlan,
  SECRET,
  sseData,
  startNode,
  toyPng,
} from "./fixture";

let t: NodeUnderTest;
let images: string[];
beforeAll(async () => {
  t = await startNode();
  images = [await toyPng(0), await toyPng(1), await toyPng(2)];
});
afterAll(async () => {
  await t.node.shutdown();
});

describe("HMAC", () => {
  it("refuses unsigned, wrongly signed, replayed and stale requests", async () => {
    const body = JSON.stringify(chatPlan("?"));
    const unsigned = await t.app.request("/v1/infer", { method: "POST", body });
    expect(unsigned.status).toBe(401);

    const wrong = await signRequest("another-secret-0123456789", "POST", "/v1/infer", body);
    expect((await t.app.request("/v1/infer", { method: "POST", body, headers: { ...wrong } })).status).toBe(
      401,
    );

    const signed = await signRequest(SECRET, "POST", "/v1/infer", body);
    expect((await t.app.request("/v1/infer", { method: "POST", body, headers: { ...signed } })).status).toBe(
      200,
    );
    const replay = await t.app.request("/v1/infer", { method: "POST", body, headers: { ...signed } });
    expect(replay.status).toBe(401);
    expect(await replay.json()).toMatchObject({ error: "hmac_replay" });

    const stale = await signRequest(SECRET, "POST", "/v1/infer", body, Date.now() - 3_600_000);
    const old = await t.app.request("/v1/infer", { method: "POST", body, headers: { ...stale } });
    expect(await old.json()).toMatchObject({ error: "hmac_clock_skew" });

    const tampered = await signRequest(SECRET, "POST", "/v1/infer", body);
    const changed = await t.app.request("/v1/infer", {
      method: "POST",
      body: `${body} `,
      headers: { ...tampered },
    });
    expect(changed.status).toBe(401);
  });
});

describe("readiness and metrics", () => {
  it("/readyz names the model, its source and the device", async () => {
    const res = await t.app.request("/readyz");
    expect(res.status).toBe(200);
    expect(await res.json()).toMatchObject({
      ready: true,
      model: { id: MODEL_ID, source: "YO_MODEL_DIR" },
      device: "cpu",
    });
  });

  it("/metrics is Prometheus text with requests, latencies, queue depth, caches and jobs", async () => {
    await t.call("POST", "/v1/infer", recognizePlan([images[0]!]));
    const text = await (await t.app.request("/metrics")).text();
    expect(text).toMatch(/yo_trainer_requests_total\{route="\/v1\/infer",status="200"\} \d+/);
    expect(text).toContain('yo_trainer_request_duration_seconds_bucket{route="/v1/infer",le="+Inf"}');
    expect(text).toContain("yo_trainer_training_queue_depth 0");
    expect(text).toMatch(/yo_trainer_cache_misses_total\{cache="image_features"\} [1-9]/);
    expect(text).toContain('yo_trainer_jobs{state="running"} 0');
  });
});

describe("inference", () => {
  it("recognize: one P(yes) per image, in order, and the same for an image alone or in a batch", async () => {
    const batch = await t.call("POST", "/v1/infer", recognizePlan(images));
    expect(batch.status).toBe(200);
    const { results } = (await batch.json()) as { results: { p_yes: number }[] };
    expect(results).toHaveLength(3);
    for (const r of results) expect(r.p_yes).toBeGreaterThan(0);
    const alone = (await (await t.call("POST", "/v1/infer", recognizePlan([images[1]!]))).json()) as {
      results: { p_yes: number }[];
    };
    expect(alone.results[0]!.p_yes).toBeCloseTo(results[1]!.p_yes, 5);
  });

  it("recognize: candidates that share a first token are scored as whole sequences", async () => {
    const res = await t.call("POST", "/v1/infer", recognizePlan(images.slice(0, 2), ["yes", "no"]));
    const { results } = (await res.json()) as { results: { p_yes: number }[] };
    expect(results).toHaveLength(2);
    for (const r of results) expect(r.p_yes).toBeGreaterThan(0);
  });

  it("recognize: the concept introduction is a cached prefix shared by the images", async () => {
    const { prefixes, recognizer } = t.node.loaded!;
    const before = { hits: prefixes.stats.hits, batches: recognizer.batcher.stats.batches };
    const res = await t.call("POST", "/v1/infer", recognizePlan(images));
    expect(res.status).toBe(200);
    // One scoring pass for the three images, over the prefix the earlier requests cached.
    expect(recognizer.batcher.stats.batches).toBe(before.batches + 1);
    expect(prefixes.stats.hits).toBe(before.hits + 1);
    expect(prefixes.holds("con_bo")).toBe(true);
  });

  it("refuses a plan for another base model and a broken concept artifact", async () => {
    const other = { ...chatPlan("?"), base_model: "someone/else" };
    const res = await t.call("POST", "/v1/infer", other);
    expect(res.status).toBe(400);
    expect(await res.json()).toMatchObject({ error: "base_model_mismatch" });
    // Streaming too: the refusal is an HTTP status, not a broken event stream.
    const streamed = await t.call("POST", "/v1/infer", {
      ...chatPlan("?", { stream: true }),
      base_model: "someone/else",
    });
    expect(streamed.status).toBe(400);
    const plan = chatPlan("?");
    const segment = plan.turns[0]!.segments[1] as { artifact: string };
    segment.artifact = Buffer.from("not an artifact").toString("base64");
    const broken = await t.call("POST", "/v1/infer", {
      ...plan,
      concepts: ["con_broken"],
      turns: [
        {
          ...plan.turns[0]!,
          segments: plan.turns[0]!.segments.map((s) =>
            s.type === "concept" ? { ...s, concept: "con_broken" } : s,
          ),
        },
      ],
    });
    expect(await broken.json()).toMatchObject({ error: "invalid_concept" });
  });

  it("chat: the SSE stream's deltas add up to the JSON answer, and the second request hits the prefix cache", async () => {
    const plain = await t.call("POST", "/v1/infer", chatPlan("?", {}, "con_chat"));
    expect(plain.status).toBe(200);
    const completion = (await plain.json()) as {
      object: string;
      choices: { message: { content: string }; finish_reason: string }[];
    };
    expect(completion.object).toBe("chat.completion");
    expect(completion.choices[0]!.finish_reason).toMatch(/^(stop|length)$/);
    const hitsBefore = t.node.loaded!.prefixes.stats.hits;

    const streamed = await t.call("POST", "/v1/infer", chatPlan("?", { stream: true }, "con_chat"));
    expect(streamed.headers.get("content-type")).toContain("text/event-stream");
    const events = sseData(await streamed.text());
    expect(events.at(-1)).toBe("[DONE]");
    const chunks = events.slice(0, -1).map(
      (e) =>
        JSON.parse(e) as {
          object: string;
          choices: { delta: { content?: string }; finish_reason: string | null }[];
        },
    );
    expect(chunks.every((c) => c.object === "chat.completion.chunk")).toBe(true);
    expect(chunks.map((c) => c.choices[0]!.delta.content ?? "").join("")).toBe(
      completion.choices[0]!.message.content,
    );
    expect(chunks.at(-1)!.choices[0]!.finish_reason).toBe(completion.choices[0]!.finish_reason);
    expect(t.node.loaded!.prefixes.stats.hits).toBe(hitsBefore + 1);
  });

  it("purge drops the concept's prefixes and decoded rows; later requests still work", async () => {
    await t.call("POST", "/v1/infer", chatPlan("?", {}, "con_purge"));
    const before = (await (await t.call("GET", "/v1/concepts/con_purge/holdings")).json()) as Record<
      string,
      boolean
    >;
    expect(before).toEqual({ prefixes: true, concept_rows: true, photos: false });
    const purge = await t.call("POST", "/v1/concepts/con_purge/purge", {
      concept_id: "con_purge",
      tenant_id: "ten_1",
      job_ids: [],
    });
    expect(purge.status).toBe(200);
    const after = (await (await t.call("GET", "/v1/concepts/con_purge/holdings")).json()) as Record<
      string,
      boolean
    >;
    expect(after).toEqual({ prefixes: false, concept_rows: false, photos: false });
    expect(t.node.loaded!.prefixes.holds("con_chat")).toBe(true);
    expect((await t.call("POST", "/v1/infer", chatPlan("?", {}, "con_purge"))).status).toBe(200);
  });

  it("stops an answer at the model's last position and refuses a prompt longer than the model", async () => {
    const long = await t.call("POST", "/v1/infer", chatPlan("?", { max_tokens: 4096 }, "con_long"));
    expect(long.status).toBe(200);
    const body = (await long.json()) as {
      choices: { finish_reason: string }[];
      usage: { total_tokens: number };
    };
    expect(body.choices[0]!.finish_reason).toBe("length");
    expect(body.usage.total_tokens).toBeLessThanOrEqual(128);
    const tooLong = await t.call("POST", "/v1/infer", chatPlan("?".repeat(200)));
    expect(tooLong.status).toBe(400);
    expect(await tooLong.json()).toMatchObject({ error: "invalid_request" });
  });

  it("answers /v1/train with 422 when no concept trainer is loaded", async () => {
    const res = await t.call("POST", "/v1/train", {
      job_id: "job_x",
      tenant_id: "ten_1",
      concept: { id: "con_x", name: "<bo>", kind: "pet", base_model: MODEL_ID, next_version: 1 },
      options: { latent_tokens: 2, preset: "fast" },
      photos: [{ mime: "image/png", base64: images[0]! }],
      callbacks: { progress: "/p", result: "/r" },
    });
    expect(res.status).toBe(422);
    expect(await res.json()).toMatchObject({ error: "training_unavailable" });
  });
});
