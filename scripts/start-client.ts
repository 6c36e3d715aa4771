/**
 * A small typed client for the edge API, as the demo (`npm start`), the end-to-end test and bench:e2e drive
 * it, plus toy photos of a toyworld concept (trainer/toyworld) to train and query with.
 */
import { signRequest } from "../shared/hmac";
import { conceptSamples, encodePng, findConcept, renderSample } from "../trainer/toyworld/index";

export class EdgeCallError extends Error {
  override name = "EdgeCallError";
  constructor(
    readonly status: number,
    readonly body: string,
    what: string,
  ) {
    super(`${what}: ${status} ${body.slice(0, 500)}`);
  }
}

export interface Job {
  id: string;
  status: "queued" | "running" | "succeeded" | "failed" | "cancelled";
  stage: string | null;
  progress: number | null;
  error: string | null;
}

export interface Concept {
  id: string;
  name: string;
  status: string;
  current_version: number | null;
  base_model: string;
}

export const TERMINAL = new Set(["succeeded", "failed", "cancelled"]);
const JOB_POLL_MS = 250;

export class EdgeClient {
  constructor(
    readonly baseUrl: string,
    private readonly auth: string,
  ) {}

  withKey(key: string): EdgeClient {
    return new EdgeClient(this.baseUrl, `Bearer ${key}`);
  }

  async raw(
    method: string,
    path: string,
    body?: string | FormData,
    headers: Record<string, string> = {},
  ): Promise<Response> {
    const send = () =>
      fetch(`${this.baseUrl}${path}`, {
        method,
        headers: { authorization: this.auth, ...headers },
        ...(body === undefined ? {} : { body }),
      });
    try {
      return await send();
    } catch (error) {
      // A pooled keep-alive connection the dev server closed as it was reused: the request never reached a
      // handler; send it once more on a fresh connection.
      const code = (error as { cause?: { code?: string } }).cause?.code;
      // Training uploads are never re-sent (they would queue a second job).
      if ((code !== "UND_ERR_SOCKET" && code !== "ECONNRESET") || body instanceof FormData) throw error;
      return await send();
    }
  }

  async json<T>(method: string, path: string, body?: unknown, expected = [200, 201, 202]): Promise<T> {
    const res = await this.raw(
      method,
      path,
      body === undefined ? undefined : JSON.stringify(body),
      body === undefined ? {} : { "content-type": "application/json" },
    );
    const text = await res.text();
    if (!expected.includes(res.status)) throw new EdgeCallError(res.status, text, `${method} ${path}`);
    return (text ? JSON.parse(text) : undefined) as T;
  }

  /** Admin: a tenant and an API key with every scope. */
  async createTenantAndKey(name: string): Promise<{ tenantId: string; key: string }> {
    const tenant = await this.json<{ id: string }>("POST", "/v1/admin/tenants", { name });
    const key = await this.json<{ key: string }>("POST", `/v1/admin/tenants/${tenant.id}/keys`, {});
    return { tenantId: tenant.id, key: key.key };
  }

  createConcept(name: string, kind = "pet"): Promise<Concept> {
    return this.json<Concept>("POST", "/v1/concepts", { name, kind });
  }

  getConcept(id: string): Promise<Concept> {
    return this.json<Concept>("GET", `/v1/concepts/${id}`);
  }

  async train(
    conceptId: string,
    photos: Uint8Array[],
    options: { latent_tokens?: number; preset?: string } = {},
  ): Promise<Job> {
    const form = new FormData();
    photos.forEach((bytes, i) => {
      form.append("photos", new File([bytes], `photo-${i}.png`, { type: "image/png" }));
    });
    form.append("options", JSON.stringify(options));
    const res = await this.raw("POST", `/v1/concepts/${conceptId}/train`, form);
    const text = await res.text();
    if (res.status !== 202) throw new EdgeCallError(res.status, text, "train");
    return JSON.parse(text) as Job;
  }

  getJob(id: string): Promise<Job> {
    return this.json<Job>("GET", `/v1/jobs/${id}`);
  }

  /** Polls the job until it ends, or `until` holds, or `timeoutMs` passes (then throws). */
  async waitForJob(
    id: string,
    timeoutMs: number,
    until: (job: Job) => boolean = (j) => TERMINAL.has(j.status),
  ): Promise<Job> {
    const deadline = Date.now() + timeoutMs;
    let job = await this.getJob(id);
    while (!until(job)) {
      if (Date.now() > deadline)
        throw new Error(`job ${id} still ${job.status} (${job.stage}) after ${timeoutMs} ms`);
      await new Promise((resolve) => setTimeout(resolve, JOB_POLL_MS));
      job = await this.getJob(id);
    }
    return job;
  }

  recognize(concept: string, images: Uint8Array[]): Promise<{ results: { index: number; p_yes: number }[] }> {
    return this.json("POST", "/v1/recognize", { concept, images: images.map(pngDataUrl) });
  }
}

export function pngDataUrl(bytes: Uint8Array): string {
  return `data:image/png;base64,${Buffer.from(bytes).toString("base64")}`;
}

/** Toy photos of a toyworld concept: training positives, and held-out positives and negatives. */
export async function toyPhotos(
  name: string,
  counts: { train: number; heldOut: number },
): Promise<{ train: Uint8Array[]; positives: Uint8Array[]; negatives: Uint8Array[] }> {
  const concept = findConcept(name);
  const train = conceptSamples(concept, "train", {
    positives: counts.train,
    hardNegatives: 0,
    easyNegatives: 0,
  });
  const test = conceptSamples(concept, "test", {
    positives: counts.heldOut,
    hardNegatives: Math.ceil(counts.heldOut / 2),
    easyNegatives: Math.floor(counts.heldOut / 2),
  });
  const png = async (samples: readonly Parameters<typeof renderSample>[0][]) =>
    Promise.all(samples.map(async (s) => new Uint8Array(await encodePng(renderSample(s)))));
  return {
    train: await png(train.positives),
    positives: await png(test.positives),
    negatives: await png([...test.hardNegatives, ...test.easyNegatives]),
  };
}

/** A signed call to the trainer node, as the edge makes them (for checks the edge has no route for). */
export async function signedTrainerCall(
  baseUrl: string,
  secret: string,
  method: string,
  path: string,
  body = "",
): Promise<Response> {
  const headers = await signRequest(secret, method, path, body);
  return await fetch(`${baseUrl}${path}`, {
    method,
    headers: { ...headers, "content-type": "application/json", "x-request-id": "e2e" },
    ...(method === "GET" ? {} : { body }),
  });
}
