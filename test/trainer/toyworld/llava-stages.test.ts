// Stages run one at a time (`toy:train --stage NAME`) resume from the snapshot the last one wrote. A
// text-only stage binds no vision tower, so it must still write the whole model: the LLM it trained and
// the tower it did not touch.

import { cp, mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, describe, expect, it } from "vitest";
import { Runtime } from "../../../trainer/engine/index";
import { loadTokenizer } from "../../../trainer/text/tokenizer";
import { readSnapshotTensors } from "../../../trainer/toyworld/train/checkpoint";
import { trainLlava } from "../../../trainer/toyworld/train/llava-recipe";
import { type LlavaStagePlan, TRAINING_PLAN } from "../../../trainer/toyworld/train/plan";
import { TrainingScenes } from "../../../trainer/toyworld/train/scenes";
import { buildToyTokenizer } from "../../../trainer/toyworld/train/tokenizer";
import { TOY_CLIP_DIR, TOY_LLAVA_DIR } from "../../../trainer/toyworld/train/toy-models";

const dirs: string[] = [];
afterAll(async () => {
  for (const d of dirs) await rm(d, { recursive: true, force: true });
});

const stage = (name: string, textOnly: boolean): LlavaStagePlan => ({
  name,
  textOnly,
  mix: textOnly ? { recognition: 1 } : { vqa: 1 },
  trains: ["projector", "llm"],
  schedule: { steps: 2, lr: 1e-3, warmup: 1, weightDecay: 0, maxGradNorm: 1, logEvery: 1 },
  batchSize: 4,
  seed: 1,
});

describe("trainLlava, one stage at a time", () => {
  it("writes a text-only stage's LLM and keeps the tower as it was", async () => {
    const out = await mkdtemp(join(tmpdir(), "llava-stages-"));
    dirs.push(out);
    await cp(TOY_LLAVA_DIR, join(out, "toy-llava"), { recursive: true });
    const before = await readSnapshotTensors(join(out, "toy-llava"));
    await trainLlava({
      runtime: new Runtime({ executionProvider: "cpu", intraOpNumThreads: 2 }),
      tok: loadTokenizer(TOY_LLAVA_DIR),
      tokenizer: buildToyTokenizer(),
      scenes: new TrainingScenes(64, 64),
      plan: { ...TRAINING_PLAN, llava: [stage("image", false), stage("words", true)] },
      out,
      clipDir: TOY_CLIP_DIR,
      stages: ["words"],
    });
    const after = await readSnapshotTensors(join(out, "toy-llava"));
    expect([...after.keys()].sort()).toEqual([...before.keys()].sort());
    const changed = (name: string) => !after.get(name)!.data.every((v, i) => v === before.get(name)!.data[i]);
    const names = [...after.keys()];
    expect(names.filter((n) => n.startsWith("vision_tower.")).filter(changed)).toEqual([]);
    expect(
      names.filter((n) => n === "language_model.model.layers.0.self_attn.q_proj.weight").some(changed),
    ).toBe(true);
    for (const [name, t] of after) expect(t.shape, name).toEqual(before.get(name)!.shape);
  }, 120_000);
});
