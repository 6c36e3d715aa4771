/**
 * `yo-edge` (npx yo-edge ...): the trainer node and its tools without the edge. bin/yo-edge.js runs this
 * file with tsx. Configuration comes from the environment (trainer/serve/README.md) and flags.
 */
import { ServeConfigError } from "../serve/config";
import { chatCommand, pullCommand, recognizeCommand, serveCommand, trainCommand } from "./commands";
import { CliError } from "./local-plan";

export const USAGE = `yo-edge <command> [flags]

  pull <owner/name> [--revision r] [--allow glob]...   download a Hugging Face snapshot (JSON lines)
  serve [--port 8788] [--model DIR] [--device cpu]     run the trainer node (needs YO_HMAC_SECRET)
  train --name <bo> [--kind pet] [--out bo.yocn] [--k 16] [--preset fast|standard|thorough] PHOTO|DIR...
  chat [--concept bo.yocn]... [--image PHOTO]... "What colour is <bo>?"
  recognize --concept bo.yocn PHOTO|DIR...              P(yes) per photo (JSON lines)

Model flags (all commands but pull): --model DIR, --tokenizer DIR, --model-id ID, --device cpu|cuda,
  --weights float32|int8|int4 (int8/int4: the decoder quantized at load, for big checkpoints).
Environment: see trainer/serve/README.md.`;

const COMMANDS: Record<string, (argv: string[]) => Promise<number>> = {
  pull: pullCommand,
  serve: serveCommand,
  train: trainCommand,
  chat: chatCommand,
  recognize: recognizeCommand,
};

export async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const command = name === undefined ? undefined : COMMANDS[name];
  if (!command) {
    console.error(USAGE);
    return name === undefined || name === "help" || name === "--help" ? 0 : 2;
  }
  try {
    return await command(rest);
  } catch (error) {
    const usage =
      error instanceof CliError ||
      error instanceof ServeConfigError ||
      (error as { code?: string }).code === "ERR_PARSE_ARGS_UNKNOWN_OPTION";
    console.error(
      `yo-edge ${name}: ${error instanceof Error ? `${error.name}: ${error.message}` : String(error)}`,
    );
    if (process.env.YO_DEBUG && error instanceof Error) console.error(error.stack);
    return usage ? 2 : 1;
  }
}
