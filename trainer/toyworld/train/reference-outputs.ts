// What our loader and runtime compute on a few held-out toy inputs, written to reference-outputs.json
// next to the models, for tools/reference/check_toy_models.py to recompute with HF transformers:
// token ids (tokenizer + chat template), CLIP embeddings, LLaVA last-position logits and greedy answers.
// Images travel as raw RGB (base64) so Python's CLIPImageProcessor makes its own pixel_values.
//
//   npx tsx trainer/toyworld/train/reference-outputs.ts [--models DIR]

import { writeFile } from "node:fs/promises";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { Runtime } from "../../engine/index";
import { renderRecipe } from "../batches";
import { captionRecord, vqaItem } from "../records";
import { TOY_MODELS_DIR, ToyClip, ToyLlava } from "./toy-models";

const SEEDS = [1_000_000_007, 1_000_000_011];

export async function writeReferenceOutputs(dir: string, runtime: Runtime): Promise<void> {
  const images = SEEDS.map((seed) => renderRecipe({ seed }, { size: 64 }));
  const clip = await ToyClip.load(join(dir, "toy-clip"), runtime);
  const captions = SEEDS.map((seed) => captionRecord(seed).caption);
  const imageEmbeds = await clip.imageFeatures(images);
  const textEmbeds = await clip.textFeatures(captions);
  const llava = await ToyLlava.load(join(dir, "toy-llava"), runtime);
  const questions = [vqaItem(SEEDS[0]!, "colour").prompt, vqaItem(SEEDS[1]!, "position").prompt];
  const prompts = questions.map((question, i) => ({ image: images[i]!, question }));
  const rows = prompts.map((p) => llava.promptIds(p));
  const logits = await llava.lastLogits(rows, images);
  const answers = await llava.answer(prompts, 6);
  const out = {
    images: images.map((im) => ({
      width: im.width,
      height: im.height,
      rgb_base64: Buffer.from(im.data).toString("base64"),
    })),
    clip: {
      captions,
      input_ids: clip.textIds(captions).ids,
      image_embeds: Array.from(imageEmbeds),
      text_embeds: Array.from(textEmbeds),
    },
    llava: {
      questions,
      prompt_text: prompts.map((p) =>
        llava.tok.renderChat(
          [{ role: "user", content: [{ type: "image" }, { type: "text", text: p.question }] }],
          {
            addGenerationPrompt: true,
          },
        ),
      ),
      input_ids: rows,
      last_logits: logits.map((l) => Array.from(l)),
      greedy_answers: answers,
    },
  };
  await writeFile(join(dir, "reference-outputs.json"), `${JSON.stringify(out)}\n`);
}

if (process.argv[1]?.endsWith("reference-outputs.ts")) {
  const { values } = parseArgs({ options: { models: { type: "string", default: TOY_MODELS_DIR } } });
  await writeReferenceOutputs(
    values.models!,
    new Runtime({ executionProvider: "cpu", intraOpNumThreads: 2 }),
  );
}
