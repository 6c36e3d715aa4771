/**
 * Node -> edge callbacks (job progress and results), HMAC-signed like the edge's calls, retried with
 * exponential backoff on network errors, 5xx and 429. 409 means the edge no longer wants updates for the
 * job (finished, cancelled, or this result was already recorded) and is reported, not retried.
 */
import { signRequest } from "../../shared/hmac";
import {
  CALLBACK_ATTEMPTS,
  CALLBACK_BACKOFF_BASE_MS,
  CALLBACK_BACKOFF_MAX_MS,
  CALLBACK_TIMEOUT_MS,
} from "./limits";

export type CallbackOutcome = "delivered" | "conflict" | "rejected" | "unreachable";

export interface EdgeClientOptions {
  baseUrl: string;
  secret: string;
  attempts?: number;
  backoffBaseMs?: number;
  log?: (message: string, fields: Record<string, unknown>) => void;
}

export class EdgeClient {
  constructor(private readonly options: EdgeClientOptions) {}

  async post(
    path: string,
    body: unknown,
    requestId: string,
    attempts = this.options.attempts ?? CALLBACK_ATTEMPTS,
  ): Promise<CallbackOutcome> {
    const text = JSON.stringify(body);
    let last = "";
    for (let attempt = 1; attempt <= attempts; attempt++) {
      try {
        const signed = await signRequest(this.options.secret, "POST", path, text);
        const response = await fetch(`${this.options.baseUrl}${path}`, {
          method: "POST",
          headers: { ...signed, "content-type": "application/json", "x-request-id": requestId },
          body: text,
          signal: AbortSignal.timeout(CALLBACK_TIMEOUT_MS),
        });
        await response.body?.cancel();
        if (response.ok) return "delivered";
        if (response.status === 409) return "conflict";
        if (response.status !== 429 && response.status < 500) {
          this.options.log?.("callback rejected", { path, status: response.status });
          return "rejected";
        }
        last = `status ${response.status}`;
      } catch (error) {
        last = error instanceof Error ? error.message : String(error);
      }
      if (attempt < attempts) {
        const base = this.options.backoffBaseMs ?? CALLBACK_BACKOFF_BASE_MS;
        await new Promise((resolve) =>
          setTimeout(resolve, Math.min(CALLBACK_BACKOFF_MAX_MS, base * 2 ** (attempt - 1))),
        );
      }
    }
    this.options.log?.("callback failed", { path, attempts, error: last });
    return "unreachable";
  }
}
