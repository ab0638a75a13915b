import type { ServerResponse } from "node:http";
import { PUBLIC_CODES } from "./errors.ts";
import { log, logEnabled } from "./logger.ts";
import { graphqlDuration, graphqlErrors, graphqlOperations, httpDuration, httpRequests, operationLabel } from "./metrics.ts";
import type { Principal } from "./principal.ts";
import { currentTraceId } from "./tracing.ts";

/**
 * What one request leaves behind, in every server of the hub (gateway and subgraphs): one log line
 * (request id, trace id, operation, caller, duration, outcome) and the request metrics. Filled in
 * while the request runs; `finish` runs once, when the response has been sent (or the client left).
 */
export interface RequestRecord {
  service: string;
  requestId: string;
  route: string;
  method: string;
  started: number;
  traceId?: string;
  operationName?: string | null;
  principal?: Pick<Principal, "role" | "partnerId" | "clientId"> | null;
  /** extensions.code of every GraphQL error answered. */
  errorCodes: string[];
  /** A GraphQL operation ran (counts in the GraphQL metrics). */
  graphql?: boolean;
  /**
   * A subgraph's answer to the gateway (an internal hop of a client's request): its line is debug
   * unless it failed or took HOP_SLOW_MS or more; the gateway's line is the client request's (D43).
   */
  hop?: boolean;
}

/** An internal hop this slow (ms) is logged at info even when it succeeded: which subgraph made a request slow. */
export const HOP_SLOW_MS = 1000;

/** Routes as metric labels: known paths as they are, anything else one value (bounded cardinality). */
const ROUTES = new Set([
  "/graphql",
  "/oauth/token",
  "/oauth/authorize",
  "/oauth/revoke",
  "/oauth/introspect",
  "/account/activate",
  "/.well-known/jwks.json",
  "/.well-known/oauth-authorization-server",
  "/.well-known/openid-configuration",
  "/schema.graphql",
  "/healthz",
  "/readyz",
  "/metrics",
  "/",
]);
export function routeLabel(pathname: string): string {
  if (ROUTES.has(pathname)) return pathname;
  if (pathname.startsWith("/internal/")) return pathname.length <= 48 && /^[\w/-]+$/.test(pathname) ? pathname : "/internal/(other)";
  if (pathname.startsWith("/graphiql")) return "/graphiql";
  return "(other)";
}

const records = new WeakMap<ServerResponse, RequestRecord>();
/** The record of the request `res` answers, if one was started. */
export function recordOf(res: ServerResponse): RequestRecord | undefined {
  return records.get(res);
}

/** Starts the record of a request; its log line and metrics are written when `res` finishes or closes. */
export function recordRequest(res: ServerResponse, init: Omit<RequestRecord, "started" | "errorCodes">): RequestRecord {
  // The trace id: the active span's (tracing on), else the caller's W3C traceparent (a client or
  // proxy that traces), so a log line joins the caller's trace either way.
  const incoming = res.req?.headers.traceparent;
  const callerTrace = typeof incoming === "string" ? /^00-([0-9a-f]{32})-[0-9a-f]{16}-[0-9a-f]{2}$/.exec(incoming)?.[1] : undefined;
  const rec: RequestRecord = { ...init, started: performance.now(), errorCodes: [], traceId: init.traceId ?? currentTraceId() ?? callerTrace };
  let done = false;
  const finish = () => {
    if (done) return;
    done = true;
    const seconds = (performance.now() - rec.started) / 1000;
    const status = res.writableFinished ? res.statusCode : 499; // 499: the client went away first
    const outcome = status >= 500 ? "error" : status >= 400 || rec.errorCodes.length ? "client_error" : "ok";
    httpRequests.inc({ service: rec.service, route: rec.route, status: String(status) });
    httpDuration.observe({ service: rec.service, route: rec.route }, seconds);
    if (rec.graphql) {
      const op = operationLabel(rec.operationName);
      graphqlOperations.inc({ service: rec.service, operation: op, outcome: rec.errorCodes.length || status >= 400 ? "error" : "ok" });
      graphqlDuration.observe({ service: rec.service, operation: op }, seconds);
      for (const code of rec.errorCodes) graphqlErrors.inc({ service: rec.service, code });
    }
    // Health probes, scrapes and the hub's own plumbing (revocation and CORS polls every second or
    // two, event deliveries: /internal/*) would drown the clients' requests: debug, unless they fail.
    // So are a subgraph's answers to the gateway unless they fail or are slow: the gateway's line
    // (same request id and trace id) already records the client's request (D43).
    const plumbing = rec.route === "/healthz" || rec.route === "/readyz" || rec.route === "/metrics" || rec.route.startsWith("/internal/");
    const quiet = plumbing ? status < 400 : rec.hop === true && status < 400 && rec.errorCodes.length === 0 && seconds * 1000 < HOP_SLOW_MS;
    const level = status >= 500 ? "warn" : quiet ? "debug" : "info";
    if (!logEnabled(level)) return;
    log[level]("request", {
      service: rec.service,
      requestId: rec.requestId,
      ...(rec.traceId ? { traceId: rec.traceId } : {}),
      method: rec.method,
      route: rec.route,
      ...(rec.operationName ? { operationName: rec.operationName.slice(0, 128) } : {}),
      ...(rec.principal ? { role: rec.principal.role, clientId: rec.principal.clientId ?? undefined, partnerId: rec.principal.partnerId ?? undefined } : {}),
      status,
      durationMs: Math.round(seconds * 10_000) / 10,
      outcome,
      ...(rec.errorCodes.length ? { errorCodes: [...new Set(rec.errorCodes)].slice(0, 20) } : {}),
    });
  };
  res.once("finish", finish);
  res.once("close", finish);
  records.set(res, rec);
  return rec;
}

/** The error codes of a GraphQL response (`{ errors: [{ extensions: { code } }] }`). */
export function errorCodesOf(result: unknown): string[] {
  const errors = (result as { errors?: unknown } | null)?.errors;
  if (!Array.isArray(errors)) return [];
  const out: string[] = [];
  for (const e of errors) {
    const code = (e as { extensions?: { code?: unknown } })?.extensions?.code;
    // Known codes only (lib/errors.ts): a label value set that cannot grow.
    out.push(typeof code === "string" && (PUBLIC_CODES.has(code) || code === "INTERNAL_SERVER_ERROR") ? code : "OTHER");
  }
  return out;
}
