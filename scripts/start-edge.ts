/**
 * npm start (edge part): makes a .dev.vars with random secrets if there is none, applies the D1 migrations
 * to the local database, then runs `wrangler dev` (local D1, KV, Queues, R2).
 */
import { spawn, spawnSync } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";

const root = path.resolve(import.meta.dirname, "..");
const wrangler = path.join(root, "node_modules", ".bin", "wrangler");
const devVars = path.join(root, ".dev.vars");

if (!existsSync(devVars)) {
  const adminKey = randomBytes(24).toString("hex");
  writeFileSync(devVars, `ADMIN_KEY=${adminKey}\nHMAC_SECRET=${randomBytes(32).toString("hex")}\n`, {
    mode: 0o600,
  });
  console.log(`wrote .dev.vars with fresh secrets (admin key: ${adminKey})`);
}

const migrate = spawnSync(wrangler, ["d1", "migrations", "apply", "DB", "--local"], {
  cwd: root,
  stdio: "inherit",
  env: { ...process.env, CI: "1" },
});
if (migrate.status !== 0) process.exit(migrate.status ?? 1);

const dev = spawn(wrangler, ["dev", ...process.argv.slice(2)], { cwd: root, stdio: "inherit" });
for (const signal of ["SIGINT", "SIGTERM"] as const) process.on(signal, () => dev.kill(signal));
dev.on("exit", (code) => process.exit(code ?? 0));
