// Typed reads of HF `config.json` fields, with errors that name the field. Shared by every architecture's
// `*ConfigFromHf`.

import { UnsupportedConfigError } from "./llama";

export type HfJson = Record<string, unknown>;

export function hfNumber(json: HfJson, key: string, fallback?: number, where = "config.json"): number {
  const v = json[key] ?? fallback;
  if (typeof v !== "number" || !Number.isFinite(v)) {
    throw new UnsupportedConfigError(`${where}: ${key} must be a number (got ${JSON.stringify(v)})`);
  }
  return v;
}

export function hfString(json: HfJson, key: string, fallback?: string, where = "config.json"): string {
  const v = json[key] ?? fallback;
  if (typeof v !== "string") {
    throw new UnsupportedConfigError(`${where}: ${key} must be a string (got ${JSON.stringify(v)})`);
  }
  return v;
}

/** A nested config object (`vision_config`, `text_config`); `{}` when absent so that defaults apply. */
export function hfSubConfig(json: HfJson, key: string): HfJson {
  const v = json[key] ?? {};
  if (typeof v !== "object" || v === null || Array.isArray(v)) {
    throw new UnsupportedConfigError(`config.json: ${key} must be an object`);
  }
  return v as HfJson;
}

/** `image_size`/`patch_size` may be a number or a square [h, w] pair. */
export function hfSquare(json: HfJson, key: string, fallback: number, where: string): number {
  const v = json[key] ?? fallback;
  if (Array.isArray(v)) {
    if (v.length !== 2 || v[0] !== v[1] || typeof v[0] !== "number") {
      throw new UnsupportedConfigError(`${where}: ${key} ${JSON.stringify(v)} is not square`);
    }
    return v[0];
  }
  return hfNumber(json, key, fallback, where);
}
