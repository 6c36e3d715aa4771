/** The one validation hook: valibot issues become a validation_failed problem with per-field errors. */
import { validator } from "hono/validator";
import * as v from "valibot";
import { ApiError, type FieldError } from "./errors";

export function parseOrThrow<S extends v.GenericSchema>(
  schema: S,
  value: unknown,
  prefix = "",
): v.InferOutput<S> {
  const result = v.safeParse(schema, value);
  if (result.success) return result.output;
  const errors: FieldError[] = result.issues.slice(0, 20).map((issue) => ({
    path: prefix + (issue.path?.map((p) => String(p.key)).join(".") ?? ""),
    message: issue.message,
  }));
  throw new ApiError("validation_failed", errors.map((e) => `${e.path || "body"}: ${e.message}`).join("; "), {
    errors,
  });
}

export const validJson = <S extends v.GenericSchema>(schema: S) =>
  validator("json", (value, c) => {
    if (!/^application\/([a-z-.]+\+)?json/i.test(c.req.header("content-type") ?? "")) {
      throw new ApiError("unsupported_media_type", "send application/json");
    }
    return parseOrThrow(schema, value) as v.InferOutput<S>;
  });

export const validQuery = <S extends v.GenericSchema>(schema: S) =>
  validator("query", (value) => parseOrThrow(schema, value, "query.") as v.InferOutput<S>);
