// Generation on the frozen decoder: cached decoder graph, sampling, the generation loop, candidate
// scoring, prefix KV cache, image-feature cache and embedding assembly.

export * from "./content-key";
export * from "./decoder";
export * from "./embeddings";
export * from "./generate";
export * from "./image-feature-cache";
export * from "./kv-cache";
export * from "./lru";
export * from "./prefix-cache";
export * from "./sampling";
export * from "./scoring";
export * from "./stop-strings";
