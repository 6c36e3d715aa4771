// The op library: plain functions that append ONNX nodes, and the table of VJP rules used by autodiff.

import type { VjpRule } from "./common";
import { convVjps } from "./conv";
import { elementwiseVjps } from "./elementwise";
import { gatherVjps } from "./gather";
import { matmulVjps } from "./matmul";
import { normalizationVjps } from "./normalization";
import { quantizedVjps } from "./quantized";
import { reduceVjps } from "./reduce";
import { shapeVjps } from "./shape";

export * from "./common";
export * from "./conv";
export * from "./elementwise";
export * from "./gather";
export * from "./matmul";
export * from "./normalization";
export * from "./quantized";
export * from "./reduce";
export * from "./shape";

/** VJP rule per ONNX op type (default domain), or per `<domain>.<op type>` for contrib ops. */
export const VJP_RULES: Readonly<Record<string, VjpRule>> = {
  ...elementwiseVjps,
  ...matmulVjps,
  ...normalizationVjps,
  ...reduceVjps,
  ...shapeVjps,
  ...gatherVjps,
  ...convVjps,
  ...quantizedVjps,
};
