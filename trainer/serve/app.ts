/**
 * The node's HTTP surface (shared/trainer-api.ts). Every /v1 route is HMAC-verified; /healthz, /readyz and
 * /metrics are open (bind the node to loopback or a private network). Data flows one way: signature ->
 * valibot schema -> domain (model, caches, job runner) -> response.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { streamSSE } from "hono/streaming";
import * as v from "valibot";
import { PromptPlanSchema } from "../../shared/prompt-plan";
import { ConceptPurgeSchema, TrainDispatchSchema } from "../../shared/trainer-api";
import { chatChunk, chatCompletion, finishReason, runChat } from "./chat";
import { ServeError } from "./errors";
import { requireEdgeSignature, type ServeVariables } from "./hmac-auth";
import { isSafeJobId } from "./job-journal";
import { JOB_STATES } from "./job-runner";
import { MAX_INFERENCE_IN_FLIGHT, MAX_NODE_BODY_BYTES, RETRY_AFTER_SECONDS } from "./limits";
import type { GaugeSample } from "./metrics";
import { planPrompt } from "./plan-prompt";
import type { TrainerNode } from "./trainer-node";

type ServeEnv = { Variables: ServeVariables };

function parseBody<T extends v.GenericSchema>(schema: T, body: Uint8Array): v.InferOutput<T> {
  let json: unknown;
  try {
    json = JSON.parse(Buffer.from(body).toString("utf8"));
  } catch {
    throw new ServeError("invalid_request", "body is not JSON");
  }
  const parsed = v.safeParse(schema, json);
  if (!parsed.success) {
    const issue = parsed.issues[0];
    const at = issue.path?.map((p) => String(p.key)).join(".") ?? "";
    throw new ServeError("invalid_request", `${at ? `${at}: ` : ""}${issue.message}`);
  }
  return parsed.output;
}

function gauges(node: TrainerNode): GaugeSample[] {
  const out: GaugeSample[] = [
    { name: "yo_trainer_model_loaded", help: "1 when the base model is loaded.", value: node.loaded ? 1 : 0 },
    {
      name: "yo_trainer_inference_in_flight",
      help: "Inference requests being served.",
      value: node.inFlight,
    },
    {
      name: "yo_trainer_training_queue_depth",
      help: "Training jobs waiting for a slot.",
      value: node.jobs?.queueDepth ?? 0,
    },
  ];
  const counts = node.jobs?.counts();
  for (const state of JOB_STATES) {
    out.push({
      name: "yo_trainer_jobs",
      help: "Training jobs known to this node by state.",
      labels: { state },
      value: counts?.[state] ?? 0,
    });
  }
  const caches = node.loaded
    ? { image_features: node.loaded.model.imageFeatureCache.stats, prefix: node.loaded.prefixes.stats }
    : {};
  for (const [cache, s] of Object.entries(caches)) {
    out.push({ name: "yo_trainer_cache_hits_total", help: "Cache hits.", labels: { cache }, value: s.hits });
    out.push({
      name: "yo_trainer_cache_misses_total",
      help: "Cache misses.",
      labels: { cache },
      value: s.misses,
    });
    out.push({
      name: "yo_trainer_cache_bytes",
      help: "Bytes held by the cache.",
      labels: { cache },
      value: s.bytes,
    });
    out.push({
      name: "yo_trainer_cache_entries",
      help: "Entries held by the cache.",
      labels: { cache },
      value: s.entries,
    });
  }
  if (node.loaded) {
    const b = node.loaded.recognizer.batcher.stats;
    out.push({
      name: "yo_trainer_recognize_batches_total",
      help: "Recognition scoring runs.",
      value: b.batches,
    });
    out.push({
      name: "yo_trainer_recognize_batched_requests_total",
      help: "Recognition requests that shared a run.",
      value: b.mergedRequests,
    });
  }
  return out;
}

export function createServeApp(node: TrainerNode) {
  const signed = requireEdgeSignature(node.options.config.hmacSecret, node.nonces);
  const loaded = () => {
    if (!node.loaded) throw new ServeError("not_ready", node.loadError ?? "model is loading");
    return node.loaded;
  };
  const jobs = () => {
    loaded();
    return node.jobs!;
  };

  const app = new Hono<ServeEnv>();
  app.use(async (c, next) => {
    const started = performance.now();
    await next();
    const route = c.req.routePath || "unmatched";
    node.metrics.observe(route, c.res.status, (performance.now() - started) / 1000);
  });

  app.get("/healthz", (c) => c.json({ ok: true }));
  app.get("/readyz", (c) => {
    const model = node.loaded?.model;
    const body = {
      ready: model !== undefined,
      model: model
        ? {
            id: model.id,
            dir: model.dir,
            source: model.source,
            fingerprint: model.fingerprint,
            weights: model.weightFormat,
          }
        : null,
      device: model?.device ?? null,
      training: node.jobs?.available
        ? {
            trainer: node.trainerName ?? "unnamed",
            queue_depth: node.jobs.queueDepth,
            negatives_pool: node.options.config.negativesPoolDir ?? null,
            teacher: node.options.config.teacher,
          }
        : null,
      ...(node.loadError ? { error: node.loadError } : {}),
    };
    return c.json(body, model ? 200 : 503);
  });
  app.get("/metrics", (c) =>
    c.text(node.metrics.render(gauges(node)), 200, {
      "content-type": "text/plain; version=0.0.4; charset=utf-8",
    }),
  );

  app.use(
    "/v1/*",
    bodyLimit({
      maxSize: MAX_NODE_BODY_BYTES,
      onError: (c) =>
        c.json({ error: "payload_too_large", message: `the limit is ${MAX_NODE_BODY_BYTES} bytes` }, 413),
    }),
  );
  app.use("/v1/*", signed);

  app.post("/v1/train", (c) => {
    const dispatch = parseBody(TrainDispatchSchema, c.get("rawBody"));
    if (!isSafeJobId(dispatch.job_id))
      throw new ServeError("invalid_request", "job_id has unsupported characters");
    const { model } = loaded();
    if (dispatch.concept.base_model !== model.id) {
      throw new ServeError(
        "base_model_mismatch",
        `job is for ${dispatch.concept.base_model}, this node serves ${model.id}`,
      );
    }
    const outcome = jobs().submit(dispatch);
    return c.json({ accepted: true, job_id: dispatch.job_id, ...outcome }, 202);
  });

  app.post("/v1/jobs/:id/cancel", (c) => {
    const cancelled = node.jobs?.cancel(c.req.param("id")) ?? false;
    return c.json({ cancelled });
  });

  app.post("/v1/concepts/:id/purge", (c) => {
    const request = parseBody(ConceptPurgeSchema, c.get("rawBody"));
    if (request.concept_id !== c.req.param("id"))
      throw new ServeError("invalid_request", "concept id mismatch");
    const dropped = node.purge(request);
    node.log("concept purged", { concept_id: request.concept_id, ...dropped });
    return c.json({ purged: true, dropped });
  });

  /** What the node still holds for a concept: lets the edge (and tests) check a purge. */
  app.get("/v1/concepts/:id/holdings", (c) => c.json(node.holdings(c.req.param("id"))));

  app.post("/v1/infer", async (c) => {
    const plan = parseBody(PromptPlanSchema, c.get("rawBody"));
    const state = loaded();
    if (node.inFlight >= MAX_INFERENCE_IN_FLIGHT)
      throw new ServeError("overloaded", "too many inference requests");
    node.inFlight++;
    let released = false;
    const release = () => {
      if (!released) node.inFlight--;
      released = true;
    };
    try {
      if (plan.task.kind === "recognize") return c.json(await state.recognizer.recognize(plan));
      if (plan.task.kind !== "chat")
        throw new ServeError("unsupported_task", `${plan.task.kind} needs a unified model`);
      const deps = { model: state.model, concepts: state.concepts, prefixes: state.prefixes };
      if (!plan.options.stream)
        return c.json(chatCompletion(plan, await runChat(deps, plan, { signal: c.req.raw.signal })));
      const prompt = await planPrompt(state.model, state.concepts, plan);
      const controller = new AbortController();
      released = true; // the stream releases the slot itself
      return streamSSE(c, async (stream) => {
        stream.onAbort(() => controller.abort());
        try {
          await stream.writeSSE({
            data: JSON.stringify(chatChunk(plan, { role: "assistant", content: "" }, null)),
          });
          let writes = Promise.resolve();
          const run = await runChat(deps, plan, {
            prompt,
            signal: controller.signal,
            onDelta: (text) => {
              writes = writes.then(() =>
                stream.writeSSE({ data: JSON.stringify(chatChunk(plan, { content: text }, null)) }),
              );
            },
          });
          await writes;
          await stream.writeSSE({ data: JSON.stringify(chatChunk(plan, {}, finishReason(run.result))) });
          await stream.writeSSE({ data: "[DONE]" });
        } finally {
          node.inFlight--;
        }
      });
    } finally {
      release();
    }
  });

  app.notFound((c) => c.json({ error: "not_found", message: "no such route" }, 404));
  app.onError((error, c) => {
    if (error instanceof ServeError) {
      node.log("request refused", {
        route: c.req.path,
        status: error.status,
        code: error.code,
        message: error.message,
      });
      const headers: Record<string, string> =
        error.status === 503 || error.status === 429 ? { "retry-after": String(RETRY_AFTER_SECONDS) } : {};
      return c.json({ error: error.code, message: error.message }, error.status, headers);
    }
    node.log("unhandled error", {
      error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
      stack: error instanceof Error ? error.stack : undefined,
    });
    return c.json({ error: "internal", message: "internal error" }, 500);
  });
  return app;
}
