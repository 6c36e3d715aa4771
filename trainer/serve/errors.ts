/**
 * The node's typed errors. Each code maps to one HTTP status; the app's single error handler turns them
 * into `{ error: code, message }` JSON (the edge reads only the status and Retry-After).
 */
export const SERVE_ERROR_STATUS = {
  hmac_invalid: 401,
  hmac_clock_skew: 401,
  hmac_replay: 401,
  invalid_request: 400,
  base_model_mismatch: 400,
  invalid_concept: 400,
  invalid_image: 400,
  not_found: 404,
  queue_full: 429,
  overloaded: 503,
  not_ready: 503,
  training_unavailable: 422,
  unsupported_task: 501,
  internal: 500,
} as const;

export type ServeErrorCode = keyof typeof SERVE_ERROR_STATUS;

export class ServeError extends Error {
  override name = "ServeError";
  constructor(
    readonly code: ServeErrorCode,
    message: string = code,
  ) {
    super(message);
  }

  get status(): (typeof SERVE_ERROR_STATUS)[ServeErrorCode] {
    return SERVE_ERROR_STATUS[this.code];
  }
}
