/**
 * `yo-edge` subcommands: pull, serve, train, chat, recognize. Each parses its own flags and returns an exit
 * code; output is for people on a terminal (chat streams text) or JSON lines (recognize, train's result).
 */
import { readdirSync, statSync, writeFileSync } from "node:fs";
import path from "node:path";
import { parseArgs } from "node:util";
import { readConceptArtifactHeader } from "../../shared/concept-artifact";
import type { ConceptKind } from "../../shared/concept-name";
import { CONCEPT_KINDS } from "../../shared/concept-name";
import { DEFAULT_LATENT_TOKENS } from "../../shared/limits";
import { pullCli } from "../hub/cli";
import { runChat } from "../serve/chat";
import { Recognizer } from "../serve/recognize";
import { runTrainerNode } from "../serve/server";
import { chooseConceptTrainer } from "../serve/trainer-module";
import { localConfig, localDeps, MODEL_OPTIONS } from "./local-model";
import { CliError, imageRef, localPlan, readConcepts, textSegments } from "./local-plan";
import { progressReporter } from "./progress-bar";

const IMAGE_EXTENSIONS = new Set([".png", ".jpg", ".jpeg", ".webp"]);

/** Files as given, directories expanded to their images (sorted). */
function imageFiles(inputs: readonly string[]): string[] {
  return inputs.flatMap((input) =>
    statSync(input).isDirectory()
      ? readdirSync(input)
          .filter((f) => IMAGE_EXTENSIONS.has(path.extname(f).toLowerCase()))
          .sort()
          .map((f) => path.join(input, f))
      : [input],
  );
}

export async function pullCommand(argv: string[]): Promise<number> {
  return await pullCli(argv);
}

export async function serveCommand(argv: string[]): Promise<number> {
  const { values } = parseArgs({ args: argv, options: { ...MODEL_OPTIONS, port: { type: "string" } } });
  if (values.port) process.env.YO_TRAINER_PORT = values.port;
  const config = localConfig(values);
  await runTrainerNode({ ...config, hmacSecret: localConfigSecret() });
  return new Promise<number>(() => {}); // runs until a signal ends the process
}

function localConfigSecret(): string {
  const secret = process.env.YO_HMAC_SECRET ?? process.env.HMAC_SECRET ?? "";
  if (secret.length < 16)
    throw new CliError("serve needs YO_HMAC_SECRET (the edge's HMAC_SECRET, >= 16 chars)");
  return secret;
}

export async function trainCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...MODEL_OPTIONS,
      name: { type: "string" },
      kind: { type: "string", default: "object" },
      out: { type: "string" },
      k: { type: "string", default: String(DEFAULT_LATENT_TOKENS) },
      preset: { type: "string", default: "standard" },
      version: { type: "string", default: "1" },
    },
  });
  if (!values.name || positionals.length === 0) {
    throw new CliError(
      "usage: yo-edge train --name <bo> [--kind pet] [--out bo.yocn] [--k 16] [--preset fast] PHOTO|DIR...",
    );
  }
  if (!CONCEPT_KINDS.includes(values.kind as ConceptKind))
    throw new CliError(`--kind must be one of ${CONCEPT_KINDS.join(", ")}`);
  const config = localConfig(values);
  const choice = chooseConceptTrainer(config.conceptTrainerModule);
  if (!choice) throw new CliError("no concept trainer: set YO_CONCEPT_TRAINER_MODULE");
  const deps = await localDeps(config);
  const trainer = await choice.create(deps.model, config);
  if (!trainer) throw new CliError(`${choice.name} gave no trainer`);
  const files = imageFiles(positionals);
  const photos = files.map((file) => {
    const ref = imageRef(file);
    return {
      mime: ref.mime,
      bytes: new Uint8Array(Buffer.from((ref as { base64: string }).base64, "base64")),
    };
  });
  const report = progressReporter();
  const controller = new AbortController();
  process.once("SIGINT", () => controller.abort());
  const artifact = await trainer.train(
    {
      jobId: `local-${Date.now()}`,
      concept: {
        id: `local:${values.name}`,
        name: values.name,
        kind: values.kind as ConceptKind,
        base_model: deps.model.id,
        next_version: Number(values.version),
      },
      options: { latent_tokens: Number(values.k), preset: values.preset },
      photos,
    },
    { onProgress: (p) => report(p.stage, p.progress), signal: controller.signal },
  );
  report("done", 1);
  const out = values.out ?? `${values.name.replace(/[<>]/g, "")}.yocn`;
  writeFileSync(out, artifact);
  const header = readConceptArtifactHeader(artifact);
  console.log(
    JSON.stringify({
      artifact: out,
      bytes: artifact.byteLength,
      name: header.name,
      k: header.k,
      model: header.model,
      report: header.training_report,
    }),
  );
  await deps.model.release();
  return 0;
}

export async function chatCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...MODEL_OPTIONS,
      concept: { type: "string", multiple: true, default: [] },
      image: { type: "string", multiple: true, default: [] },
      "max-tokens": { type: "string", default: "64" },
      temperature: { type: "string", default: "0" },
    },
  });
  const text = positionals.join(" ");
  if (!text)
    throw new CliError(
      'usage: yo-edge chat [--concept bo.yocn]... [--image photo.png]... "What is <bo> doing?"',
    );
  const deps = await localDeps(localConfig(values));
  const concepts = readConcepts(values.concept);
  const segments = [
    ...values.image.map((file) => ({ type: "image" as const, image: imageRef(file) })),
    ...textSegments(text, concepts),
  ];
  const plan = localPlan(deps.model.id, { kind: "chat" }, segments, concepts, {
    maxTokens: Number(values["max-tokens"]),
    temperature: Number(values.temperature),
    stream: true,
  });
  await runChat(deps, plan, { onDelta: (delta) => process.stdout.write(delta) });
  process.stdout.write("\n");
  await deps.model.release();
  return 0;
}

export async function recognizeCommand(argv: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      ...MODEL_OPTIONS,
      concept: { type: "string" },
      question: { type: "string", default: "Is {concept} in this photo? Answer with yes or no." },
    },
  });
  if (!values.concept || positionals.length === 0)
    throw new CliError("usage: yo-edge recognize --concept bo.yocn PHOTO|DIR...");
  const deps = await localDeps(localConfig(values));
  const concepts = readConcepts([values.concept]);
  const [concept] = [...concepts.values()];
  const question = values.question.replaceAll("{concept}", concept!.name);
  const files = imageFiles(positionals);
  const recognizer = new Recognizer(deps);
  const plan = localPlan(
    deps.model.id,
    { kind: "recognize", candidates: ["Yes", "No"], batch: files.map(imageRef) },
    [{ type: "batch_image" }, ...textSegments(question, concepts)],
    concepts,
    { maxTokens: 1 },
  );
  const { results } = await recognizer.recognize(plan);
  results.forEach((r, i) => {
    console.log(JSON.stringify({ image: files[i], p_yes: Number(r.p_yes.toFixed(6)) }));
  });
  await deps.model.release();
  return 0;
}
