/**
 * OpenAPI 3.1, generated from the same valibot schemas that validate requests (shared/api.ts).
 * The operation list below names each route's schemas; the JSON Schemas come from @valibot/to-json-schema.
 */
import { toJsonSchema } from "@valibot/to-json-schema";
import type * as v from "valibot";
import * as api from "../../shared/api";
import { ERROR_CODES } from "../lib/errors";

type Schema = v.GenericSchema;
interface Operation {
  method: "get" | "post" | "delete";
  path: string;
  summary: string;
  auth: "apiKey" | "admin" | "hmac" | "none";
  request?: { schema: Schema; contentType?: string };
  query?: Schema;
  responses: Record<number, { description: string; schema?: Schema; contentType?: string }>;
  idempotent?: boolean;
}

const ok = (schema: Schema, description = "OK") => ({ 200: { description, schema } });
const OPERATIONS: Operation[] = [
  {
    method: "post",
    path: "/v1/admin/tenants",
    summary: "Create a tenant",
    auth: "admin",
    idempotent: true,
    request: { schema: api.CreateTenantRequestSchema },
    responses: { 201: { description: "Created", schema: api.TenantSchema } },
  },
  {
    method: "post",
    path: "/v1/admin/tenants/{tenantId}/keys",
    summary: "Issue an API key (secret shown once)",
    auth: "admin",
    idempotent: true,
    request: { schema: api.CreateApiKeyRequestSchema },
    responses: { 201: { description: "Created", schema: api.ApiKeyCreatedSchema } },
  },
  {
    method: "post",
    path: "/v1/admin/tenants/{tenantId}/keys/{keyId}/revoke",
    summary: "Revoke an API key",
    auth: "admin",
    responses: ok(api.ApiKeySchema),
  },
  {
    method: "post",
    path: "/v1/concepts",
    summary: "Create a concept",
    auth: "apiKey",
    idempotent: true,
    request: { schema: api.CreateConceptRequestSchema },
    responses: { 201: { description: "Created", schema: api.ConceptSchema } },
  },
  {
    method: "get",
    path: "/v1/concepts",
    summary: "List concepts (cursor pagination)",
    auth: "apiKey",
    query: api.ListQuerySchema,
    responses: ok(api.ConceptListSchema),
  },
  {
    method: "get",
    path: "/v1/concepts/{id}",
    summary: "Get a concept",
    auth: "apiKey",
    responses: ok(api.ConceptSchema),
  },
  {
    method: "delete",
    path: "/v1/concepts/{id}",
    summary: "Delete a concept (D1, KV, staged photos, node caches)",
    auth: "apiKey",
    responses: { 204: { description: "Deleted" } },
  },
  {
    method: "post",
    path: "/v1/concepts/{id}/train",
    summary: "Train a concept from 1-10 photos",
    auth: "apiKey",
    idempotent: true,
    request: { schema: api.TrainRequestSchema, contentType: "multipart/form-data" },
    responses: { 202: { description: "Job queued", schema: api.JobSchema } },
  },
  {
    method: "get",
    path: "/v1/jobs/{id}",
    summary: "Get a job",
    auth: "apiKey",
    responses: ok(api.JobSchema),
  },
  {
    method: "get",
    path: "/v1/jobs/{id}/events",
    summary: "Job progress as Server-Sent Events (progress, done)",
    auth: "apiKey",
    responses: {
      200: { description: "text/event-stream of job snapshots", contentType: "text/event-stream" },
    },
  },
  {
    method: "post",
    path: "/v1/jobs/{id}/cancel",
    summary: "Cancel a queued or running job",
    auth: "apiKey",
    responses: ok(api.JobSchema),
  },
  {
    method: "post",
    path: "/v1/chat",
    summary: "Chat with <name> mentions (stream: true gives SSE)",
    auth: "apiKey",
    request: { schema: api.ChatRequestSchema },
    responses: ok(api.ChatResponseSchema),
  },
  {
    method: "post",
    path: "/v1/recognize",
    summary: "P(yes) that a concept is in each image",
    auth: "apiKey",
    request: { schema: api.RecognizeRequestSchema },
    responses: ok(api.RecognizeResponseSchema),
  },
  {
    method: "post",
    path: "/v1/generate",
    summary: "Image generation (501 until a generation-capable model is configured)",
    auth: "apiKey",
    request: { schema: api.GenerateRequestSchema },
    responses: {
      501: {
        description: "Not configured",
        schema: api.ProblemSchema,
        contentType: "application/problem+json",
      },
    },
  },
  {
    method: "post",
    path: "/v1/internal/jobs/{id}/progress",
    summary: "Trainer node: job progress",
    auth: "hmac",
    request: { schema: api.JobProgressRequestSchema },
    responses: { 200: { description: "Recorded" } },
  },
  {
    method: "post",
    path: "/v1/internal/jobs/{id}/result",
    summary: "Trainer node: job result with the concept artifact",
    auth: "hmac",
    request: { schema: api.JobResultRequestSchema },
    responses: { 200: { description: "Recorded" } },
  },
];

const jsonSchema = (schema: Schema) =>
  toJsonSchema(schema, { target: "draft-2020-12", errorMode: "ignore", typeMode: "input" }) as Record<
    string,
    unknown
  >;

function strip(schema: Record<string, unknown>) {
  const { $schema: _ignored, ...rest } = schema;
  return rest;
}

export function buildOpenApiDocument() {
  const paths: Record<string, Record<string, unknown>> = {};
  for (const op of OPERATIONS) {
    const parameters: unknown[] = [...op.path.matchAll(/\{(\w+)\}/g)].map((m) => ({
      name: m[1],
      in: "path",
      required: true,
      schema: { type: "string" },
    }));
    if (op.query) {
      const query = strip(jsonSchema(op.query)) as { properties?: Record<string, unknown> };
      for (const [name, schema] of Object.entries(query.properties ?? {}))
        parameters.push({ name, in: "query", required: false, schema });
    }
    if (op.idempotent)
      parameters.push({
        name: "Idempotency-Key",
        in: "header",
        required: false,
        schema: { type: "string", maxLength: 255 },
      });
    const responses: Record<string, unknown> = {};
    for (const [status, r] of Object.entries(op.responses)) {
      responses[status] = {
        description: r.description,
        ...(r.schema
          ? { content: { [r.contentType ?? "application/json"]: { schema: strip(jsonSchema(r.schema)) } } }
          : {}),
        ...(r.contentType && !r.schema ? { content: { [r.contentType]: {} } } : {}),
      };
    }
    responses.default = {
      description: "Problem (RFC 9457)",
      content: { "application/problem+json": { schema: { $ref: "#/components/schemas/Problem" } } },
    };
    paths[op.path] ??= {};
    paths[op.path]![op.method] = {
      summary: op.summary,
      security: op.auth === "none" ? [] : [{ [op.auth]: [] }],
      parameters,
      ...(op.request
        ? {
            requestBody: {
              required: true,
              content: {
                [op.request.contentType ?? "application/json"]: {
                  schema: strip(jsonSchema(op.request.schema)),
                },
              },
            },
          }
        : {}),
      responses,
    };
  }
  return {
    openapi: "3.1.0",
    info: {
      title: "yo-edge",
      version: "0.1.0",
      description: "Personalized vision-language concepts at the edge",
    },
    paths,
    components: {
      securitySchemes: {
        apiKey: { type: "http", scheme: "bearer", description: "Tenant API key yo_<prefix>_<secret>" },
        admin: { type: "http", scheme: "bearer", description: "Bootstrap ADMIN_KEY secret" },
        hmac: {
          type: "apiKey",
          in: "header",
          name: "x-yo-signature",
          description: "HMAC-SHA256 with x-yo-timestamp and x-yo-nonce",
        },
      },
      schemas: {
        Problem: {
          ...strip(jsonSchema(api.ProblemSchema)),
          properties: {
            ...(strip(jsonSchema(api.ProblemSchema)).properties as object),
            code: { type: "string", enum: Object.keys(ERROR_CODES) },
          },
        },
      },
    },
  };
}
