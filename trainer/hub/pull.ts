// `pull`: a Hub repo snapshot into the local model cache, resumable and checksummed.
//
// Metadata goes through @huggingface/hub (modelInfo for the commit, listFiles for the tree with sizes and
// oids, fileDownloadInfo for the resolve probe). File bodies are fetched here with explicit Range requests,
// because resuming needs the 206/Content-Range answer checked (a server that ignores Range must not be
// appended to a partial file) and a mid-stream failure retried from the bytes already on disk; the
// library's WebBlob does neither.
//
// Layout: <cacheDir>/<owner>/<name>/<commit>/<path> (immutable per commit), <cacheDir>/<owner>/<name>/refs/
// <revision> holding the commit, partial downloads as <path>.incomplete beside their final path. A file
// is moved to its final path only after its size and hash match the tree: sha256 = lfs.oid for LFS files,
// the git blob sha1 (`blob <size>\0<bytes>`) = oid for the others.

import { createHash, type Hash } from "node:crypto";
import { createReadStream, existsSync, promises as fsp } from "node:fs";
import { homedir } from "node:os";
import { dirname, join, resolve, sep } from "node:path";
import { fileDownloadInfo, HubApiError, type ListFileEntry, listFiles, modelInfo } from "@huggingface/hub";

/** Defaults, overridable per call; documented in trainer/hub/README.md. */
export const DEFAULT_HUB_ENDPOINT = "https://huggingface.co";
export const DEFAULT_CACHE_DIR = join(homedir(), ".cache", "yo-edge", "models");
/** Attempts per file after a dropped connection (each resumes from the bytes on disk). */
export const DEFAULT_MAX_ATTEMPTS = 5;

export const PULL_ERROR_CODES = [
  "unauthorized",
  "forbidden",
  "not_found",
  "bad_request",
  "checksum_mismatch",
  "size_mismatch",
  "revision_moved",
  "network",
  "bad_response",
] as const;
export type PullErrorCode = (typeof PULL_ERROR_CODES)[number];

export class PullError extends Error {
  override name = "PullError";
  constructor(
    readonly code: PullErrorCode,
    message: string,
    readonly path?: string,
  ) {
    super(message);
  }
}

export interface PullOptions {
  /** "owner/name" of a model repo. */
  repo: string;
  /** Branch, tag or commit (default "main"). */
  revision?: string;
  /** Globs over repo paths (fnmatch-style: `*` also crosses "/", `?` one character); none = every file. */
  allow?: string[];
  cacheDir?: string;
  /** Hub base URL; default $HF_ENDPOINT, else https://huggingface.co. */
  endpoint?: string;
  /** Default $HF_TOKEN. */
  token?: string;
  maxAttempts?: number;
  fetch?: typeof fetch;
  onProgress?: (event: PullProgress) => void;
}

export type PullProgress =
  | { kind: "file-start"; path: string; size: number; resumeFrom: number }
  | { kind: "file-done"; path: string; size: number; downloaded: boolean }
  | { kind: "retry"; path: string; attempt: number; resumeFrom: number; reason: string };

export interface PulledFile {
  path: string;
  size: number;
  /** False when a verified copy was already in the cache. */
  downloaded: boolean;
}

export interface PullResult {
  repo: string;
  revision: string;
  commit: string;
  /** The snapshot directory: <cacheDir>/<owner>/<name>/<commit>. */
  dir: string;
  files: PulledFile[];
}

const MANIFEST = ".yo-edge-pull.json";

interface Manifest {
  commit: string;
  files: Record<string, { size: number; hash: string }>;
}

export async function pull(options: PullOptions): Promise<PullResult> {
  const repo = checkRepoName(options.repo);
  const revision = options.revision ?? "main";
  const endpoint = (options.endpoint ?? process.env.HF_ENDPOINT ?? DEFAULT_HUB_ENDPOINT).replace(/\/+$/, "");
  const token = (options.token ?? process.env.HF_TOKEN) || undefined;
  const fetchImpl = options.fetch ?? fetch;
  const credentials = token === undefined ? {} : { accessToken: token };
  const hub = { hubUrl: endpoint, fetch: fetchImpl, ...credentials };

  const info = await hubCall(() => modelInfo({ ...hub, name: repo, revision, additionalFields: ["sha"] }));
  const commit = (info as { sha?: unknown }).sha;
  if (typeof commit !== "string" || !/^[0-9a-f]{40}$/.test(commit)) {
    throw new PullError("bad_response", `no commit sha for ${repo}@${revision}`);
  }
  const entries: ListFileEntry[] = [];
  await hubCall(async () => {
    for await (const entry of listFiles({ ...hub, repo, revision: commit, recursive: true }))
      entries.push(entry);
  });
  const matchers = (options.allow ?? []).map(globToRegExp);
  const wanted = entries.filter(
    (e) => e.type === "file" && (matchers.length === 0 || matchers.some((m) => m.test(e.path))),
  );

  const repoDir = join(options.cacheDir ?? DEFAULT_CACHE_DIR, ...repo.split("/"));
  const dir = join(repoDir, commit);
  await fsp.mkdir(dir, { recursive: true });
  const manifest = await readManifest(dir, commit);
  const files: PulledFile[] = [];
  for (const entry of wanted) {
    const target = safeJoin(dir, entry.path);
    const expected = expectedHash(entry);
    const known = manifest.files[entry.path];
    const size = entry.lfs?.size ?? entry.size;
    if (known && known.size === size && known.hash === expected.value && (await sizeOf(target)) === size) {
      files.push({ path: entry.path, size, downloaded: false });
      options.onProgress?.({ kind: "file-done", path: entry.path, size, downloaded: false });
      continue;
    }
    await downloadVerified({
      ...options,
      endpoint,
      token,
      fetchImpl,
      repo,
      commit,
      entry,
      target,
      size,
      expected,
    });
    manifest.files[entry.path] = { size, hash: expected.value };
    await writeManifest(dir, manifest);
    files.push({ path: entry.path, size, downloaded: true });
    options.onProgress?.({ kind: "file-done", path: entry.path, size, downloaded: true });
  }
  await fsp.mkdir(join(repoDir, "refs"), { recursive: true });
  await fsp.writeFile(join(repoDir, "refs", encodeURIComponent(revision)), commit);
  return { repo, revision, commit, dir, files };
}

interface DownloadJob {
  endpoint: string;
  token: string | undefined;
  fetchImpl: typeof fetch;
  repo: string;
  commit: string;
  entry: ListFileEntry;
  target: string;
  size: number;
  expected: ExpectedHash;
  maxAttempts?: number;
  onProgress?: (event: PullProgress) => void;
}

async function downloadVerified(job: DownloadJob): Promise<void> {
  const { entry, target, size } = job;
  const credentials = job.token === undefined ? {} : { accessToken: job.token };
  const probe = await hubCall(
    () =>
      fileDownloadInfo({
        repo: job.repo,
        path: entry.path,
        revision: job.commit,
        hubUrl: job.endpoint,
        fetch: job.fetchImpl,
        ...credentials,
      }),
    entry.path,
  );
  if (probe === null)
    throw new PullError("not_found", `${entry.path} is not in ${job.repo}@${job.commit}`, entry.path);
  if (probe.size !== size) {
    throw new PullError(
      "size_mismatch",
      `${entry.path}: tree says ${size} bytes, server ${probe.size}`,
      entry.path,
    );
  }
  // The resolve probe's (X-Linked-)ETag is the same hash as the tree's oid; disagreeing metadata fails early.
  const etag = probe.etag.replace(/^W\//, "").replace(/"/g, "");
  if (etag.length === job.expected.value.length && /^[0-9a-f]+$/.test(etag) && etag !== job.expected.value) {
    throw new PullError(
      "checksum_mismatch",
      `${entry.path}: ETag ${etag} but tree says ${job.expected.value}`,
      entry.path,
    );
  }
  const url = `${job.endpoint}/${job.repo}/resolve/${job.commit}/${entry.path.split("/").map(encodeURIComponent).join("/")}`;
  const partial = `${target}.incomplete`;
  await fsp.mkdir(dirname(target), { recursive: true });
  const maxAttempts = job.maxAttempts ?? DEFAULT_MAX_ATTEMPTS;
  let have = await sizeOf(partial);
  if (have > size) {
    await fsp.rm(partial, { force: true });
    have = 0;
  }
  job.onProgress?.({ kind: "file-start", path: entry.path, size, resumeFrom: have });
  for (let attempt = 1; have < size || size === 0; attempt++) {
    try {
      have = await fetchInto(job, url, partial, have, size);
      if (size === 0 && have === 0) await fsp.writeFile(partial, new Uint8Array(0));
      break;
    } catch (error) {
      if (error instanceof PullError && error.code !== "network") throw error;
      have = await sizeOf(partial);
      if (attempt >= maxAttempts) {
        throw new PullError(
          "network",
          `${entry.path}: gave up after ${attempt} attempts: ${String(error)}`,
          entry.path,
        );
      }
      job.onProgress?.({ kind: "retry", path: entry.path, attempt, resumeFrom: have, reason: String(error) });
    }
  }
  const actual = await hashFile(partial, job.expected.algorithm, size);
  if (actual !== job.expected.value) {
    await fsp.rm(partial, { force: true });
    throw new PullError(
      "checksum_mismatch",
      `${entry.path}: ${job.expected.algorithm} ${actual} does not match ${job.expected.value}`,
      entry.path,
    );
  }
  await fsp.rename(partial, target);
}

/** One ranged GET appended to `partial`; returns the bytes on disk afterwards. */
async function fetchInto(
  job: DownloadJob,
  url: string,
  partial: string,
  have: number,
  size: number,
): Promise<number> {
  const headers: Record<string, string> = {};
  if (job.token !== undefined) headers.Authorization = `Bearer ${job.token}`;
  if (have > 0) headers.Range = `bytes=${have}-`;
  let response: Response;
  try {
    response = await job.fetchImpl(url, { headers });
  } catch (error) {
    throw new PullError("network", `request failed: ${String(error)}`, job.entry.path);
  }
  if (!response.ok)
    throw statusError(response.status, `${job.entry.path}: HTTP ${response.status}`, job.entry.path);
  const commitHeader = response.headers.get("x-repo-commit");
  if (commitHeader !== null && commitHeader !== job.commit) {
    throw new PullError("revision_moved", `${job.entry.path}: served from ${commitHeader}`, job.entry.path);
  }
  let offset = 0;
  if (have > 0) {
    if (response.status === 206) {
      const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(response.headers.get("content-range") ?? "");
      if (range === null || Number(range[1]) !== have) {
        throw new PullError("bad_response", `${job.entry.path}: unexpected Content-Range`, job.entry.path);
      }
      offset = have;
    } else {
      // The server ignored the Range header: start over rather than append the whole file again.
      await fsp.rm(partial, { force: true });
    }
  }
  const handle = await fsp.open(partial, offset > 0 ? "a" : "w");
  let written = offset;
  try {
    if (response.body === null) throw new PullError("bad_response", "no response body", job.entry.path);
    for await (const chunk of response.body as unknown as AsyncIterable<Uint8Array>) {
      if (written + chunk.length > size) {
        throw new PullError(
          "size_mismatch",
          `${job.entry.path}: more than ${size} bytes served`,
          job.entry.path,
        );
      }
      await handle.write(chunk);
      written += chunk.length;
    }
  } catch (error) {
    if (error instanceof PullError) throw error;
    throw new PullError("network", `connection lost at byte ${written}: ${String(error)}`, job.entry.path);
  } finally {
    await handle.close();
  }
  if (written !== size) {
    throw new PullError(
      "network",
      `${job.entry.path}: stream ended at ${written} of ${size} bytes`,
      job.entry.path,
    );
  }
  return written;
}

interface ExpectedHash {
  algorithm: "sha256" | "git-sha1";
  value: string;
}

function expectedHash(entry: ListFileEntry): ExpectedHash {
  if (entry.lfs) return { algorithm: "sha256", value: entry.lfs.oid };
  if (!entry.oid) throw new PullError("bad_response", `${entry.path} has no oid in the tree`, entry.path);
  return { algorithm: "git-sha1", value: entry.oid };
}

async function hashFile(path: string, algorithm: ExpectedHash["algorithm"], size: number): Promise<string> {
  let hash: Hash;
  if (algorithm === "sha256") hash = createHash("sha256");
  else {
    hash = createHash("sha1");
    hash.update(`blob ${size}\0`);
  }
  for await (const chunk of createReadStream(path)) hash.update(chunk as Buffer);
  return hash.digest("hex");
}

async function sizeOf(path: string): Promise<number> {
  try {
    return (await fsp.stat(path)).size;
  } catch {
    return 0;
  }
}

async function readManifest(dir: string, commit: string): Promise<Manifest> {
  const path = join(dir, MANIFEST);
  if (!existsSync(path)) return { commit, files: {} };
  try {
    const manifest = JSON.parse(await fsp.readFile(path, "utf8")) as Manifest;
    return manifest.commit === commit ? manifest : { commit, files: {} };
  } catch {
    return { commit, files: {} };
  }
}

async function writeManifest(dir: string, manifest: Manifest): Promise<void> {
  const path = join(dir, MANIFEST);
  await fsp.writeFile(`${path}.tmp`, JSON.stringify(manifest, null, 1));
  await fsp.rename(`${path}.tmp`, path);
}

function checkRepoName(repo: string): string {
  if (!/^[A-Za-z0-9][\w.-]*\/[A-Za-z0-9][\w.-]*$/.test(repo) || repo.includes("..")) {
    throw new PullError("bad_request", `bad repo name ${JSON.stringify(repo)}`);
  }
  return repo;
}

/** A repo path under `dir`, refusing anything that would escape it. */
function safeJoin(dir: string, path: string): string {
  const target = resolve(dir, path);
  if (!target.startsWith(resolve(dir) + sep) || path.endsWith(".incomplete") || path === MANIFEST) {
    throw new PullError("bad_response", `refusing repo path ${JSON.stringify(path)}`, path);
  }
  return target;
}

/** fnmatch-style glob (as huggingface_hub's allow_patterns): `*` any run (including "/"), `?` one character. */
export function globToRegExp(glob: string): RegExp {
  let source = "";
  for (const ch of glob) {
    if (ch === "*") source += ".*";
    else if (ch === "?") source += ".";
    else source += ch.replace(/[.+^${}()|[\]\\]/g, "\\$&");
  }
  return new RegExp(`^${source}$`);
}

function statusError(status: number, message: string, path?: string): PullError {
  if (status === 401)
    return new PullError("unauthorized", `${message} (set HF_TOKEN for gated or private repos)`, path);
  if (status === 403) return new PullError("forbidden", message, path);
  if (status === 404) return new PullError("not_found", message, path);
  return new PullError("bad_response", message, path);
}

async function hubCall<T>(call: () => Promise<T>, path?: string): Promise<T> {
  try {
    return await call();
  } catch (error) {
    if (error instanceof PullError) throw error;
    if (error instanceof HubApiError) throw statusError(error.statusCode, error.message, path);
    if (error instanceof TypeError && /access token/i.test(error.message)) {
      throw new PullError("bad_request", error.message, path);
    }
    throw new PullError("network", String(error), path);
  }
}
