// A checkpoint's tokenizer, loaded from its own files (tokenizer.json + tokenizer_config.json + chat template)
// with @huggingface/tokenizers, matching transformers 5's AutoTokenizer on the same directory.
//
// Two ways in: `encode` is the library's (added/special tokens in the text become control tokens; for
// trusted template text only), `encodeUntrusted` never yields an added-token id (user text).

import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { Tokenizer } from "@huggingface/tokenizers";
import { type ChatMessage, ChatTemplate, type RenderChatOptions } from "./chat-template";

export class TokenizerLoadError extends Error {
  override name = "TokenizerLoadError";
}

/** Raised when a piece of untrusted text would still map to a control token (never expected; see below). */
export class UntrustedTextError extends Error {
  override name = "UntrustedTextError";
}

export interface SpecialTokens {
  bos?: string;
  eos?: string;
  pad?: string;
  unk?: string;
  /** `additional_special_tokens` of tokenizer_config.json, in order. */
  additional: string[];
}

interface AddedTokenJson {
  id: number;
  content: string;
  special?: boolean;
}

type Json = Record<string, unknown>;

/** Splits text on added tokens: which ones, and where. Longest match wins at a position, as the library does. */
export interface AddedTokenMatch {
  start: number;
  end: number;
  id: number;
  content: string;
}

export class TextTokenizer {
  readonly bosId: number | undefined;
  readonly eosId: number | undefined;
  readonly padId: number | undefined;
  readonly unkId: number | undefined;
  readonly specials: SpecialTokens;
  /** Every added token (special or not) by content: ids no untrusted text may produce. */
  readonly addedTokens: ReadonlyMap<string, number>;
  readonly controlIds: ReadonlySet<number>;
  /** Ids `encodeUntrusted` never returns: every added token except `unk` (an unknown character is not control). */
  private readonly forbiddenIds: ReadonlySet<number>;
  readonly chatTemplate: ChatTemplate | null;
  /** Vocabulary size including added tokens (`len(tokenizer)` in transformers). */
  readonly size: number;

  private readonly tokenizer: Tokenizer;
  private readonly addedByLength: string[];

  constructor(tokenizerJson: Json, config: Json, chatTemplate: string | null) {
    const json = applyClassQuirks(structuredClone(tokenizerJson), config);
    this.tokenizer = new Tokenizer(json, config);
    const added = (json.added_tokens as AddedTokenJson[] | undefined) ?? [];
    this.addedTokens = new Map(added.map((t) => [t.content, t.id]));
    this.addedByLength = [...this.addedTokens.keys()].sort((a, b) => b.length - a.length);
    this.specials = {
      bos: tokenString(config.bos_token),
      eos: tokenString(config.eos_token),
      pad: tokenString(config.pad_token),
      unk: tokenString(config.unk_token),
      additional: ((config.additional_special_tokens as unknown[] | undefined) ?? [])
        .map(tokenString)
        .filter((t): t is string => t !== undefined),
    };
    const id = (t: string | undefined) => (t === undefined ? undefined : this.tokenToId(t));
    this.bosId = id(this.specials.bos);
    this.eosId = id(this.specials.eos);
    this.padId = id(this.specials.pad);
    this.unkId = id(this.specials.unk);
    this.controlIds = new Set(this.addedTokens.values());
    this.forbiddenIds = new Set([...this.controlIds].filter((i) => i !== this.unkId));
    this.size = this.tokenizer.get_vocab(true).size;
    this.chatTemplate =
      chatTemplate === null
        ? null
        : new ChatTemplate(chatTemplate, {
            bos_token: this.specials.bos ?? "",
            eos_token: this.specials.eos ?? "",
            pad_token: this.specials.pad ?? "",
            unk_token: this.specials.unk ?? "",
          });
  }

  /** Library encode: added/special tokens in `text` become their ids. Only for trusted text. */
  encode(text: string, options: { addSpecialTokens?: boolean } = {}): number[] {
    return this.tokenizer.encode(text, { add_special_tokens: options.addSpecialTokens ?? true }).ids;
  }

  /**
   * User text: never produces an added-token id. The text is run through normalizer, pre-tokenizer and model
   * as one section, skipping the library's split on added tokens, so "<image>" or "<|im_end|>" are spelled
   * with ordinary pieces (what transformers does with `split_special_tokens=True` when every added token is
   * special). `sectionIndex` > 0 marks text that does not start the sequence (Metaspace "first" prepends
   * "▁" only to section 0).
   */
  encodeUntrusted(text: string, sectionIndex = 0): number[] {
    if (text.length === 0) return [];
    const tok = this.tokenizer;
    let normalized = text;
    if (tok.normalizer !== null) normalized = tok.normalizer(normalized);
    if (normalized.length === 0) return [];
    const words =
      tok.pre_tokenizer !== null
        ? tok.pre_tokenizer(normalized, { section_index: sectionIndex })
        : [normalized];
    const model = tok.model!;
    const ids: number[] = [];
    for (const piece of model(words)) {
      const id = model.tokens_to_ids.get(piece) ?? model.unk_token_id;
      if (id === undefined) throw new UntrustedTextError(`piece ${JSON.stringify(piece)} has no id`);
      if (!this.forbiddenIds.has(id)) {
        ids.push(id);
        continue;
      }
      // A merge produced an added token's string (no shipped vocabulary does this): spell it by characters.
      for (const sub of model([...piece])) {
        const subId = model.tokens_to_ids.get(sub) ?? model.unk_token_id;
        if (subId === undefined || this.forbiddenIds.has(subId)) {
          throw new UntrustedTextError(`cannot spell ${JSON.stringify(piece)} without a control token`);
        }
        ids.push(subId);
      }
    }
    return ids;
  }

  decode(ids: readonly number[], options: { skipSpecialTokens?: boolean } = {}): string {
    if (ids.length === 0) return "";
    return this.tokenizer.decode([...ids], { skip_special_tokens: options.skipSpecialTokens ?? false });
  }

  tokenToId(token: string): number | undefined {
    return this.tokenizer.token_to_id(token);
  }

  idToToken(id: number): string | undefined {
    return this.tokenizer.id_to_token(id);
  }

  /** Added tokens occurring in `text`, left to right, longest first at each position. */
  findAddedTokens(text: string): AddedTokenMatch[] {
    const matches: AddedTokenMatch[] = [];
    let i = 0;
    while (i < text.length) {
      const content = this.addedByLength.find((t) => t.length > 0 && text.startsWith(t, i));
      if (content === undefined) {
        i++;
        continue;
      }
      matches.push({ start: i, end: i + content.length, id: this.addedTokens.get(content)!, content });
      i += content.length;
    }
    return matches;
  }

  /** The checkpoint's chat template applied to `messages` (a string, not yet tokenized). */
  renderChat(messages: ChatMessage[], options: RenderChatOptions = {}): string {
    if (this.chatTemplate === null) throw new TokenizerLoadError("checkpoint has no chat template");
    return this.chatTemplate.render(messages, options);
  }
}

function tokenString(value: unknown): string | undefined {
  if (typeof value === "string") return value;
  if (value !== null && typeof value === "object" && typeof (value as Json).content === "string") {
    return (value as Json).content as string;
  }
  return undefined;
}

/**
 * transformers 5 rebuilds some tokenizer classes' pipelines instead of using tokenizer.json's. We do the same
 * so that ids match AutoTokenizer on the same directory:
 * - `LlamaTokenizer(Fast)`: no normalizer, Metaspace("▁", prepend "first" (legacy=false, the default) or
 *   "always" (legacy=true), split=false), decoder Replace/ByteFallback/Fuse/Strip, BOS/EOS from
 *   add_bos_token (default true) / add_eos_token (default false). llava-hf ships the legacy
 *   Prepend/Replace normalizer in tokenizer.json; transformers 5 ignores it.
 */
function applyClassQuirks(json: Json, config: Json): Json {
  const cls = config.tokenizer_class;
  if (cls === "LlamaTokenizer" || cls === "LlamaTokenizerFast") {
    const legacy = config.legacy === true;
    const addPrefixSpace = config.add_prefix_space !== false;
    json.normalizer = null;
    json.pre_tokenizer = {
      type: "Metaspace",
      replacement: "▁",
      prepend_scheme: addPrefixSpace ? (legacy ? "always" : "first") : "never",
      split: false,
    };
    const decoders: Json[] = [
      { type: "Replace", pattern: { String: "▁" }, content: " " },
      { type: "ByteFallback" },
      { type: "Fuse" },
    ];
    if (addPrefixSpace) decoders.push({ type: "Strip", content: " ", start: 1, stop: 0 });
    json.decoder = { type: "Sequence", decoders };
    const bos = tokenString(config.bos_token);
    const eos = tokenString(config.eos_token);
    const addBos = config.add_bos_token !== false && bos !== undefined;
    const addEos = config.add_eos_token === true && eos !== undefined;
    const vocab = ((json.model as Json).vocab ?? {}) as Record<string, number>;
    const added = (json.added_tokens as AddedTokenJson[] | undefined) ?? [];
    const idOf = (t: string) => added.find((a) => a.content === t)?.id ?? vocab[t];
    const single: Json[] = [];
    const special: Json = {};
    if (addBos) {
      single.push({ SpecialToken: { id: bos, type_id: 0 } });
      special[bos] = { id: bos, ids: [idOf(bos)], tokens: [bos] };
    }
    single.push({ Sequence: { id: "A", type_id: 0 } });
    if (addEos) {
      single.push({ SpecialToken: { id: eos, type_id: 0 } });
      special[eos] = { id: eos, ids: [idOf(eos)], tokens: [eos] };
    }
    const pairB = single.map((p) => ("Sequence" in p ? { Sequence: { id: "B", type_id: 1 } } : p));
    json.post_processor = {
      type: "TemplateProcessing",
      single,
      pair: [...single, ...pairB],
      special_tokens: special,
    };
  }
  return json;
}

function readJson(path: string): Json {
  try {
    return JSON.parse(readFileSync(path, "utf8")) as Json;
  } catch (error) {
    throw new TokenizerLoadError(`cannot read ${path}: ${(error as Error).message}`);
  }
}

/**
 * The chat template, looked up as transformers does: chat_template.jinja, then chat_template.json (the
 * processor's), then tokenizer_config.json's `chat_template` (a string, or a list of {name, template} where
 * "default" is used).
 */
export function readChatTemplate(dir: string, config: Json): string | null {
  const jinja = join(dir, "chat_template.jinja");
  if (existsSync(jinja)) return readFileSync(jinja, "utf8");
  const processorJson = join(dir, "chat_template.json");
  if (existsSync(processorJson)) {
    const template = readJson(processorJson).chat_template;
    if (typeof template === "string") return template;
  }
  const fromConfig = config.chat_template;
  if (typeof fromConfig === "string") return fromConfig;
  if (Array.isArray(fromConfig)) {
    const named = fromConfig as { name?: string; template?: string }[];
    return (named.find((t) => t.name === "default") ?? named[0])?.template ?? null;
  }
  return null;
}

/** Loads tokenizer.json + tokenizer_config.json (+ chat template) from a checkpoint directory. */
export function loadTokenizer(dir: string): TextTokenizer {
  const tokenizerPath = join(dir, "tokenizer.json");
  if (!existsSync(tokenizerPath)) throw new TokenizerLoadError(`${dir} has no tokenizer.json`);
  const tokenizerJson = readJson(tokenizerPath);
  const configPath = join(dir, "tokenizer_config.json");
  const config = existsSync(configPath) ? readJson(configPath) : {};
  return new TextTokenizer(tokenizerJson, config, readChatTemplate(dir, config));
}
