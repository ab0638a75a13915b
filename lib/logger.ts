import { SETTINGS } from "./config.ts";

/** One JSON line per event on stderr; the request id ties a masked client error to its log line. */
type Level = "debug" | "info" | "warn" | "error";
const ORDER: Record<Level | "silent", number> = { debug: 10, info: 20, warn: 30, error: 40, silent: 100 };
// Read while modules load, so a bad value must not throw here: it falls back to info, and the
// process's start-up check (configOrExit) reports it by name.
const configured = SETTINGS.HUB_LOG_LEVEL.schema.safeParse(process.env.HUB_LOG_LEVEL || undefined);
let threshold = ORDER[configured.success ? configured.data : "info"];

export function setLogLevel(level: Level | "silent") {
  threshold = ORDER[level];
}

function write(level: Level, msg: string, fields?: Record<string, unknown>) {
  if (ORDER[level] < threshold) return;
  const line: Record<string, unknown> = { t: new Date().toISOString(), level, msg, ...fields };
  const err = fields?.err;
  if (err instanceof Error) line.err = { name: err.name, message: err.message, stack: err.stack };
  process.stderr.write(`${JSON.stringify(line)}\n`);
}

export const log = {
  debug: (msg: string, fields?: Record<string, unknown>) => write("debug", msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => write("info", msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => write("warn", msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => write("error", msg, fields),
};
