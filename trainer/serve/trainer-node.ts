/**
 * The node's state, built once from the config: the base model (loaded in the background; the node answers
 * 503 until it is ready), caches, the recognizer, the job runner and its journal, metrics and nonces.
 */

import type * as v from "valibot";
import type { ConceptPurgeSchema } from "../../shared/trainer-api";
import { type BaseModel, loadBaseModel } from "./base-model";
import { ConceptRowsCache } from "./concept-rows";
import type { ConceptTrainer } from "./concept-trainer";
import type { ServeConfig } from "./config";
import { EdgeClient } from "./edge-client";
import { JobJournal } from "./job-journal";
import { type EdgeCallbacks, JobRunner } from "./job-runner";
import { PREFIX_CACHE_BYTES } from "./limits";
import { ServeMetrics } from "./metrics";
import { NonceStore } from "./nonce-store";
import { ConceptPrefixStore } from "./prefix-store";
import { Recognizer } from "./recognize";

export interface LoadedModel {
  model: BaseModel;
  concepts: ConceptRowsCache;
  prefixes: ConceptPrefixStore;
  recognizer: Recognizer;
}

export type Log = (message: string, fields?: Record<string, unknown>) => void;

export const jsonLog: Log = (message, fields = {}) => {
  console.log(JSON.stringify({ time: new Date().toISOString(), message, ...fields }));
};

export interface TrainerNodeOptions {
  config: ServeConfig;
  /** Builds the concept trainer once the model is loaded; undefined: this node does not train. */
  createTrainer?: (model: BaseModel, config: ServeConfig) => Promise<ConceptTrainer | undefined>;
  /** Name of the trainer for /readyz. */
  trainerName?: string;
  edge?: EdgeCallbacks;
  log?: Log;
}

export class TrainerNode {
  loaded: LoadedModel | undefined;
  loadError: string | undefined;
  jobs: JobRunner | undefined;
  readonly metrics = new ServeMetrics();
  readonly nonces = new NonceStore();
  readonly journal: JobJournal;
  readonly edge: EdgeCallbacks;
  readonly log: Log;
  inFlight = 0;
  trainerName: string | undefined;

  constructor(readonly options: TrainerNodeOptions) {
    const { config } = options;
    this.log = options.log ?? jsonLog;
    this.journal = new JobJournal(config.stateDir);
    this.edge =
      options.edge ??
      new EdgeClient({ baseUrl: config.edgeUrl, secret: config.hmacSecret, log: (m, f) => this.log(m, f) });
    this.trainerName = options.trainerName;
  }

  /** Loads the model and the trainer, then resumes journaled jobs. */
  async start(): Promise<void> {
    const { config } = this.options;
    try {
      const started = performance.now();
      const model = await loadBaseModel(config);
      const concepts = new ConceptRowsCache(model.id, model.hiddenSize);
      const prefixes = new ConceptPrefixStore(PREFIX_CACHE_BYTES);
      const trainer = await this.options.createTrainer?.(model, config);
      if (!trainer) this.trainerName = undefined;
      this.jobs = new JobRunner({
        trainer,
        edge: this.edge,
        journal: this.journal,
        concurrency: config.trainingConcurrency,
        queueDepth: config.trainingQueueDepth,
        log: (m, f) => this.log(m, f),
      });
      // Ready only now: /readyz and /v1 see the model and the job runner together.
      this.loaded = { model, concepts, prefixes, recognizer: new Recognizer({ model, concepts, prefixes }) };
      const resumed = this.jobs.resume();
      this.log("model loaded", {
        model: model.id,
        dir: model.dir,
        source: model.source,
        device: model.device,
        weights: model.weightFormat,
        trainer: this.trainerName ?? null,
        resumed_jobs: resumed,
        load_ms: Math.round(performance.now() - started),
      });
    } catch (error) {
      this.loadError = error instanceof Error ? `${error.name}: ${error.message}` : String(error);
      this.log("model failed to load", { error: this.loadError });
      throw error;
    }
  }

  /** Drops everything the node holds for a concept: prefixes, decoded rows, jobs and their photos. */
  purge(request: v.InferOutput<typeof ConceptPurgeSchema>): {
    prefixes: number;
    concept_rows: number;
    jobs: string[];
  } {
    const prefixes = this.loaded?.prefixes.purge(request.concept_id) ?? 0;
    const conceptRows = this.loaded?.concepts.purge(request.concept_id) ?? 0;
    const jobs = this.jobs?.purge(request.concept_id, request.job_ids) ?? [];
    for (const id of request.job_ids) this.journal.remove(id);
    return { prefixes, concept_rows: conceptRows, jobs };
  }

  /** What the node still holds for a concept (all false after a purge). */
  holdings(conceptId: string): { prefixes: boolean; concept_rows: boolean; photos: boolean } {
    const rows = this.loaded?.concepts;
    return {
      prefixes: this.loaded?.prefixes.holds(conceptId) ?? false,
      concept_rows: rows ? rows.holds(conceptId) : false,
      photos: this.jobs?.holdsPhotosFor(conceptId) ?? false,
    };
  }

  async shutdown(): Promise<void> {
    await this.jobs?.shutdown();
    await this.loaded?.model.release();
  }
}
