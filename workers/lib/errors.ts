/**
 * The closed list of error codes. Every error response is RFC 9457 application/problem+json with one of
 * these codes; messages never include stack traces or internals.
 */
import type { Context } from "hono";

export const ERROR_CODES = {
  validation_failed: { status: 400, title: "The request is invalid" },
  invalid_json: { status: 400, title: "The body is not valid JSON" },
  unauthorized: { status: 401, title: "Missing, invalid or revoked credentials" },
  hmac_invalid: { status: 401, title: "Missing or invalid request signature" },
  hmac_clock_skew: { status: 401, title: "Request timestamp outside the accepted window" },
  hmac_replay: { status: 401, title: "Request nonce already used" },
  forbidden: { status: 403, title: "The API key lacks the scope for this operation" },
  route_not_found: { status: 404, title: "No such route" },
  tenant_not_found: { status: 404, title: "Tenant not found" },
  api_key_not_found: { status: 404, title: "API key not found" },
  concept_not_found: { status: 404, title: "Concept not found" },
  job_not_found: { status: 404, title: "Job not found" },
  concept_name_taken: { status: 409, title: "A concept with this name already exists" },
  concept_not_ready: { status: 409, title: "The concept has no trained version yet" },
  training_in_progress: { status: 409, title: "The concept already has a queued or running job" },
  job_not_cancellable: { status: 409, title: "The job is already finished" },
  job_finished: { status: 409, title: "The job no longer accepts updates" },
  idempotency_in_progress: { status: 409, title: "A request with this Idempotency-Key is still in progress" },
  too_many_concepts: { status: 409, title: "The tenant's concept limit is reached" },
  payload_too_large: { status: 413, title: "The request body is too large" },
  unsupported_media_type: { status: 415, title: "Unsupported content type" },
  idempotency_key_reused: { status: 422, title: "Idempotency-Key reused with a different request" },
  invalid_image: { status: 422, title: "Not a supported image (jpeg, png, webp)" },
  image_too_large: { status: 422, title: "Image exceeds the size or pixel limits" },
  invalid_artifact: { status: 422, title: "The concept artifact is invalid" },
  base_model_mismatch: { status: 422, title: "The concepts were trained for different base models" },
  rate_limited: { status: 429, title: "Too many requests for this API key" },
  internal_error: { status: 500, title: "Internal error" },
  generation_not_configured: { status: 501, title: "No generation-capable model is configured" },
  trainer_error: { status: 502, title: "The trainer node returned an error" },
  trainer_unavailable: { status: 503, title: "The trainer node is unavailable" },
} as const satisfies Record<string, { status: number; title: string }>;

export type ErrorCode = keyof typeof ERROR_CODES;

export interface FieldError {
  path: string;
  message: string;
}

export class ApiError extends Error {
  override name = "ApiError";
  constructor(
    readonly code: ErrorCode,
    readonly detail?: string,
    readonly extra: { errors?: FieldError[]; headers?: Record<string, string> } = {},
  ) {
    super(detail ?? ERROR_CODES[code].title);
  }
}

export function problemResponse(c: Context, error: ApiError, requestId: string): Response {
  const { status, title } = ERROR_CODES[error.code];
  const body = {
    type: `urn:yo-edge:problem:${error.code}`,
    title,
    status,
    code: error.code,
    ...(error.detail ? { detail: error.detail } : {}),
    instance: new URL(c.req.url).pathname,
    request_id: requestId,
    ...(error.extra.errors ? { errors: error.extra.errors } : {}),
  };
  return new Response(JSON.stringify(body), {
    status,
    headers: {
      "content-type": "application/problem+json",
      "x-request-id": requestId,
      ...error.extra.headers,
    },
  });
}
