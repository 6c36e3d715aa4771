// onnxruntime sessions for engine graphs: a cache keyed by model hash (+ input shapes when shapes are
// specialized), execution provider choice with CPU fallback, thread and optimization settings.

import { createHash } from "node:crypto";
import { mkdtempSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as ort from "onnxruntime-node";
import { bytesOf, type DType, type TensorData } from "./dtype";
import type { Graph } from "./graph";
import { saveModel, serializeModel } from "./onnx";

export type ExecutionProvider = "cpu" | "cuda" | "webgpu" | (string & {});
export type OptimizationLevel = "disabled" | "basic" | "extended" | "all";

export interface RuntimeOptions {
  executionProvider?: ExecutionProvider;
  intraOpNumThreads?: number;
  interOpNumThreads?: number;
  /**
   * "basic" for float64 gradient checks: at "extended" ORT fuses x*sigmoid(x) into a float32-only kernel.
   * Default "all".
   */
  graphOptimizationLevel?: OptimizationLevel;
  /**
   * Fix symbolic dims to the first run's input shapes (freeDimensionOverrides), one session per shape
   * signature. Lets ORT plan memory statically; off by default.
   */
  specializeShapes?: boolean;
  /** Write an ORT profile (JSON, one entry per node by name) under this path prefix; see endProfiling(). */
  profileFilePrefix?: string;
  /**
   * For models loaded from a path: keep the memory-mapped weights as they are instead of letting MLAS
   * prepack them (session.disable_prepacking). Saves a copy of every MatMul weight, but costs about 2x in
   * GEMM-bound steps (bench:engine); off by default, for memory-tight serving of large checkpoints.
   */
  keepWeightsMapped?: boolean;
  /** Any other onnxruntime session options (memory arena, execution mode, ...), applied last. */
  sessionOptions?: ort.InferenceSession.SessionOptions;
  /** Called with warnings such as an execution-provider fallback; default console.warn. */
  warn?: (message: string) => void;
}

/** A serialized graph, ready for a session: in-memory bytes or a model file with external data. */
export interface CompiledModel {
  hash: string;
  bytes?: Uint8Array;
  path?: string;
  inputNames: string[];
  outputNames: string[];
  /** True when compile() kept an existing external data file written for the same weights. */
  dataReused?: boolean;
  /** Declared dims per input (symbolic names are strings), for checks and shape specialization. */
  inputDims: Map<string, readonly (number | string)[]>;
  inputDtypes: Map<string, DType>;
}

export interface CompileOptions {
  /** Write model + external data file under this directory and load from the path (memory-mapped weights). */
  directory?: string;
  /** Implies a temporary directory when true and `directory` is not given. */
  externalData?: boolean;
  externalDataThreshold?: number;
  /**
   * Identifies the weights (e.g. repo + revision + config hash): an existing data file written for the
   * same fingerprint is reused, and it keys the session cache. Without it the weights are hashed.
   */
  weightsFingerprint?: string;
}

function hashWeights(graph: Graph): string {
  const hash = createHash("sha256");
  for (const init of graph.initializers.values()) hash.update(init.name).update(bytesOf(init.data));
  // Weights referenced in files are identified by where they are and the file's size and mtime.
  for (const ref of graph.fileInitializers.values()) {
    const { size, mtimeMs } = statSync(ref.file);
    hash.update(`${ref.name}|${ref.file}|${ref.offset}|${ref.length}|${size}|${mtimeMs}`);
  }
  return hash.digest("hex");
}

export function compile(graph: Graph, options: CompileOptions = {}): CompiledModel {
  if (graph.outputs.length === 0) throw new Error(`graph ${graph.name} has no outputs`);
  const base = {
    inputNames: graph.inputs.map((t) => t.name),
    outputNames: graph.outputs.map((o) => o.name),
    inputDims: new Map(graph.inputs.map((t) => [t.name, t.shape])),
    inputDtypes: new Map(graph.inputs.map((t) => [t.name, t.dtype])),
  };
  if (options.directory || options.externalData) {
    const dir = options.directory ?? mkdtempSync(join(tmpdir(), "yo-engine-"));
    const path = join(dir, `${graph.name}.onnx`);
    const weights = options.weightsFingerprint ?? hashWeights(graph);
    const serialized = saveModel(graph, path, {
      externalDataThreshold: options.externalDataThreshold,
      weightsFingerprint: weights,
    });
    // The proto holds offsets, not weights, so the weights' identity joins the session key.
    const hash = createHash("sha256").update(serialized.bytes).update(path).update(weights).digest("hex");
    return { ...base, hash, path, dataReused: serialized.dataReused ?? false };
  }
  const { bytes } = serializeModel(graph);
  return { ...base, hash: createHash("sha256").update(bytes).digest("hex"), bytes };
}

const ORT_TYPE: Partial<Record<DType, ort.Tensor.Type>> = {
  float32: "float32",
  float64: "float64",
  float16: "float16",
  int64: "int64",
  int32: "int32",
  int8: "int8",
  uint8: "uint8",
  bool: "bool",
};

/** An ort.Tensor viewing `data` (no copy). */
export function ortTensor(dtype: DType, data: TensorData, dims: readonly number[]): ort.Tensor {
  const type = ORT_TYPE[dtype];
  if (!type) throw new Error(`onnxruntime-node has no ${dtype} tensors`);
  return new ort.Tensor(type, data as never, dims);
}

export class Runtime {
  private readonly sessions = new Map<string, Promise<ort.InferenceSession>>();
  private resolvedProvider: ExecutionProvider;

  constructor(readonly options: RuntimeOptions = {}) {
    this.resolvedProvider = this.chooseProvider(options.executionProvider ?? "cpu");
  }

  get executionProvider(): ExecutionProvider {
    return this.resolvedProvider;
  }

  private warn(message: string): void {
    (this.options.warn ?? console.warn)(message);
  }

  private chooseProvider(requested: ExecutionProvider): ExecutionProvider {
    if (requested === "cpu") return "cpu";
    const available = ort.listSupportedBackends().map((b) => b.name);
    if (available.includes(requested)) return requested;
    this.warn(`execution provider ${requested} is not available (have: ${available.join(", ")}); using cpu`);
    return "cpu";
  }

  private sessionOptions(
    model: CompiledModel,
    overrides?: Record<string, number>,
  ): ort.InferenceSession.SessionOptions {
    const o = this.options;
    return {
      executionProviders: [this.resolvedProvider],
      graphOptimizationLevel: o.graphOptimizationLevel ?? "all",
      ...(o.intraOpNumThreads !== undefined ? { intraOpNumThreads: o.intraOpNumThreads } : {}),
      ...(o.interOpNumThreads !== undefined ? { interOpNumThreads: o.interOpNumThreads } : {}),
      ...(overrides ? { freeDimensionOverrides: overrides } : {}),
      ...(o.profileFilePrefix ? { enableProfiling: true, profileFilePrefix: o.profileFilePrefix } : {}),
      // Prepacking copies memory-mapped weights into packed buffers; keepWeightsMapped trades speed for memory.
      ...(model.path && o.keepWeightsMapped ? { extra: { session: { disable_prepacking: "1" } } } : {}),
      ...o.sessionOptions,
    };
  }

  /** Free-dimension values implied by the feeds' shapes. */
  private dimOverrides(model: CompiledModel, feeds: Record<string, ort.Tensor>): Record<string, number> {
    const overrides: Record<string, number> = {};
    for (const [name, dims] of model.inputDims) {
      const feed = feeds[name];
      if (!feed) continue;
      dims.forEach((d, i) => {
        if (typeof d === "string") overrides[d] = feed.dims[i]!;
      });
    }
    return overrides;
  }

  async session(model: CompiledModel, feeds?: Record<string, ort.Tensor>): Promise<ort.InferenceSession> {
    const overrides = this.options.specializeShapes && feeds ? this.dimOverrides(model, feeds) : undefined;
    const key = overrides ? `${model.hash}|${JSON.stringify(overrides)}` : model.hash;
    let session = this.sessions.get(key);
    if (!session) {
      session = this.createSession(model, overrides);
      this.sessions.set(key, session);
      session.catch(() => this.sessions.delete(key));
    }
    return session;
  }

  private async createSession(
    model: CompiledModel,
    overrides?: Record<string, number>,
  ): Promise<ort.InferenceSession> {
    const source = model.path ?? model.bytes!;
    try {
      return await ort.InferenceSession.create(source as never, this.sessionOptions(model, overrides));
    } catch (error) {
      if (this.resolvedProvider === "cpu") throw error;
      this.warn(`execution provider ${this.resolvedProvider} failed (${String(error)}); using cpu`);
      this.resolvedProvider = "cpu";
      return ort.InferenceSession.create(source as never, this.sessionOptions(model, overrides));
    }
  }

  /**
   * One run. Returns every graph output by name, or only `fetches`: a list of names, or names mapped to
   * preallocated tensors that onnxruntime writes into (e.g. a gradient buffer reused every step).
   */
  async run(
    model: CompiledModel,
    feeds: Record<string, ort.Tensor>,
    fetches?: readonly string[] | Record<string, ort.Tensor | null>,
  ): Promise<Record<string, ort.Tensor>> {
    checkFeeds(model, feeds);
    const session = await this.session(model, feeds);
    if (!fetches) return session.run(feeds);
    return session.run(
      feeds,
      (Array.isArray(fetches) ? [...fetches] : fetches) as ort.InferenceSession.FetchesType,
    );
  }

  /** Flushes the profiles of all cached sessions (when profileFilePrefix is set). */
  async endProfiling(): Promise<void> {
    for (const session of this.sessions.values()) (await session).endProfiling();
  }

  get cachedSessionCount(): number {
    return this.sessions.size;
  }

  async release(): Promise<void> {
    const sessions = [...this.sessions.values()];
    this.sessions.clear();
    for (const s of sessions) await (await s).release();
  }
}

/**
 * Fails early, naming the input, when feeds disagree with the graph's declared types and shapes
 * (including one symbolic dim bound to two different sizes), instead of deep inside onnxruntime.
 */
export function checkFeeds(model: CompiledModel, feeds: Record<string, ort.Tensor>): void {
  const missing = model.inputNames.filter((n) => !(n in feeds));
  if (missing.length > 0) throw new Error(`missing feeds: ${missing.join(", ")}`);
  const bound = new Map<string, { size: number; input: string }>();
  for (const [name, dims] of model.inputDims) {
    const feed = feeds[name]!;
    const dtype = model.inputDtypes.get(name)!;
    if (ORT_TYPE[dtype] !== feed.type) throw new Error(`feed ${name}: expected ${dtype}, got ${feed.type}`);
    const shapeText = `[${feed.dims.join(",")}] for declared [${dims.join(",")}]`;
    if (feed.dims.length !== dims.length) throw new Error(`feed ${name}: rank mismatch, ${shapeText}`);
    dims.forEach((d, i) => {
      const size = feed.dims[i]!;
      if (typeof d === "number") {
        if (d !== size) throw new Error(`feed ${name}: dim ${i} is ${size}, ${shapeText}`);
        return;
      }
      const previous = bound.get(d);
      if (previous && previous.size !== size) {
        throw new Error(`feed ${name}: ${d} = ${size} here but ${previous.size} in ${previous.input}`);
      }
      bound.set(d, { size, input: name });
    });
  }
}

let defaultRuntime: Runtime | undefined;

/** Compiles (cached by hash) and runs a graph on a shared CPU runtime: the quick path for tests and tools. */
export async function runGraph(
  graph: Graph,
  feeds: Record<string, ort.Tensor>,
  runtime?: Runtime,
): Promise<Record<string, ort.Tensor>> {
  if (!runtime) {
    defaultRuntime ??= new Runtime();
    return defaultRuntime.run(compile(graph), feeds);
  }
  return runtime.run(compile(graph), feeds);
}
