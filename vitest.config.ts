import { defineConfig } from "vitest/config";

// Two worlds: trainer code runs in Node (onnxruntime-node), edge code runs inside workerd
// with real local D1, KV, Queues and R2 (see vitest.workers.config.ts).
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: "trainer",
          environment: "node",
          include: ["test/trainer/**/*.test.ts", "test/shared/**/*.test.ts"],
          testTimeout: 120_000,
          hookTimeout: 120_000,
        },
      },
      "./vitest.workers.config.ts",
      {
        // A real trainer node process and real workerd (wrangler dev) on loopback ports (test/e2e/system.ts).
        test: {
          name: "e2e",
          environment: "node",
          include: ["test/e2e/**/*.test.ts"],
          testTimeout: 180_000,
          hookTimeout: 180_000,
        },
      },
    ],
  },
});
