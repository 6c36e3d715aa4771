// The revision of a model loaded from a local directory, for the fingerprint a concept is bound to. The
// config hash alone says nothing about the weights: a retrained toy LLaVA keeps its config.json, and
// concepts learned on the old weights would load on the new ones without a word. So the revision names
// the weights' content: sha256 over every *.safetensors file's name, size and 64 KB samples at 64
// evenly spaced offsets. Training changes nearly every byte, so samples catch a retrain; hashing a 14 GB
// checkpoint in full would add most of a minute to a node's start.

import { createHash } from "node:crypto";
import { closeSync, openSync, readdirSync, readSync, statSync } from "node:fs";
import { join } from "node:path";

const SAMPLES = 64;
const SAMPLE_BYTES = 64 * 1024;

/** "local-" + 16 hex of the weights' sampled content hash ("local" when the directory has none). */
export function localWeightsRevision(dir: string): string {
  const files = readdirSync(dir)
    .filter((f) => f.endsWith(".safetensors"))
    .sort();
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
