/**
 * First middleware: request id (accepted from x-request-id if well-formed, else generated), structured
 * logger, and a D1 session. Reads go through env.DB.withSession(bookmark) so a client that sends back the
 * x-d1-bookmark it received always sees its own writes, while other reads may be served by replicas.
 */
import { drizzle } from "drizzle-orm/d1";
import { createMiddleware } from "hono/factory";
import * as schema from "../db/schema";
import type { AppEnv } from "../env";
import { createLogger } from "./log";

export const REQUEST_ID_HEADER = "x-request-id";
export const BOOKMARK_HEADER = "x-d1-bookmark";
const REQUEST_ID_PATTERN = /^[A-Za-z0-9._:-]{8,128}$/;
const BOOKMARK_PATTERN = /^[A-Za-z0-9._:-]{1,256}$/;

export const requestContext = createMiddleware<AppEnv>(async (c, next) => {
  const offered = c.req.header(REQUEST_ID_HEADER);
  const requestId = offered && REQUEST_ID_PATTERN.test(offered) ? offered : crypto.randomUUID();
  c.set("requestId", requestId);
  const log = createLogger({ request_id: requestId }, c.env.LOG_LEVEL);
  c.set("log", log);
  const bookmark = c.req.header(BOOKMARK_HEADER);
  const session = c.env.DB.withSession(
    bookmark && BOOKMARK_PATTERN.test(bookmark) ? bookmark : "first-unconstrained",
  );
  // drizzle only needs prepare() and batch(), which a D1 session provides.
  c.set("db", drizzle(session as unknown as D1Database, { schema }));
  const timings = { trainerMs: 0 };
  c.set("timings", timings);
  const started = performance.now();
  await next();
  const totalMs = performance.now() - started;
  c.res.headers.set(REQUEST_ID_HEADER, requestId);
  // Edge time excludes the trainer node; workerd clocks advance only across I/O, so these are I/O-bound figures.
  c.res.headers.set(
    "server-timing",
    `edge;dur=${(totalMs - timings.trainerMs).toFixed(2)}, trainer;dur=${timings.trainerMs.toFixed(2)}`,
  );
  const latest = session.getBookmark();
  if (latest) c.res.headers.set(BOOKMARK_HEADER, latest);
  log("info", "request", {
    method: c.req.method,
    path: new URL(c.req.url).pathname,
    status: c.res.status,
    ms: Math.round(totalMs * 100) / 100,
    trainer_ms: Math.round(timings.trainerMs * 100) / 100,
  });
});
