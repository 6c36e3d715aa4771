// Public surface of the engine: graph building, ops, serialization, runtime (and autodiff, loss).

export * from "./dtype";
export * from "./graph";
export * from "./onnx";
export * from "./ops/index";
export * from "./runtime";
export * from "./shape";
