import path from "node:path";
import { cloudflareTest, readD1Migrations } from "@cloudflare/vitest-pool-workers";
import { defineConfig } from "vitest/config";

// Secrets the edge tests run with; tests read them back from `env`.
const TEST_ADMIN_KEY = "test-admin-key-0123456789abcdef0123456789";
const TEST_HMAC_SECRET = "test-hmac-secret-0123456789abcdef012345";

// Edge tests run inside workerd with real local D1, KV, Queues and R2. The trainer node is replaced by
// `trainerStub` (test/workers/trainer-stub.js), an auxiliary worker behind the TRAINER service binding.
export default defineConfig(async () => {
  const migrations = await readD1Migrations(path.join(import.meta.dirname, "migrations"));
  return {
    plugins: [
      cloudflareTest({
        main: "./workers/index.ts",
        wrangler: { configPath: "./wrangler.toml" },
        miniflare: {
          bindings: {
            TEST_MIGRATIONS: migrations,
            ADMIN_KEY: TEST_ADMIN_KEY,
            HMAC_SECRET: TEST_HMAC_SECRET,
            TRAINER_TIMEOUT_MS: "2000",
            LOG_LEVEL: "error",
          },
          serviceBindings: { TRAINER: "trainer-stub" },
          workers: [
            {
              name: "trainer-stub",
              modules: true,
              scriptPath: path.join(import.meta.dirname, "test/workers/trainer-stub.js"),
              compatibilityDate: "2026-04-01",
            },
          ],
        },
      }),
    ],
    test: {
      name: "workers",
      include: ["test/workers/**/*.test.ts"],
      setupFiles: ["./test/workers/setup.ts"],
      // The trainer stub's behaviour is switched per test; files run one at a time so switches do not race.
      fileParallelism: false,
    },
  };
});
