// What the scripts that feed the reference tools share: the toy LLaVA's image-token count, and the files of
// a yes/no probe set that tools/reference/probe_toy_llava_match.py and train_toy_llava_torch.py --probe
// read (pixels.f32, CLIP-normalised in item order, and rows.json).

import { mkdir, readFile, writeFile } from "node:fs/promises";
import { join } from "node:path";
import { type HfJson, hfNumber } from "../../models/hf-config";
import type { RgbImage } from "../../vision/image";
import { pixelValues } from "./batching";

/** Image tokens per picture in a LLaVA snapshot's rows (config.json's image_seq_length). */
export async function llavaImageTokens(modelDir: string): Promise<number> {
  const config = JSON.parse(await readFile(join(modelDir, "config.json"), "utf8")) as HfJson;
  return hfNumber(config, "image_seq_length");
}

export interface YesNoProbeItem {
  image: RgbImage;
  /** The token row (question, image tokens, answer). */
  ids: number[];
  /** The position whose logits give the first answer token. */
  answerPosition: number;
  /** The tools score "yes" as right when asked === seen. */
  asked: number;
  seen: number;
}

export async function writeYesNoProbe(
  out: string,
  items: readonly YesNoProbeItem[],
  fields: { objects: number | string; colours?: readonly string[] },
): Promise<void> {
  await mkdir(out, { recursive: true });
  await writeFile(join(out, "pixels.f32"), pixelValues(items.map((it) => it.image)));
  await writeFile(
    join(out, "rows.json"),
    JSON.stringify({
      count: items.length,
      objects: fields.objects,
      size: items[0]?.image.width,
      ...(fields.colours ? { colours: fields.colours } : {}),
      rows: items.map(({ image: _, ...rest }) => rest),
    }),
  );
}
