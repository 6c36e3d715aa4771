import { createExecutionContext, env } from "cloudflare:test";
import { expect } from "vitest";
import { encodeConceptArtifact } from "../../shared/concept-artifact";
import { signRequest } from "../../shared/hmac";
import worker from "../../workers/index";
import { pngBytes } from "../shared/image-fixtures";

export const TEST_ADMIN_KEY = env.ADMIN_KEY;
export const TEST_HMAC_SECRET = env.HMAC_SECRET;

/**
 * Calls the worker's fetch handler in the test isolate. (exports.default.fetch goes through the pool's
 * loopback, whose per-call cost grows with the number of calls; health.test.ts keeps one call through it.)
 */
export async function call(path: string, init: RequestInit = {}): Promise<Response> {
  return await worker.fetch(new Request(`http://edge${path}`, init), env, createExecutionContext());
}

export function jsonInit(method: string, body: unknown, headers: Record<string, string> = {}): RequestInit {
  return { method, body: JSON.stringify(body), headers: { "content-type": "application/json", ...headers } };
}

export const admin = { authorization: `Bearer ${TEST_ADMIN_KEY}` };

export interface TestTenant {
  tenantId: string;
  keyId: string;
  key: string;
  auth: { authorization: string };
}

let counter = 0;
export function uniqueName(prefix = "c"): string {
  counter++;
  return `<${prefix}${counter}-${Math.random().toString(36).slice(2, 8)}>`;
}

export async function createTenant(scopes?: string[]): Promise<TestTenant> {
  const tenant = await call("/v1/admin/tenants", jsonInit("POST", { name: "acme" }, admin));
  if (tenant.status !== 201) throw new Error(`tenant: ${tenant.status} ${await tenant.text()}`);
  const { id } = (await tenant.json()) as { id: string };
  const created = await call(
    `/v1/admin/tenants/${id}/keys`,
    jsonInit("POST", scopes ? { scopes } : {}, admin),
  );
  const key = (await created.json()) as { id: string; key: string };
  return { tenantId: id, keyId: key.id, key: key.key, auth: { authorization: `Bearer ${key.key}` } };
}

export interface TestConcept {
  id: string;
  name: string;
  status: string;
  current_version: number | null;
  base_model: string;
}

export async function createConcept(
  tenant: TestTenant,
  name = uniqueName(),
  kind = "pet",
): Promise<TestConcept> {
  const res = await call("/v1/concepts", jsonInit("POST", { name, kind }, tenant.auth));
  if (res.status !== 201) throw new Error(`concept: ${res.status} ${await res.text()}`);
  return (await res.json()) as TestConcept;
}

export function artifactBytes(
  name: string,
  version: number,
  repo = "yo/toy-llava",
  fill = 0.25,
  hidden = 8,
  k = 2,
) {
  const row = () => new Float32Array(hidden).fill(fill);
  return encodeConceptArtifact({
    header: {
      format_version: 1,
      model: { repo, revision: "main", config_hash: "abcdef01" },
      name,
      kind: "pet",
      k,
      hidden_size: hidden,
      dtype: "fp16",
      rows: { identifier_input: 1, latent_input: k, identifier_output: 1, generation: 0 },
      training_report: { photos: 3, held_out_accuracy: 0.9 },
      version,
    },
    rows: {
      identifierInput: row(),
      latentInput: Array.from({ length: k }, row),
      identifierOutput: row(),
      generation: [],
    },
  });
}

export function toBase64(bytes: Uint8Array): string {
  let binary = "";
  for (const byte of bytes) binary += String.fromCharCode(byte);
  return btoa(binary);
}

export function photoForm(photos: Uint8Array[], options?: unknown): FormData {
  const form = new FormData();
  for (const [i, bytes] of photos.entries()) {
    form.append("photos", new File([bytes], `p${i}.png`, { type: "image/png" }));
  }
  if (options !== undefined) form.append("options", JSON.stringify(options));
  return form;
}

export const png = (w = 64, h = 64) => pngBytes(w, h);
export const pngDataUrl = (w = 64, h = 64) => `data:image/png;base64,${toBase64(pngBytes(w, h))}`;

export async function signedCall(
  method: string,
  path: string,
  body: unknown,
  options: { now?: number; nonce?: string; secret?: string } = {},
): Promise<Response> {
  const text = JSON.stringify(body);
  const headers = await signRequest(
    options.secret ?? TEST_HMAC_SECRET,
    method,
    path,
    text,
    options.now,
    options.nonce,
  );
  return call(path, { method, body: text, headers: { ...headers, "content-type": "application/json" } });
}

export async function trainConcept(
  tenant: TestTenant,
  concept: TestConcept,
): Promise<{ id: string; status: string }> {
  const res = await call(`/v1/concepts/${concept.id}/train`, {
    method: "POST",
    body: photoForm([png(), png()]),
    headers: tenant.auth,
  });
  if (res.status !== 202) throw new Error(`train: ${res.status} ${await res.text()}`);
  return (await res.json()) as { id: string; status: string };
}

/** Creates a concept and brings it to `ready` the way the node would: train, then a signed result. */
export async function readyConcept(tenant: TestTenant, name = uniqueName()): Promise<TestConcept> {
  const concept = await createConcept(tenant, name);
  const job = await trainConcept(tenant, concept);
  const res = await signedCall("POST", `/v1/internal/jobs/${job.id}/result`, {
    status: "succeeded",
    artifact: toBase64(artifactBytes(concept.name, 1)),
  });
  if (res.status !== 200) throw new Error(`result: ${res.status} ${await res.text()}`);
  return { ...concept, status: "ready", current_version: 1 };
}

export const trainerStub = {
  async mode(mode: "ok" | "down" | "refuse" | "hang") {
    await env.TRAINER!.fetch("http://stub/__stub/mode", { method: "POST", body: JSON.stringify({ mode }) });
  },
  async reset() {
    await env.TRAINER!.fetch("http://stub/__stub/reset", { method: "POST" });
  },
  async requests(): Promise<
    { method: string; path: string; headers: Record<string, string>; body: string }[]
  > {
    return (await (await env.TRAINER!.fetch("http://stub/__stub/requests")).json()) as never;
  },
};

export async function problem(res: Response) {
  expect(res.headers.get("content-type")).toBe("application/problem+json");
  return (await res.json()) as {
    code: string;
    status: number;
    detail?: string;
    request_id: string;
    errors?: unknown[];
  };
}
