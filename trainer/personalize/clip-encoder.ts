// CLIP image embeddings (HF get_image_features, L2-normalized) for the negatives pool: the index is built
// once per pool with them, and a concept's positives are embedded with the same tower to retrieve hard
// negatives.

import type { ModelFingerprint } from "../../shared/concept-artifact";
import { type CompiledModel, compile, Graph, ortTensor, type Runtime } from "../engine/index";
import { loadClip } from "../models/loader";
import { weightsDigest } from "../models/weights-revision";
import type { RgbImage } from "../vision/image";
import { type ImageProcessor, loadImageProcessor } from "../vision/processor";
import { modelFingerprint } from "./concept-model";

export class ClipImageEncoder {
  private constructor(
    readonly fingerprint: ModelFingerprint,
    /** Digest of the weights (see weightsDigest). */
    readonly weights: string,
    readonly dim: number,
    private readonly compiled: CompiledModel,
    private readonly processor: ImageProcessor,
    private readonly pixelShape: [number, number, number],
    private readonly runtime: Runtime,
  ) {}

  static async load(dir: string, runtime: Runtime, repo?: string): Promise<ClipImageEncoder> {
    const graph = new Graph("clip_image_embeds");
    const { model } = await loadClip(dir, graph);
    const size = model.config.vision.imageSize;
    const pixelShape: [number, number, number] = [3, size, size];
    const pixels = graph.input("pixel_values", "float32", ["images", ...pixelShape]);
    graph.output(model.imageEmbeds(pixels), "image_embeds");
    // The full digest the pool needs also names the revision: the files are read once.
    const weights = await weightsDigest(dir);
    return new ClipImageEncoder(
      modelFingerprint(dir, repo, `local-${weights}`),
      weights,
      model.config.projectionDim,
      compile(graph),
      loadImageProcessor(dir),
      pixelShape,
      runtime,
    );
  }

  /** Unit-length embeddings, one per image, [images.length * dim]. */
  async embed(images: readonly RgbImage[], batchSize = 32): Promise<Float32Array> {
    const out = new Float32Array(images.length * this.dim);
    const plane = this.pixelShape[0] * this.pixelShape[1] * this.pixelShape[2];
    for (let i = 0; i < images.length; i += batchSize) {
      const chunk = images.slice(i, i + batchSize);
      const data = new Float32Array(chunk.length * plane);
      chunk.forEach((image, j) => {
        data.set(this.processor.preprocess(image).frames[0]!.data, j * plane);
      });
      const result = await this.runtime.run(this.compiled, {
        pixel_values: ortTensor("float32", data, [chunk.length, ...this.pixelShape]),
      });
      const embeds = result.image_embeds!.data as Float32Array;
      for (let j = 0; j < chunk.length; j++) {
        const row = embeds.subarray(j * this.dim, (j + 1) * this.dim);
        out.set(normalize(row), (i + j) * this.dim);
      }
    }
    return out;
  }
}

export function normalize(v: Float32Array): Float32Array {
  let s = 0;
  for (const x of v) s += x * x;
  const n = Math.sqrt(s) || 1;
  return Float32Array.from(v, (x) => x / n);
}
