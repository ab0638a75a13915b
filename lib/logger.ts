import { trace } from "@opentelemetry/api";
import pino, { type DestinationStream, type Logger } from "pino";
import { SETTINGS } from "./config.ts";

/**
 * One JSON line per event (pino) on stderr. Every line carries the active trace and span ids when a
 * traced request is running (lib/tracing.ts), so a log line leads to its trace; the request id ties
 * a masked client error to its log line. Secrets, tokens and personal data are removed by pino's
 * `redact` (paths below + HUB_LOG_REDACT), never by the callers' care.
 *
 * The exported API (`log.debug/info/warn/error(msg, fields)`, `setLogLevel`) is the one the whole
 * repository calls; `logger` is the pino instance for code that wants child loggers.
 */
export type Level = "debug" | "info" | "warn" | "error";

/**
 * Keys whose values never reach a log line, at any depth up to four levels (pino's redact paths
 * take one key per wildcard level, so each key is listed at each depth). Secrets: credentials,
 * tokens, signatures, one-time codes. Personal data: contact details, names, birthday, addresses.
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

const DEPTH = 4;
const keyPath = (k: string) => (/^[A-Za-z_$][\w$]*$/.test(k) ? k : `["${k}"]`);
const join = (prefix: string, k: string) => (k.startsWith("[") ? `${prefix}${k}` : prefix ? `${prefix}.${k}` : k);

/** pino redact paths for `keys` at depths 1..DEPTH, plus any dotted paths given as they are. */
export function redactPaths(extra: readonly string[] = []): string[] {
  const out = new Set<string>();
  const keys = [...REDACTED_KEYS, ...extra.filter((e) => !e.includes(".") && !e.includes("["))];
  for (const k of keys) {
    let prefix = "";
    for (let d = 0; d < DEPTH; d++) {
      out.add(join(prefix, keyPath(k)));
      prefix = prefix ? `${prefix}.*` : "*";
    }
  }
  for (const p of extra) if (p.includes(".") || p.includes("[")) out.add(p);
  return [...out];
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

export interface LoggerOptions {
  level?: Level | "silent";
  /** Extra keys or dotted paths to redact (HUB_LOG_REDACT). */
  redact?: readonly string[];
  /** Where lines go (tests); default stderr. */
  destination?: DestinationStream;
}

/** A pino logger with the hub's redaction, trace ids and field names. */
export function createLogger(opts: LoggerOptions = {}): Logger {
  return pino(
    {
      level: opts.level ?? "info",
      base: { pid: process.pid },
      timestamp: pino.stdTimeFunctions.isoTime,
      messageKey: "msg",
      errorKey: "err",
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: redactPaths(opts.redact), censor: CENSOR },
      mixin: traceFields,
    },
    opts.destination ?? pino.destination({ dest: 2, sync: false, minLength: 0 }),
  );
}

const redactSetting = setting("HUB_LOG_REDACT") as string[];
export const logger: Logger = createLogger({ level: setting("HUB_LOG_LEVEL") as Level | "silent", redact: redactSetting });

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
