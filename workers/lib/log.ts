/** Structured JSON logs: one object per line, every line carries the request id. */
export type LogLevel = "debug" | "info" | "warn" | "error";
export type Logger = (level: LogLevel, msg: string, fields?: Record<string, unknown>) => void;

const RANK: Record<LogLevel, number> = { debug: 0, info: 1, warn: 2, error: 3 };

export function createLogger(base: Record<string, unknown>, minLevel: string = "info"): Logger {
  const min = RANK[minLevel as LogLevel] ?? RANK.info;
  return (level, msg, fields) => {
    if (RANK[level] < min) return;
    const line = JSON.stringify({ level, msg, ...base, ...fields, ts: new Date().toISOString() });
    if (level === "error") console.error(line);
    else if (level === "warn") console.warn(line);
    else console.log(line);
  };
}
