/**
 * The base model, caches and recognizer for local CLI commands (train, chat, recognize): the node's own
 * pieces (trainer/serve), configured from the same environment variables plus flags, without HTTP.
 */
import { type BaseModel, loadBaseModel } from "../serve/base-model";
import type { ChatDeps } from "../serve/chat";
import { ConceptRowsCache } from "../serve/concept-rows";
import { type ServeConfig, serveConfigFromEnv } from "../serve/config";
import { PREFIX_CACHE_BYTES } from "../serve/limits";
import { ConceptPrefixStore } from "../serve/prefix-store";

export interface ModelFlags {
  model?: string | undefined;
  tokenizer?: string | undefined;
  "model-id"?: string | undefined;
  device?: string | undefined;
  weights?: string | undefined;
}

export function localConfig(flags: ModelFlags): ServeConfig {
  return serveConfigFromEnv(
    {
      ...process.env,
      ...(flags.model ? { YO_MODEL_DIR: flags.model } : {}),
      ...(flags.tokenizer ? { YO_TOKENIZER_DIR: flags.tokenizer } : {}),
      ...(flags["model-id"] ? { YO_MODEL_ID: flags["model-id"] } : {}),
      ...(flags.device ? { YO_DEVICE: flags.device } : {}),
      ...(flags.weights ? { YO_WEIGHTS: flags.weights } : {}),
    },
    { requireSecret: false },
  );
}

export async function localDeps(config: ServeConfig): Promise<ChatDeps & { model: BaseModel }> {
  const model = await loadBaseModel(config);
  return {
    model,
    concepts: new ConceptRowsCache(model.id, model.hiddenSize),
    prefixes: new ConceptPrefixStore(PREFIX_CACHE_BYTES),
  };
}

export const MODEL_OPTIONS = {
  model: { type: "string" },
  tokenizer: { type: "string" },
  "model-id": { type: "string" },
  device: { type: "string" },
  weights: { type: "string" },
} as const;
