// Public surface of the engine: graph building, ops, serialization, runtime (and autodiff, loss).

export * from "./autodiff";
export * from "./debug";
export * from "./dtype";
export * from "./graph";
export * from "./loss";
export * from "./onnx";
export * from "./ops/index";
export * from "./runtime";
export * from "./shape";
export * from "./weight-file";
