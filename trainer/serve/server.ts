/**
 * Starts the trainer node: HTTP on 127.0.0.1 (@hono/node-server) right away, the model in the background
 * (503 until ready), journaled jobs resumed once it is. SIGINT/SIGTERM stop taking work, abort running jobs
 * (their journal entries stay, so the next start resumes them) and close the server.
 */
import { serve } from "@hono/node-server";
import { createServeApp } from "./app";
import { type ServeConfig, serveConfigFromEnv } from "./config";
import { chooseConceptTrainer } from "./trainer-module";
import { jsonLog, TrainerNode } from "./trainer-node";

export interface RunningNode {
  node: TrainerNode;
  port: number;
  ready: Promise<void>;
  close(): Promise<void>;
}

export async function startTrainerNode(config: ServeConfig = serveConfigFromEnv()): Promise<RunningNode> {
  const trainer = chooseConceptTrainer(config.conceptTrainerModule);
  const node = new TrainerNode({
    config,
    ...(trainer ? { createTrainer: trainer.create, trainerName: trainer.name } : {}),
  });
  const app = createServeApp(node);
  const { server, port } = await new Promise<{ server: ReturnType<typeof serve>; port: number }>(
    (resolve) => {
      const s = serve({ fetch: app.fetch, hostname: config.host, port: config.port }, (info) =>
        resolve({ server: s, port: info.port }),
      );
    },
  );
  jsonLog("trainer node listening", {
    url: `http://${config.host}:${port}`,
    edge: config.edgeUrl,
    state_dir: config.stateDir,
  });
  const ready = node.start();
  ready.catch(() => {});
  return {
    node,
    port,
    ready,
    close: async () => {
      await node.shutdown();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** `serve` as a process: runs until SIGINT/SIGTERM. */
export async function runTrainerNode(config: ServeConfig = serveConfigFromEnv()): Promise<void> {
  const running = await startTrainerNode(config);
  let stopping = false;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      jsonLog("trainer node stopping", { signal });
      void running.close().then(() => process.exit(0));
    });
  }
  await running.ready.catch(() => process.exit(1));
}

if (process.argv[1] === import.meta.filename) {
  await runTrainerNode();
}
