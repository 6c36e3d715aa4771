// A checkpoint's Jinja chat template, rendered with @huggingface/jinja the way transformers'
// apply_chat_template does (trim_blocks + lstrip_blocks, special tokens as variables, raise_exception).

import { Template } from "@huggingface/jinja";

export type ChatContentPart = { type: "text"; text: string } | { type: "image" };

export interface ChatMessage {
  role: "system" | "user" | "assistant";
  /** Typed parts (what LLaVA/SmolVLM templates read) or a plain string. */
  content: ChatContentPart[] | string;
}

export interface RenderChatOptions {
  addGenerationPrompt?: boolean;
}

export class ChatTemplateError extends Error {
  override name = "ChatTemplateError";
}

export class ChatTemplate {
  private readonly template: Template;

  constructor(
    readonly source: string,
    private readonly specialTokens: Record<string, string>,
  ) {
    try {
      this.template = new Template(source);
    } catch (error) {
      throw new ChatTemplateError(`chat template does not parse: ${(error as Error).message}`);
    }
  }

  render(messages: ChatMessage[], options: RenderChatOptions = {}): string {
    try {
      return this.template.render({
        ...this.specialTokens,
        messages,
        add_generation_prompt: options.addGenerationPrompt ?? false,
      });
    } catch (error) {
      throw new ChatTemplateError(`chat template failed: ${(error as Error).message}`);
    }
  }
}
