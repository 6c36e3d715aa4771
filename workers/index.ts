/**
 * The edge API: Hono app for /v1 plus the training queue consumer. Data flows one way:
 * request context -> auth -> validation -> domain -> D1/KV/R2/Queue or trainer node -> response.
 */
import { Hono } from "hono";
import { bodyLimit } from "hono/body-limit";
import { HTTPException } from "hono/http-exception";
import { MAX_JSON_BODY_BYTES, MAX_TRAIN_BODY_BYTES } from "../shared/limits";
import { adminRoutes } from "./admin/routes";
import { conceptRoutes } from "./concepts/routes";
import type { AppEnv, EdgeEnv } from "./env";
import { inferenceRoutes } from "./inference/routes";
import { internalRoutes } from "./internal/routes";
import { jobRoutes } from "./jobs/routes";
import { failStalledJobs, handleTrainingBatch } from "./jobs/training-queue";
import { ApiError, problemResponse } from "./lib/errors";
import { createLogger } from "./lib/log";
import { requestContext } from "./lib/request-context";
import { buildOpenApiDocument } from "./openapi/document";
import { trainingRoutes } from "./training/routes";

const tooLarge = (limit: number) =>
  bodyLimit({
    maxSize: limit,
    onError: () => {
      throw new ApiError("payload_too_large", `the limit is ${limit} bytes`);
    },
  });

let openApiDocument: ReturnType<typeof buildOpenApiDocument> | undefined;
function openApi() {
  openApiDocument ??= buildOpenApiDocument();
  return openApiDocument;
}

export const app = new Hono<AppEnv>()
  .use(requestContext)
  .use("/v1/concepts/:id/train", tooLarge(MAX_TRAIN_BODY_BYTES))
  .use("/v1/*", async (c, next) =>
    c.req.path.endsWith("/train") ? next() : tooLarge(MAX_JSON_BODY_BYTES)(c, next),
  )
  .get("/healthz", (c) => c.json({ ok: true }))
  .get("/openapi.json", (c) => c.json(openApi()))
  .route("/v1/admin", adminRoutes)
  .route("/v1/concepts", trainingRoutes)
  .route("/v1/concepts", conceptRoutes)
  .route("/v1/jobs", jobRoutes)
  .route("/v1", inferenceRoutes)
  .route("/v1/internal", internalRoutes);

app.notFound((c) => problemResponse(c, new ApiError("route_not_found"), c.get("requestId") ?? "none"));

// The one error handler: every failure becomes problem+json with a stable code and no stack trace.
app.onError((error, c) => {
  const requestId = c.get("requestId") ?? "none";
  if (error instanceof ApiError) {
    if (error.code === "trainer_unavailable" || error.code === "trainer_error") {
      c.get("log")?.("warn", "trainer call failed", { code: error.code, detail: error.detail });
    }
    return problemResponse(c, error, requestId);
  }
  if (error instanceof HTTPException) {
    const code =
      error.status === 413 ? "payload_too_large" : error.status === 400 ? "invalid_json" : "internal_error";
    return problemResponse(
      c,
      new ApiError(code, code === "internal_error" ? undefined : error.message),
      requestId,
    );
  }
  (c.get("log") ?? createLogger({ request_id: requestId }))("error", "unhandled error", {
    error: error instanceof Error ? `${error.name}: ${error.message}` : String(error),
    stack: error instanceof Error ? error.stack : undefined,
  });
  return problemResponse(c, new ApiError("internal_error"), requestId);
});

export default {
  fetch: app.fetch,
  async queue(batch, env, _ctx) {
    await handleTrainingBatch(batch, env);
  },
  async scheduled(_controller, env, _ctx) {
    const failed = await failStalledJobs(env);
    if (failed > 0)
      createLogger({ request_id: "cron" }, env.LOG_LEVEL)("warn", "failed stalled jobs", { count: failed });
  },
} satisfies ExportedHandler<EdgeEnv>;
