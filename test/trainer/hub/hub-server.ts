// A local stand-in for the Hugging Face Hub on 127.0.0.1, serving exactly the calls @huggingface/hub 2.17.5
// and trainer/hub/pull.ts make:
//   GET /api/models/<owner>/<name>/revision/<rev>?expand=...   modelInfo (sha, gated, private)
//   GET /api/models/<owner>/<name>/tree/<rev>?recursive=&expand= listFiles (paginated with Link: rel="next")
//   GET /<owner>/<name>/resolve/<rev>/<path>                    fileDownloadInfo probe (Range: bytes=0-0) and
//       downloads: small files served directly (ETag = git blob oid), LFS files 302 to /cdn/<sha256> with
//       X-Linked-ETag / X-Linked-Size / X-Repo-Commit, as the Hub does; Range answered with 206.
// Knobs: `gated` (401 without a token, 403 with a wrong one), `cutOnce` (drop the connection halfway through
// a file body once), `corrupt` (serve one flipped byte while the tree keeps the real hashes).

import { createHash } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

export interface FakeFile {
  path: string;
  bytes: Uint8Array;
  lfs: boolean;
}

export interface FakeRepo {
  name: string;
  branch: string;
  commit: string;
  files: FakeFile[];
  gated?: boolean;
}

export interface RequestRecord {
  method: string;
  path: string;
  range: string | undefined;
  authorization: string | undefined;
  status: number;
}

export interface HubServer {
  url: string;
  log: RequestRecord[];
  /** Paths whose next body response is cut after half the bytes. */
  cutOnce: Set<string>;
  /** Paths served with one byte flipped. */
  corrupt: Set<string>;
  /** Paths whose resolve response advertises a wrong (X-Linked-)ETag. */
  badEtag: Set<string>;
  close(): Promise<void>;
}

export const GOOD_TOKEN = "hf_test_token_with_access";
const TREE_PAGE_SIZE = 3;

export function gitBlobOid(bytes: Uint8Array): string {
  return createHash("sha1").update(`blob ${bytes.length}\0`).update(bytes).digest("hex");
}

export function sha256(bytes: Uint8Array): string {
  return createHash("sha256").update(bytes).digest("hex");
}

function lfsPointer(file: FakeFile): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256(file.bytes)}\nsize ${file.bytes.length}\n`;
}

function treeEntries(repo: FakeRepo): unknown[] {
  const dirs = new Set<string>();
  for (const f of repo.files) {
    const parts = f.path.split("/");
    for (let i = 1; i < parts.length; i++) dirs.add(parts.slice(0, i).join("/"));
  }
  const files = repo.files.map((f) => {
    if (!f.lfs) return { type: "file", oid: gitBlobOid(f.bytes), size: f.bytes.length, path: f.path };
    const pointer = new TextEncoder().encode(lfsPointer(f));
    return {
      type: "file",
      oid: gitBlobOid(pointer),
      size: f.bytes.length,
      path: f.path,
      lfs: { oid: sha256(f.bytes), size: f.bytes.length, pointerSize: pointer.length },
    };
  });
  return [
    ...[...dirs].map((d) => ({
      type: "directory",
      oid: gitBlobOid(new TextEncoder().encode(d)),
      size: 0,
      path: d,
    })),
    ...files,
  ];
}

export async function startHubServer(repos: FakeRepo[]): Promise<HubServer> {
  const log: RequestRecord[] = [];
  const cutOnce = new Set<string>();
  const corrupt = new Set<string>();
  const badEtag = new Set<string>();
  const byName = new Map(repos.map((r) => [r.name, r]));
  const blobs = new Map<string, { repo: FakeRepo; file: FakeFile }>();
  for (const repo of repos)
    for (const file of repo.files) if (file.lfs) blobs.set(sha256(file.bytes), { repo, file });

  const server: Server = createServer((req, res) => {
    const url = new URL(req.url ?? "/", "http://127.0.0.1");
    const record: RequestRecord = {
      method: req.method ?? "GET",
      path: decodeURIComponent(url.pathname),
      range: req.headers.range,
      authorization: req.headers.authorization,
      status: 0,
    };
    log.push(record);
    const send = (status: number, body: string | Uint8Array, headers: Record<string, string> = {}) => {
      record.status = status;
      res.writeHead(status, headers);
      res.end(body);
    };
    const json = (status: number, body: unknown, headers: Record<string, string> = {}) =>
      send(status, JSON.stringify(body), { "Content-Type": "application/json", ...headers });

    const revisionOf = (repo: FakeRepo, rev: string) =>
      rev === repo.branch || rev === repo.commit ? repo.commit : null;
    const api = /^\/api\/models\/([^/]+\/[^/]+)\/(revision|tree)\/([^/]+)$/.exec(url.pathname);
    if (api) {
      const repo = byName.get(api[1]!);
      if (!repo) return json(401, { error: "Repository not found" }, { "X-Error-Code": "RepoNotFound" });
      const commit = revisionOf(repo, decodeURIComponent(api[3]!));
      if (!commit) return json(404, { error: "Invalid rev id" }, { "X-Error-Code": "RevisionNotFound" });
      if (api[2] === "revision") {
        return json(200, {
          _id: `id-${repo.name}`,
          id: repo.name,
          sha: commit,
          private: false,
          gated: repo.gated ? "auto" : false,
          downloads: 0,
          likes: 0,
          lastModified: "2026-01-01T00:00:00.000Z",
          siblings: repo.files.map((f) => ({ rfilename: f.path })),
        });
      }
      const entries = treeEntries(repo);
      const cursor = Number(url.searchParams.get("cursor") ?? "0");
      const page = entries.slice(cursor, cursor + TREE_PAGE_SIZE);
      const headers: Record<string, string> = {};
      if (cursor + TREE_PAGE_SIZE < entries.length) {
        const next = new URL(url.href.replace("http://127.0.0.1", serverUrl));
        next.searchParams.set("cursor", String(cursor + TREE_PAGE_SIZE));
        headers.Link = `<${next.href}>; rel="next"`;
      }
      return json(200, page, headers);
    }

    const resolve = /^\/([^/]+\/[^/]+)\/resolve\/([^/]+)\/(.+)$/.exec(url.pathname);
    if (resolve) {
      const repo = byName.get(resolve[1]!);
      if (!repo) return json(401, { error: "Repository not found" }, { "X-Error-Code": "RepoNotFound" });
      if (repo.gated) {
        const auth = req.headers.authorization;
        if (auth === undefined) {
          return json(
            401,
            { error: `Access to model ${repo.name} is restricted.` },
            { "X-Error-Code": "GatedRepo" },
          );
        }
        if (auth !== `Bearer ${GOOD_TOKEN}`) {
          return json(
            403,
            { error: `Access to model ${repo.name} is restricted.` },
            { "X-Error-Code": "GatedRepo" },
          );
        }
      }
      const commit = revisionOf(repo, decodeURIComponent(resolve[2]!));
      const path = resolve[3]!.split("/").map(decodeURIComponent).join("/");
      const file = repo.files.find((f) => f.path === path);
      if (!commit || !file)
        return json(404, { error: "Entry not found" }, { "X-Error-Code": "EntryNotFound" });
      const common = { "X-Repo-Commit": commit };
      if (file.lfs) {
        const hash = sha256(file.bytes);
        record.status = 302;
        res.writeHead(302, {
          ...common,
          Location: `${serverUrl}/cdn/${hash}`,
          "X-Linked-ETag": `"${badEtag.has(path) ? sha256(new Uint8Array(1)) : hash}"`,
          "X-Linked-Size": String(file.bytes.length),
          ETag: `"${gitBlobOid(new TextEncoder().encode(lfsPointer(file)))}"`,
        });
        return res.end();
      }
      return serveBody(req, res, record, file, { ...common, ETag: `"${gitBlobOid(file.bytes)}"` });
    }

    const cdn = /^\/cdn\/([0-9a-f]{64})$/.exec(url.pathname);
    if (cdn) {
      const blob = blobs.get(cdn[1]!);
      if (!blob) return send(404, "no such blob");
      const etag = badEtag.has(blob.file.path) ? sha256(new Uint8Array(1)) : cdn[1];
      return serveBody(req, res, record, blob.file, { ETag: `"${etag}"` });
    }
    return send(404, "not found");
  });

  function serveBody(
    req: IncomingMessage,
    res: ServerResponse,
    record: RequestRecord,
    file: FakeFile,
    headers: Record<string, string>,
  ): void {
    let bytes = file.bytes;
    if (corrupt.has(file.path)) {
      bytes = new Uint8Array(bytes); // a copy (Buffer.slice would be a view)
      bytes[Math.floor(bytes.length / 2)]! ^= 0xff;
    }
    const total = bytes.length;
    let start = 0;
    let end = total - 1;
    let status = 200;
    const range = /^bytes=(\d+)-(\d*)$/.exec(req.headers.range ?? "");
    if (range) {
      start = Number(range[1]);
      end = range[2] ? Math.min(Number(range[2]), total - 1) : total - 1;
      if (start >= total) {
        record.status = 416;
        res.writeHead(416, { "Content-Range": `bytes */${total}` });
        return void res.end();
      }
      status = 206;
    }
    const body = bytes.subarray(start, end + 1);
    record.status = status;
    res.writeHead(status, {
      ...headers,
      "Content-Type": "application/octet-stream",
      "Content-Length": String(body.length),
      "Accept-Ranges": "bytes",
      ...(status === 206 ? { "Content-Range": `bytes ${start}-${end}/${total}` } : {}),
    });
    if (body.length > 1 && cutOnce.has(file.path)) {
      cutOnce.delete(file.path);
      const half = Math.floor(body.length / 2);
      res.write(body.subarray(0, half), () => setTimeout(() => res.socket?.destroy(), 20));
      return;
    }
    res.end(body);
  }

  await new Promise<void>((ok) => server.listen(0, "127.0.0.1", ok));
  const serverUrl = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  return {
    url: serverUrl,
    log,
    cutOnce,
    corrupt,
    badEtag,
    close: () =>
      new Promise<void>((ok) => {
        server.closeAllConnections();
        server.close(() => ok());
      }),
  };
}
