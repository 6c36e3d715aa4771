import * as ort from "onnxruntime-node";
import { expect, it } from "vitest";

it("loads onnxruntime-node", () => {
  expect(ort.env.versions.node).toBe("1.30.0");
});
