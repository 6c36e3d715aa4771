// What tells two trainings of one config apart: the weights' content. The config hash alone says
// nothing about the weights (a retrained toy LLaVA keeps its config.json), so a model loaded from a
// local directory gets a revision that names them, and concepts learned on old weights do not load on
// new ones without a word. Two measures over the same files: weightsDigest hashes every byte (the
// negatives pool's CLIP, whose index must match exactly); localWeightsRevision hashes 64 KB samples at 64
// evenly spaced offsets, because training changes nearly every byte and hashing a 14 GB checkpoint in
// full would add most of a minute to a node's start.

import { createHash } from "node:crypto";
import { closeSync, createReadStream, openSync, readdirSync, readSync, statSync } from "node:fs";
import { join } from "node:path";

const SAMPLES = 64;
const SAMPLE_BYTES = 64 * 1024;

/** A snapshot's weight files, sorted (golden.safetensors is a test fixture's expected outputs). */
function weightFiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((f) => f.endsWith(".safetensors") && f !== "golden.safetensors")
    .sort();
}

/** 16 hex of sha256 over the weight files' names and bytes. */
export async function weightsDigest(dir: string): Promise<string> {
  const hash = createHash("sha256");
  for (const f of weightFiles(dir)) {
    hash.update(f);
    for await (const chunk of createReadStream(join(dir, f))) hash.update(chunk as Buffer);
  }
  return hash.digest("hex").slice(0, 16);
}

/** "local-" + 16 hex of the weights' sampled content hash ("local" when the directory has none). */
export function localWeightsRevision(dir: string): string {
  const files = weightFiles(dir);
  if (files.length === 0) return "local";
  const hash = createHash("sha256");
  const buffer = Buffer.alloc(SAMPLE_BYTES);
  for (const file of files) {
    const size = statSync(join(dir, file)).size;
    hash.update(`${file}\0${size}\0`);
    const fd = openSync(join(dir, file), "r");
    try {
      const span = Math.max(0, size - SAMPLE_BYTES);
      for (let i = 0; i < SAMPLES; i++) {
        const offset = Math.floor((span * i) / (SAMPLES - 1));
        const n = readSync(fd, buffer, 0, Math.min(SAMPLE_BYTES, size - offset), offset);
        hash.update(buffer.subarray(0, n));
      }
    } finally {
      closeSync(fd);
    }
  }
  return `local-${hash.digest("hex").slice(0, 16)}`;
}
