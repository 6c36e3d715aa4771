import { defineConfig } from "drizzle-kit";

// SQL for D1 is generated from the drizzle schema; wrangler and the tests apply it.
export default defineConfig({
  dialect: "sqlite",
  schema: "./workers/db/schema.ts",
  out: "./migrations",
});
