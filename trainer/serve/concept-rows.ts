/**
 * Concept artifacts as the prompt uses them (the Yo'LLaVA layout trainer/personalize trains with): the
 * system turn introduces each concept as "<bo> is <bo:1>...<bo:k>." (identifier row, k latent rows; no
 * sentence when k = 0) and every mention of `<bo>` is the identifier input row alone. The identifier
 * output row (lm_head) is an extra output class in generation, so answers can say `<bo>`. Decoded
 * artifacts are cached by (concept, version) and dropped when the edge purges the concept.
 */
import {
  ConceptArtifactError,
  type ConceptArtifactHeader,
  decodeConceptArtifact,
} from "../../shared/concept-artifact";
import type { ConceptSegment } from "../../shared/prompt-plan";
import { ServeError } from "./errors";
import { MAX_DECODED_CONCEPTS } from "./limits";

export interface ConceptInput {
  header: ConceptArtifactHeader;
  /** [hidden] */
  identifier: Float32Array;
  /** [k * hidden] (empty when k = 0) */
  latent: Float32Array;
  /** [hidden] the identifier output row: logit = final-norm hidden . output */
  output: Float32Array;
}

export class ConceptRowsCache {
  private readonly decoded = new Map<string, ConceptInput>();

  constructor(
    private readonly modelId: string,
    private readonly hiddenSize: number,
  ) {}

  get(segment: ConceptSegment): ConceptInput {
    const key = `${segment.concept}@${segment.version}`;
    const hit = this.decoded.get(key);
    if (hit) return hit;
    let input: ConceptInput;
    try {
      const artifact = decodeConceptArtifact(Buffer.from(segment.artifact, "base64"));
      const { header, rows } = artifact;
      if (header.model.repo !== this.modelId) {
        throw new ServeError(
          "base_model_mismatch",
          `${segment.name} was trained for ${header.model.repo}, this node serves ${this.modelId}`,
        );
      }
      if (header.hidden_size !== this.hiddenSize) {
        throw new ServeError(
          "invalid_concept",
          `${segment.name} has hidden size ${header.hidden_size}, the model ${this.hiddenSize}`,
        );
      }
      const latent = new Float32Array(rows.latentInput.length * this.hiddenSize);
      rows.latentInput.forEach((row, i) => {
        latent.set(row, i * this.hiddenSize);
      });
      input = { header, identifier: rows.identifierInput, latent, output: rows.identifierOutput };
    } catch (error) {
      if (error instanceof ConceptArtifactError)
        throw new ServeError("invalid_concept", `${segment.name}: ${error.message}`);
      throw error;
    }
    if (this.decoded.size >= MAX_DECODED_CONCEPTS) {
      const oldest = this.decoded.keys().next().value;
      if (oldest !== undefined) this.decoded.delete(oldest);
    }
    this.decoded.set(key, input);
    return input;
  }

  /** Drops every version of a concept; returns how many entries went. */
  purge(conceptId: string): number {
    let dropped = 0;
    for (const key of [...this.decoded.keys()]) {
      if (key.startsWith(`${conceptId}@`)) {
        this.decoded.delete(key);
        dropped++;
      }
    }
    return dropped;
  }

  /** Whether any version of the concept is held. */
  holds(conceptId: string): boolean {
    for (const key of this.decoded.keys()) if (key.startsWith(`${conceptId}@`)) return true;
    return false;
  }

  get size(): number {
    return this.decoded.size;
  }
}
