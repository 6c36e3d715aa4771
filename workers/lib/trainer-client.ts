/**
 * Calls to the trainer node: HMAC-signed, with the request id, a timeout, and a 503 + Retry-After problem
 * when the node is down or overloaded. Uses the TRAINER service binding when present (tests), else
 * TRAINER_URL over HTTP.
 */
import { signRequest } from "../../shared/hmac";
import type { EdgeEnv } from "../env";
import { ApiError } from "./errors";

export const TRAINER_RETRY_AFTER_SECONDS = 30;
const DEFAULT_TIMEOUT_MS = 30_000;

export interface TrainerCall {
  method: "GET" | "POST" | "DELETE";
  path: string;
  body?: string;
  requestId: string;
  timeoutMs?: number;
  /** Accumulates the wall time of the call (request context timings). */
  timings?: { trainerMs: number };
}

function unavailable(detail: string, retryAfter = String(TRAINER_RETRY_AFTER_SECONDS)): ApiError {
  return new ApiError("trainer_unavailable", detail, { headers: { "retry-after": retryAfter } });
}

/** Returns the node's 2xx response; throws trainer_unavailable (503) or trainer_error (502) otherwise. */
export async function callTrainer(env: EdgeEnv, call: TrainerCall): Promise<Response> {
  const body = call.body ?? "";
  const signed = await signRequest(env.HMAC_SECRET, call.method, call.path, body);
  const timeoutMs = call.timeoutMs ?? (Number(env.TRAINER_TIMEOUT_MS) || DEFAULT_TIMEOUT_MS);
  const url = `${env.TRAINER ? "http://trainer" : env.TRAINER_URL.replace(/\/$/, "")}${call.path}`;
  const init: RequestInit = {
    method: call.method,
    headers: { ...signed, "content-type": "application/json", "x-request-id": call.requestId },
    signal: AbortSignal.timeout(timeoutMs),
  };
  if (call.method !== "GET") init.body = body;
  let response: Response;
  const started = performance.now();
  try {
    response = env.TRAINER ? await env.TRAINER.fetch(url, init) : await fetch(url, init);
  } catch (error) {
    const timedOut = error instanceof Error && (error.name === "TimeoutError" || error.name === "AbortError");
    throw unavailable(
      timedOut ? `trainer node did not answer within ${timeoutMs} ms` : "trainer node unreachable",
    );
  } finally {
    if (call.timings) call.timings.trainerMs += performance.now() - started;
  }
  if (response.ok) return response;
  await response.body?.cancel();
  if (response.status === 503 || response.status === 429) {
    throw unavailable(
      `trainer node answered ${response.status}`,
      response.headers.get("retry-after") ?? undefined,
    );
  }
  throw new ApiError("trainer_error", `trainer node answered ${response.status}`);
}
