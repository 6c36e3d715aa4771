#!/usr/bin/env node
// `npx yo-edge ...`: runs the TypeScript CLI (trainer/cli/main.ts) through tsx's ESM loader in this process.
import { register } from "tsx/esm/api";

register();
const { main } = await import("../trainer/cli/main.ts");
process.exitCode = await main(process.argv.slice(2));
