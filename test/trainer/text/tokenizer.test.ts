import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import type { ChatMessage } from "../../../trainer/text/chat-template";
import { loadTokenizer, TextTokenizer } from "../../../trainer/text/tokenizer";

const FIXTURES = join(import.meta.dirname, "../../fixtures/tokenizers");

interface Golden {
  special_ids: Record<string, number | null>;
  added_ids: number[];
  vocab_size: number;
  cases: {
    text: string;
    ids: number[];
    ids_no_special: number[];
    ids_untrusted: number[];
    ids_legacy?: number[];
    decoded: string;
    decoded_skip_special: string;
  }[];
  chats: {
    name: string;
    add_generation_prompt: boolean;
    messages: ChatMessage[];
    rendered: string;
    ids: number[];
  }[];
}

for (const name of ["llava", "smolvlm"]) {
  describe(`${name} tokenizer vs transformers AutoTokenizer`, () => {
    const dir = join(FIXTURES, name);
    const golden = JSON.parse(readFileSync(join(dir, "golden.json"), "utf8")) as Golden;
    const tok = loadTokenizer(dir);

    it("special ids and vocabulary size", () => {
      expect(tok.bosId ?? null).toBe(golden.special_ids.bos_token_id);
      expect(tok.eosId ?? null).toBe(golden.special_ids.eos_token_id);
      expect(tok.padId ?? null).toBe(golden.special_ids.pad_token_id);
      expect(tok.unkId ?? null).toBe(golden.special_ids.unk_token_id);
      expect([...tok.controlIds].sort((a, b) => a - b)).toEqual(golden.added_ids);
      expect(tok.size).toBe(golden.vocab_size);
    });

    it.each(golden.cases.map((c) => [JSON.stringify(c.text), c] as const))("encode %s", (_, c) => {
      expect(tok.encode(c.text, { addSpecialTokens: true })).toEqual(c.ids);
      expect(tok.encode(c.text, { addSpecialTokens: false })).toEqual(c.ids_no_special);
      expect(tok.encodeUntrusted(c.text)).toEqual(c.ids_untrusted);
      expect(tok.encodeUntrusted(c.text).some((id) => tok.controlIds.has(id))).toBe(false);
      expect(tok.decode(c.ids)).toBe(c.decoded);
      expect(tok.decode(c.ids, { skipSpecialTokens: true })).toBe(c.decoded_skip_special);
    });

    if (name === "llava") {
      it('legacy: true (Metaspace prepend "always") matches AutoTokenizer(legacy=True)', () => {
        const json = JSON.parse(readFileSync(join(dir, "tokenizer.json"), "utf8"));
        const config = JSON.parse(readFileSync(join(dir, "tokenizer_config.json"), "utf8"));
        const legacy = new TextTokenizer(json, { ...config, legacy: true }, null);
        let differs = 0;
        for (const c of golden.cases) {
          expect(legacy.encode(c.text), c.text).toEqual(c.ids_legacy);
          if (JSON.stringify(c.ids_legacy) !== JSON.stringify(c.ids)) differs++;
        }
        expect(differs).toBeGreaterThanOrEqual(3); // the cases with text after an added token
      });
    }

    it.each(
      golden.chats.map((c) => [`${c.name} gen=${c.add_generation_prompt}`, c] as const),
    )("chat template %s", (_, c) => {
      const rendered = tok.renderChat(c.messages, { addGenerationPrompt: c.add_generation_prompt });
      expect(rendered).toBe(c.rendered);
      expect(tok.encode(rendered, { addSpecialTokens: false })).toEqual(c.ids);
    });
  });
}
