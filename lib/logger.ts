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
 * A copy of `value` with every key of `keys` (lowercase) replaced by the censor, at any depth (up
 * to 12 levels; deeper is cut). Plain objects and arrays only: errors go to pino's serializer.
 */
function scrub(value: unknown, keys: ReadonlySet<string>, depth = 0): unknown {
  if (value === null || typeof value !== "object") return value;
  if (depth > 12) return "[too deep]";
  if (Array.isArray(value)) return value.map((v) => scrub(v, keys, depth + 1));
  const proto = Object.getPrototypeOf(value);
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = keys.has(k.toLowerCase()) ? CENSOR : scrub(v, keys, depth + 1);
  return out;
}

const CENSOR = "[redacted]";

// Read while modules load, so a bad value must not throw here: it falls back to the default, and
// the process's start-up check (configOrExit) reports it by name.
function setting<K extends "HUB_LOG_LEVEL" | "HUB_LOG_REDACT">(name: K) {
  const raw = process.env[name] || (name === "HUB_LOG_LEVEL" ? process.env.LOG_LEVEL || undefined : undefined);
  const parsed = SETTINGS[name].schema.safeParse(raw || undefined);
  return parsed.success ? parsed.data : SETTINGS[name].schema.parse(undefined);
}

/** The active span's ids (only while a sampled trace runs; nothing when tracing is off). */
function traceFields(): Record<string, string> {
  const span = trace.getActiveSpan();
  if (!span) return {};
  const c = span.spanContext();
  return c.traceFlags & 1 ? { traceId: c.traceId, spanId: c.spanId } : {};
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
  /** Where lines go (tests); default stderr. */
  destination?: DestinationStream;
}

/** A pino logger with the hub's redaction, trace ids and field names. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  const keys = new Set([...REDACTED_KEYS, ...(opts.redact ?? []).filter((e) => !e.includes(".") && !e.includes("["))].map((k) => k.toLowerCase()));
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
      // name, message, stack, code and the cause's message: not every enumerable property (a
      // DOMException carried its 25 constants into every line).
      serializers: { err: serializeError },
    },
    opts.destination ?? pino.destination({ dest: 2, sync: false, minLength: 0 }),
  );
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
