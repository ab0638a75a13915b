import { trace } from "@opentelemetry/api";
import pino, { type DestinationStream, type Logger } from "pino";
import { SETTINGS } from "./config.ts";

/**
 * One JSON line per event (pino) on stderr. Every line carries the active trace and span ids when a
 * traced request is running (lib/tracing.ts), so a log line leads to its trace; the request id ties
 * a masked client error to its log line. Secrets, tokens and personal data are removed by
 * configuration, never by the callers' care: every key of REDACTED_KEYS (+ the keys of
 * HUB_LOG_REDACT) at any depth (pino's `formatters.log`: pino's `redact` paths need one wildcard per
 * level and missed a password five levels down, lib/logger.test.ts), and HUB_LOG_REDACT's dotted
 * paths through pino's `redact`.
 *
 * The exported API (`log.debug/info/warn/error(msg, fields)`, `setLogLevel`) is the one the whole
 * repository calls; `currentLogger()` is the pino instance for code that wants child loggers.
 */
export type Level = "debug" | "info" | "warn" | "error";

/**
 * Keys whose values never reach a log line, at any depth, compared without case. Secrets:
 * credentials, tokens, signatures, one-time codes. Personal data: contact details, names,
 * birthday, addresses.
 */
export const REDACTED_KEYS = [
  "authorization",
  "proxy-authorization",
  "cookie",
  "set-cookie",
  "x-hub-identity",
  "webhook-signature",
  "password",
  "newPassword",
  "currentPassword",
  "passwordHash",
  "secret",
  "secrets",
  "clientSecret",
  "client_secret",
  "signingSecret",
  "token",
  "accessToken",
  "access_token",
  "refreshToken",
  "refresh_token",
  "idToken",
  "id_token",
  "subject_token",
  "code_verifier",
  "codeVerifier",
  "activationCode",
  "totp",
  "totpSecret",
  "otp",
  "email",
  "phone",
  "birthday",
  "displayName",
  "firstName",
  "lastName",
  "address",
  "login",
] as const;

/** pino `redact` paths: the dotted paths of HUB_LOG_REDACT (`req.body.note`); plain keys go to `scrub`. */
export function redactPaths(extra: readonly string[] = []): string[] {
  return extra.filter((p) => p.includes(".") || p.includes("["));
}

/**
 * `value` with every key of `keys` (lowercase) replaced by the censor, at any depth (up to 12
 * levels; deeper is cut). Plain objects and arrays only: errors go to pino's serializer. Copy on
 * write: an object with nothing to redact is returned as it is, so a line without secrets (every
 * request line) costs one lookup per key and no allocation (bench/obs.ts: walking and copying
 * every logged object was a visible share of the logging cost).
 */
function scrub(value: unknown, keys: KeyTest, depth = 0): unknown {
  if (value === null || typeof value !== "object") return value;
  if (depth > 12) return "[too deep]";
  if (Array.isArray(value)) {
    let copy: unknown[] | undefined;
    for (let i = 0; i < value.length; i++) {
      const v: unknown = value[i];
      const s = scrub(v, keys, depth + 1);
      if (s !== v) (copy ??= value.slice())[i] = s;
    }
    return copy ?? value;
  }
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const obj = value as Record<string, unknown>;
  let copy: Record<string, unknown> | undefined;
  for (const k in obj) {
    const v = obj[k];
    const s = keys(k) ? CENSOR : scrub(v, keys, depth + 1);
    if (s !== v) (copy ??= { ...obj })[k] = s;
  }
  return copy ?? value;
}

/** Whether a key is redacted (compared without case); remembers the answer per key, as keys repeat from line to line. */
type KeyTest = (key: string) => boolean;
function keyTest(keys: ReadonlySet<string>): KeyTest {
  const seen = new Map<string, boolean>();
  return (key) => {
    let hit = seen.get(key);
    if (hit === undefined) {
      hit = keys.has(key.toLowerCase());
      // Bounded: keys that are data (ids as keys) must not grow it without end.
      if (seen.size >= 10_000) seen.clear();
      seen.set(key, hit);
    }
    return hit;
  };
}

const CENSOR = "[redacted]";

// Read while modules load, so a bad value must not throw here: it falls back to the default, and
// the process's start-up check (configOrExit) reports it by name.
function setting<K extends "HUB_LOG_LEVEL" | "HUB_LOG_REDACT">(name: K) {
  const raw = process.env[name] || (name === "HUB_LOG_LEVEL" ? process.env.LOG_LEVEL || undefined : undefined);
  const parsed = SETTINGS[name].schema.safeParse(raw || undefined);
  return parsed.success ? parsed.data : SETTINGS[name].schema.parse(undefined);
}

/** The mixin's answer outside a sampled trace: one shared object, never merged into (`mergeMixin`). */
const NO_TRACE: Record<string, string> = Object.freeze({}) as Record<string, string>;

/** The active span's ids (only while a sampled trace runs; nothing when tracing is off). */
function traceFields(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (!span) return NO_TRACE;
  const c = span.spanContext();
  return c.traceFlags & 1 ? { traceId: c.traceId, spanId: c.spanId } : NO_TRACE;
}

/** pino's default merge copies the line's fields into the mixin's object: not into the shared empty one. */
function mergeMixin(fields: object, mixin: object): object {
  return mixin === NO_TRACE ? fields : Object.assign(mixin, fields);
}

function serializeError(e: unknown): unknown {
  if (!(e instanceof Error)) return e;
  const code = (e as { code?: unknown }).code;
  const cause = (e as { cause?: unknown }).cause;
  return {
    type: e.constructor?.name ?? e.name,
    name: e.name,
    message: e.message,
    stack: e.stack,
    ...(typeof code === "string" || typeof code === "number" ? { code } : {}),
    ...(cause instanceof Error ? { cause: cause.message } : {}),
  };
}

export interface LoggerOptions {
  level?: Level | "silent";
  /** Extra keys or dotted paths to redact (HUB_LOG_REDACT). */
  redact?: readonly string[];
  /** Where lines go (tests); default stderr, buffered (`logDestination`). */
  destination?: DestinationStream;
}

/** Bytes of log lines gathered before one write (sonic-boom's `minLength`). */
export const LOG_BUFFER_BYTES = 4096;
/** The longest a line waits in the buffer when the hub is quiet, in milliseconds. */
export const LOG_FLUSH_MS = 250;

/**
 * The process's log destination: asynchronous, buffered writes to `fd` (default stderr). One write
 * per LOG_BUFFER_BYTES of lines (a dozen request lines) instead of one per line: each write is a
 * trip through libuv's thread pool, and writing every line was the largest single cost of logging
 * under load (bench/obs.ts profile: sonic-boom's writes ~0.5 s of ~1.1 s). A line waits at most
 * about LOG_FLUSH_MS; an error line is written at once (`createLogger`'s hook). Nothing is lost on a
 * normal exit, on SIGTERM (the services await `flushLogs()` before `process.exit`) or on an
 * uncaught exception (pino writes what is buffered synchronously on `exit`): a process killed
 * outright (SIGKILL, out of memory, a native crash) loses at most the buffer, the last quarter
 * second or LOG_BUFFER_BYTES of lines (lib/logger.test.ts proves each case).
 */
export function logDestination(fd = 2, opts: { bufferBytes?: number; flushMs?: number } = {}): DestinationStream {
  return pino.destination({ dest: fd, sync: false, minLength: opts.bufferBytes ?? LOG_BUFFER_BYTES, periodicFlush: opts.flushMs ?? LOG_FLUSH_MS });
}

/** A pino logger with the hub's redaction, trace ids and field names. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const keys = keyTest(new Set([...REDACTED_KEYS, ...(opts.redact ?? []).filter((e) => !e.includes(".") && !e.includes("["))].map((k) => k.toLowerCase())));
  const destination = opts.destination ?? logDestination();
  const flushable = typeof (destination as { flush?: unknown }).flush === "function" ? (destination as DestinationStream & { flush(): void }) : undefined;
  return pino(
    {
      level: opts.level ?? "info",
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      messageKey: "msg",
      errorKey: "err",
      formatters: { level: (label) => ({ level: label }), log: (obj) => scrub(obj, keys) as Record<string, unknown> },
      ...(redactPaths(opts.redact).length ? { redact: { paths: redactPaths(opts.redact), censor: CENSOR } } : {}),
      mixin: traceFields,
      mixinMergeStrategy: mergeMixin,
      // name, message, stack, code and the cause's message: not every enumerable property (a
      // DOMException carried its 25 constants into every line).
      serializers: { err: serializeError },
      // A buffered destination: an error line goes out at once, not with the next buffer.
      ...(flushable
        ? {
            hooks: {
              logMethod(this: Logger, args: Parameters<Logger["info"]>, method: Logger["info"], level: number) {
                method.apply(this, args);
                if (level >= 50) flushable.flush();
              },
            },
          }
        : {}),
    },
    destination,
  );
}

/**
 * Writes what the process's logger has buffered; resolves when it is written (or could not be).
 * The services await it on SIGTERM before `process.exit`, so a write still in flight is not cut off.
 */
export function flushLogs(): Promise<void> {
  return new Promise((resolve) => {
    try {
      logger.flush(() => resolve());
    } catch {
      resolve(); // a destroyed destination: nothing more can be written
    }
  });
}

const redactSetting = setting("HUB_LOG_REDACT") as string[];
let logger: Logger = createLogger({ level: setting("HUB_LOG_LEVEL") as Level | "silent", redact: redactSetting });

/** The process's pino logger (child loggers, direct use). */
export function currentLogger(): Logger {
  return logger;
}

/** Replaces the process's logger (tests capture lines with `createLogger({ destination })`); returns the previous one. */
export function useLogger(next: Logger): Logger {
  const prev = logger;
  logger = next;
  return prev;
}

/** Whether a line of `level` would be written (callers skip building fields for a line that would not be). */
export function logEnabled(level: Level): boolean {
  return logger.isLevelEnabled(level);
}

export function setLogLevel(level: Level | "silent") {
  logger.level = level;
}

function write(level: Level, msg: string, fields?: Record<string, unknown>) {
  if (!logger.isLevelEnabled(level)) return;
  if (fields) logger[level](fields, msg);
  else logger[level](msg);
}

export const log = {
  debug: (msg: string, fields?: Record<string, unknown>) => write("debug", msg, fields),
  info: (msg: string, fields?: Record<string, unknown>) => write("info", msg, fields),
  warn: (msg: string, fields?: Record<string, unknown>) => write("warn", msg, fields),
  error: (msg: string, fields?: Record<string, unknown>) => write("error", msg, fields),
};
