import { promises as fsp, readFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { pullCli } from "../../../trainer/hub/cli";
import { globToRegExp, PullError, type PullProgress, pull } from "../../../trainer/hub/pull";
import {
  type FakeFile,
  type FakeRepo,
  GOOD_TOKEN,
  type HubServer,
  sha256,
  startHubServer,
} from "./hub-server";

const SNAPSHOT = join(import.meta.dirname, "../../fixtures/hub/snapshot");
const TOKENIZER = join(import.meta.dirname, "../../fixtures/tokenizers/llava/tokenizer.json");

/** Deterministic "weights": the fixture snapshot's one generated file (keeps binary blobs out of git). */
function weights(size: number): Uint8Array {
  const out = new Uint8Array(size);
  let x = 0x12345678;
  for (let i = 0; i < size; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    out[i] = x & 0xff;
  }
  return out;
}

function snapshotFiles(): FakeFile[] {
  const text = [
    "README.md",
    "config.json",
    "special_tokens_map.json",
    "tokenizer_config.json",
    "sub/notes.txt",
  ];
  return [
    ...text.map((path) => ({ path, bytes: readFileSync(join(SNAPSHOT, path)), lfs: false })),
    { path: "tokenizer.json", bytes: readFileSync(TOKENIZER), lfs: true },
    { path: "model.safetensors", bytes: weights(300_000), lfs: true },
  ];
}

const COMMIT = "0123456789abcdef0123456789abcdef01234567";
const GATED_COMMIT = "fedcba9876543210fedcba9876543210fedcba98";
const repos: FakeRepo[] = [
  { name: "yo-edge/tiny", branch: "main", commit: COMMIT, files: snapshotFiles() },
  { name: "yo-edge/gated", branch: "main", commit: GATED_COMMIT, files: snapshotFiles(), gated: true },
];

let server: HubServer;
let cacheDir: string;

beforeAll(async () => {
  server = await startHubServer(repos);
});
afterAll(async () => {
  await server.close();
});
beforeEach(async () => {
  cacheDir = await fsp.mkdtemp(join(tmpdir(), "yo-edge-pull-"));
  server.log.length = 0;
  server.cutOnce.clear();
  server.corrupt.clear();
  server.badEtag.clear();
});
afterEach(async () => {
  vi.unstubAllEnvs();
  await fsp.rm(cacheDir, { recursive: true, force: true });
});

const base = () => ({ endpoint: server.url, cacheDir, token: "" as string | undefined });
const fileBytes = (name: string, path: string) =>
  repos.find((r) => r.name === name)!.files.find((f) => f.path === path)!.bytes;
const bodyRequests = (path: string) =>
  server.log.filter(
    (r) =>
      (r.path.endsWith(`/resolve/${COMMIT}/${path}`) || r.path.startsWith("/cdn/")) &&
      r.range !== "bytes=0-0",
  );

async function codeOf(promise: Promise<unknown>): Promise<string> {
  try {
    await promise;
    return "ok";
  } catch (error) {
    expect(error).toBeInstanceOf(PullError);
    return (error as PullError).code;
  }
}

describe("pull from a local Hub", () => {
  it("downloads the whole snapshot, verified, and then serves it from the cache", async () => {
    const result = await pull({ ...base(), repo: "yo-edge/tiny", token: undefined });
    expect(result.commit).toBe(COMMIT);
    expect(result.dir).toBe(join(cacheDir, "yo-edge", "tiny", COMMIT));
    const repo = repos[0]!;
    expect(result.files.map((f) => f.path).sort()).toEqual(repo.files.map((f) => f.path).sort());
    for (const file of repo.files) {
      const bytes = await fsp.readFile(join(result.dir, file.path));
      expect(sha256(bytes), file.path).toBe(sha256(file.bytes));
    }
    expect(await fsp.readFile(join(cacheDir, "yo-edge", "tiny", "refs", "main"), "utf8")).toBe(COMMIT);
    // The tree was paginated (Link: rel="next") and LFS files went through the CDN redirect.
    expect(server.log.filter((r) => r.path.includes("/tree/")).length).toBeGreaterThan(1);
    expect(server.log.some((r) => r.path.startsWith("/cdn/"))).toBe(true);

    server.log.length = 0;
    const again = await pull({ ...base(), repo: "yo-edge/tiny", token: undefined });
    expect(again.files.every((f) => !f.downloaded)).toBe(true);
    expect(server.log.some((r) => r.path.includes("/resolve/"))).toBe(false);
  });

  it("resumes a file whose connection dropped halfway, with a Range request", async () => {
    server.cutOnce.add("model.safetensors");
    const events: PullProgress[] = [];
    const result = await pull({
      ...base(),
      repo: "yo-edge/tiny",
      allow: ["*.safetensors"],
      onProgress: (e) => events.push(e),
    });
    const bytes = await fsp.readFile(join(result.dir, "model.safetensors"));
    expect(sha256(bytes)).toBe(sha256(fileBytes("yo-edge/tiny", "model.safetensors")));
    const retry = events.find((e) => e.kind === "retry");
    expect(retry).toBeDefined();
    const resumeFrom = (retry as { resumeFrom: number }).resumeFrom;
    expect(resumeFrom).toBeGreaterThan(0);
    const bodies = bodyRequests("model.safetensors").filter((r) => r.path.startsWith("/cdn/"));
    expect(bodies.map((r) => r.range)).toEqual([undefined, `bytes=${resumeFrom}-`]);
    expect(bodies[1]!.status).toBe(206);
  });

  it("resumes a partial file left by an earlier run", async () => {
    const dir = join(cacheDir, "yo-edge", "tiny", COMMIT);
    await fsp.mkdir(dir, { recursive: true });
    const full = fileBytes("yo-edge/tiny", "model.safetensors");
    await fsp.writeFile(join(dir, "model.safetensors.incomplete"), full.subarray(0, 123_457));
    await pull({ ...base(), repo: "yo-edge/tiny", allow: ["model.safetensors"] });
    const bodies = bodyRequests("model.safetensors").filter((r) => r.path.startsWith("/cdn/"));
    expect(bodies.map((r) => r.range)).toEqual(["bytes=123457-"]);
    expect(sha256(await fsp.readFile(join(dir, "model.safetensors")))).toBe(sha256(full));
  });

  it("rejects a file whose bytes do not match the tree's hash and leaves nothing behind", async () => {
    server.corrupt.add("model.safetensors");
    expect(await codeOf(pull({ ...base(), repo: "yo-edge/tiny", allow: ["model.safetensors"] }))).toBe(
      "checksum_mismatch",
    );
    server.corrupt.clear();
    server.corrupt.add("config.json"); // a plain git file: checked against its blob oid
    expect(await codeOf(pull({ ...base(), repo: "yo-edge/tiny", allow: ["config.json"] }))).toBe(
      "checksum_mismatch",
    );
    const dir = join(cacheDir, "yo-edge", "tiny", COMMIT);
    const left = (await fsp.readdir(dir)).filter((f) => !f.startsWith(".yo-edge-pull"));
    expect(left).toEqual([]);
  });

  it("refuses a file whose resolve ETag disagrees with the tree, before downloading it", async () => {
    server.badEtag.add("model.safetensors");
    expect(await codeOf(pull({ ...base(), repo: "yo-edge/tiny", allow: ["model.safetensors"] }))).toBe(
      "checksum_mismatch",
    );
    expect(server.log.some((r) => r.path.startsWith("/cdn/") && r.range !== "bytes=0-0")).toBe(false);
  });

  it("needs a token for a gated repo: 401 without, 403 with a wrong one, success with HF_TOKEN", async () => {
    expect(await codeOf(pull({ ...base(), repo: "yo-edge/gated", token: undefined }))).toBe("unauthorized");
    expect(await codeOf(pull({ ...base(), repo: "yo-edge/gated", token: "hf_wrong" }))).toBe("forbidden");
    vi.stubEnv("HF_TOKEN", GOOD_TOKEN);
    vi.stubEnv("HF_ENDPOINT", server.url);
    const result = await pull({ repo: "yo-edge/gated", cacheDir, allow: ["config.json"] });
    expect(result.commit).toBe(GATED_COMMIT);
    const resolves = server.log.filter((r) => r.path.includes("/resolve/") && r.status < 400);
    expect(resolves.length).toBeGreaterThan(0);
    expect(resolves.every((r) => r.authorization === `Bearer ${GOOD_TOKEN}`)).toBe(true);
  });

  it("downloads only what the allowlist names", async () => {
    const result = await pull({ ...base(), repo: "yo-edge/tiny", allow: ["*.json", "tokenizer*"] });
    const expected = ["config.json", "special_tokens_map.json", "tokenizer.json", "tokenizer_config.json"];
    expect(result.files.map((f) => f.path).sort()).toEqual(expected);
    const onDisk = (await fsp.readdir(result.dir)).filter((f) => !f.startsWith(".")).sort();
    expect(onDisk).toEqual(expected);
    expect(server.log.some((r) => r.path.includes("model.safetensors"))).toBe(false);
  });

  it("reports unknown repos and revisions", async () => {
    expect(await codeOf(pull({ ...base(), repo: "yo-edge/tiny", revision: "nope" }))).toBe("not_found");
    expect(await codeOf(pull({ ...base(), repo: "yo-edge/missing" }))).toBe("unauthorized");
    expect(await codeOf(pull({ ...base(), repo: "../etc" }))).toBe("bad_request");
  });
});

describe("globToRegExp", () => {
  it("matches like fnmatch", () => {
    expect(globToRegExp("*.json").test("config.json")).toBe(true);
    expect(globToRegExp("*.json").test("sub/config.json")).toBe(true);
    expect(globToRegExp("tokenizer*").test("tokenizer_config.json")).toBe(true);
    expect(globToRegExp("model-?.bin").test("model-1.bin")).toBe(true);
    expect(globToRegExp("*.json").test("model.safetensors")).toBe(false);
    expect(globToRegExp("a.b").test("axb")).toBe(false);
  });
});

describe("pull CLI", () => {
  it("prints JSON lines and exits 0, or an error code and 1", async () => {
    const lines: string[] = [];
    const args = [
      "yo-edge/tiny",
      "--allow",
      "config.json",
      "--cache-dir",
      cacheDir,
      "--endpoint",
      server.url,
    ];
    expect(await pullCli(args, (l) => lines.push(l))).toBe(0);
    const last = JSON.parse(lines.at(-1)!);
    expect(last).toMatchObject({ pulled: "yo-edge/tiny", commit: COMMIT, files: 1 });
    lines.length = 0;
    expect(
      await pullCli(["yo-edge/gated", "--cache-dir", cacheDir, "--endpoint", server.url], (l) =>
        lines.push(l),
      ),
    ).toBe(1);
    expect(JSON.parse(lines.at(-1)!).error).toBe("unauthorized");
  });
});
