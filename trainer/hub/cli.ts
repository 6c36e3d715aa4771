// `pull` from the command line: npx tsx trainer/hub/cli.ts <owner/name> [--revision <rev>] [--allow <glob>]...
// [--cache-dir <dir>] [--endpoint <url>]. Token from $HF_TOKEN. Prints one JSON object per line: progress
// events, then {"pulled": ...} or {"error": code, "message": ...} (exit code 1).

import { parseArgs } from "node:util";
import { PullError, pull } from "./pull";

export async function pullCli(argv: string[], print: (line: string) => void = console.log): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      revision: { type: "string" },
      allow: { type: "string", multiple: true },
      "cache-dir": { type: "string" },
      endpoint: { type: "string" },
    },
  });
  const repo = positionals[0];
  if (repo === undefined || positionals.length !== 1) {
    print(
      JSON.stringify({
        error: "bad_request",
        message: "usage: cli.ts <owner/name> [--revision r] [--allow glob]...",
      }),
    );
    return 1;
  }
  try {
    const result = await pull({
      repo,
      ...(values.revision === undefined ? {} : { revision: values.revision }),
      ...(values.allow === undefined ? {} : { allow: values.allow }),
      ...(values["cache-dir"] === undefined ? {} : { cacheDir: values["cache-dir"] }),
      ...(values.endpoint === undefined ? {} : { endpoint: values.endpoint }),
      onProgress: (event) => print(JSON.stringify(event)),
    });
    print(
      JSON.stringify({
        pulled: result.repo,
        commit: result.commit,
        dir: result.dir,
        files: result.files.length,
      }),
    );
    return 0;
  } catch (error) {
    if (!(error instanceof PullError)) throw error;
    print(JSON.stringify({ error: error.code, message: error.message }));
    return 1;
  }
}

if (process.argv[1] !== undefined && import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  pullCli(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
