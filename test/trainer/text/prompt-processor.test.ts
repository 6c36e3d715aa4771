// End to end against HF processors: LlavaProcessor / Idefics3Processor expand the image token in the rendered
// chat and tokenize; renderPrompt + our image processors must give the same input_ids.

import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, it } from "vitest";
import { readSafetensorsFile } from "../../../trainer/engine/safetensors";
import type { ChatMessage } from "../../../trainer/text/chat-template";
import { type PromptTurn, renderPrompt } from "../../../trainer/text/prompt";
import { loadTokenizer } from "../../../trainer/text/tokenizer";
import { loadImageProcessor } from "../../../trainer/vision/processor";

const FIXTURES = join(import.meta.dirname, "../../fixtures");

interface PromptGolden {
  messages: ChatMessage[];
  text: string;
  ids: number[];
}

describe("renderPrompt + image processors vs HF processors", async () => {
  const goldens = JSON.parse(readFileSync(join(FIXTURES, "processors/prompts.json"), "utf8")) as Record<
    string,
    PromptGolden
  >;
  const images = await readSafetensorsFile(join(FIXTURES, "processors/golden-clip.safetensors"));

  it.each(Object.keys(goldens))("%s", (key) => {
    const [model, imageName] = key.split(".") as [string, string];
    const golden = goldens[key]!;
    const tok = loadTokenizer(join(FIXTURES, "tokenizers", model));
    const processor = loadImageProcessor(join(FIXTURES, "processors", model));
    const t = images.tensors.get(`decoded.${imageName}`)!;
    const processed = processor.preprocess({
      height: t.shape[0]!,
      width: t.shape[1]!,
      data: t.data as Uint8Array,
    });
    const turns: PromptTurn[] = golden.messages.map((m) => ({
      role: m.role,
      segments: (m.content as { type: string; text?: string }[]).map((p) =>
        p.type === "image" ? { type: "image" as const } : { type: "text" as const, text: p.text! },
      ),
    }));
    const out = renderPrompt(tok, turns, {
      addGenerationPrompt: true,
      imageToken: processor.imageToken,
      expandImage: () => processor.imagePrompt(processed),
    });
    expect(out.ids).toEqual(golden.ids);
    const imageId = tok.tokenToId(processor.imageToken)!;
    const expected = golden.ids.flatMap((id, i) => (id === imageId ? [i] : []));
    expect(out.images[0]!.positions).toEqual(expected);
    // Features per image slot: one per frame x tokens per frame.
    expect(expected.length % processed.frames.length).toBe(0);
  });
});
