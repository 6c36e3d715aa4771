// Command line for concepts (one JSON object per line: progress, then the result or {"error", "message"}):
//   npx tsx trainer/personalize/cli.ts pool build --images DIR --clip CLIP_DIR [--toy N [--seed S] [--size 64]]
//   npx tsx trainer/personalize/cli.ts train --model DIR --photos DIR --name "<bo>" --kind pet --out FILE.yocn
//       [--pool DIR --clip CLIP_DIR] [--facts FILE.json] [--teacher self|hf|none] [--hf-model ID]
//       [--k 16] [--epochs 10] [--batch 8] [--lr 3e-3] [--hard 100] [--easy 100] [--seed 0]
//       [--weights float32|int8|int4]   (int8/int4: the decoder quantized at load, for big checkpoints)
// --toy N first writes N toy-world pool scenes into --images (trainer/toyworld's pool, never held-out seeds).
// Teacher: Hugging Face Inference Providers when $HF_TOKEN is set (--hf-model, --hf-endpoint), else the
// frozen model; --teacher self|hf|none forces one.

import { mkdtemp, readdir, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { CONCEPT_KINDS, type ConceptKind } from "../../shared/concept-name";
import { Runtime } from "../engine/index";
import { WEIGHT_FORMATS, type WeightFormat } from "../models/quantized-weights";
import { writeNegativesPool } from "../toyworld/pool";
import { ClipImageEncoder } from "./clip-encoder";
import { loadConceptModel } from "./concept-model";
import type { ConceptQA } from "./conversation-data";
import { ConceptTrainingError } from "./errors";
import { buildNegativesPool, NegativesPool } from "./negatives-pool";
import {
  type ConversationTeacher,
  DEFAULT_HF_TEACHER_MODEL,
  HfInferenceTeacher,
  SelfTeacher,
  teacherFromEnvironment,
} from "./teacher";
import { trainConcept } from "./train-concept";

const print = (o: unknown) => console.log(JSON.stringify(o));

export async function personalizeCli(argv: string[]): Promise<number> {
  const { positionals, values } = parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      images: { type: "string" },
      clip: { type: "string" },
      toy: { type: "string" },
      seed: { type: "string" },
      size: { type: "string" },
      model: { type: "string" },
      photos: { type: "string" },
      name: { type: "string" },
      kind: { type: "string" },
      out: { type: "string" },
      pool: { type: "string" },
      facts: { type: "string" },
      teacher: { type: "string" },
      "hf-model": { type: "string" },
      "hf-endpoint": { type: "string" },
      k: { type: "string" },
      epochs: { type: "string" },
      batch: { type: "string" },
      lr: { type: "string" },
      hard: { type: "string" },
      easy: { type: "string" },
      threads: { type: "string" },
      weights: { type: "string" },
    },
  });
  const num = (text: string | undefined) => (text === undefined ? undefined : Number(text));
  const need = (key: keyof typeof values) => {
    const v = values[key];
    if (typeof v !== "string") throw new ConceptTrainingError("bad_options", `--${key} is required`);
    return v;
  };
  const runtime = new Runtime({ intraOpNumThreads: num(values.threads) ?? 2 });
  let convertedDir: string | undefined;
  try {
    if (positionals[0] === "pool" && positionals[1] === "build") {
      const dir = need("images");
      if (values.toy) {
        const m = await writeNegativesPool({
          out: dir,
          count: Number(values.toy),
          seed: num(values.seed),
          size: num(values.size) ?? 64,
        });
        print({ event: "toy_pool_written", images: m.items.length, world: m.world });
      }
      const clip = await ClipImageEncoder.load(need("clip"), runtime);
      const report = await buildNegativesPool(dir, clip, {
        onProgress: (done, total) => print({ event: "embedded", done, total }),
      });
      print({ pool: report });
      return 0;
    }
    if (positionals[0] === "train") {
      const kind = need("kind") as ConceptKind;
      if (!CONCEPT_KINDS.includes(kind))
        throw new ConceptTrainingError("bad_options", `unknown kind ${kind}`);
      const weights = (values.weights ?? "float32") as WeightFormat;
      if (!WEIGHT_FORMATS.includes(weights))
        throw new ConceptTrainingError(
          "bad_options",
          `--weights must be one of ${WEIGHT_FORMATS.join(", ")}`,
        );
      // Quantized weights are converted into a file that onnxruntime maps, removed when the command ends.
      if (weights !== "float32") convertedDir = await mkdtemp(join(tmpdir(), "yo-concept-weights-"));
      const model = await loadConceptModel(need("model"), {
        runtime,
        ...(convertedDir ? { load: { weights, directory: convertedDir } } : {}),
      });
      const photosDir = need("photos");
      const files = (await readdir(photosDir)).filter((f) => /\.(png|jpe?g|webp)$/i.test(f)).sort();
      const photos = await Promise.all(
        files.map(async (f) => new Uint8Array(await readFile(join(photosDir, f)))),
      );
      let negatives: Parameters<typeof trainConcept>[0]["negatives"];
      if (values.pool) {
        const clip = await ClipImageEncoder.load(need("clip"), runtime);
        negatives = { pool: await NegativesPool.open(values.pool, clip), clip };
      }
      const facts = values.facts
        ? (JSON.parse(await readFile(values.facts, "utf8")) as ConceptQA[])
        : undefined;
      // Default: Inference Providers when HF_TOKEN is set, else the frozen model itself.
      let teacher: ConversationTeacher | null = teacherFromEnvironment(model);
      if (values.teacher === "none") teacher = null;
      if (values.teacher === "self") teacher = new SelfTeacher(model);
      if (values.teacher === "hf") {
        teacher = new HfInferenceTeacher({
          token: process.env.HF_TOKEN,
          model: values["hf-model"] ?? DEFAULT_HF_TEACHER_MODEL,
          endpointUrl: values["hf-endpoint"],
        });
      }
      const result = await trainConcept({
        model,
        name: need("name"),
        kind,
        photos,
        negatives,
        facts,
        teacher,
        latentTokens: num(values.k),
        epochs: num(values.epochs),
        batchSize: num(values.batch),
        lr: num(values.lr),
        hardNegatives: num(values.hard),
        easyNegatives: num(values.easy),
        seed: num(values.seed),
        onProgress: (p) => print({ event: "progress", ...p }),
      });
      await writeFile(need("out"), result.artifact);
      print({ trained: need("out"), bytes: result.artifact.length, report: result.report });
      return 0;
    }
    print({
      error: "bad_options",
      message: "usage: cli.ts pool build ... | cli.ts train ... (see the header)",
    });
    return 1;
  } catch (e) {
    const code = e instanceof ConceptTrainingError ? e.code : "internal";
    print({ error: code, message: (e as Error).message });
    return 1;
  } finally {
    await runtime.release();
    if (convertedDir) await rm(convertedDir, { recursive: true, force: true });
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  process.exitCode = await personalizeCli(process.argv.slice(2));
}
