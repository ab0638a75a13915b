import { withAuditRequest } from "./audit.ts";
import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { ApolloServer, type ApolloServerPlugin, HeaderMap } from "@apollo/server";
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from "@apollo/server/plugin/disabled";
import { GraphQLError, type GraphQLFormattedError, type GraphQLSchema } from "graphql";
import { guardPartnerView } from "./authority.ts";
import { isDatabaseUnavailable } from "./db-errors.ts";
import { BodyTooLargeError, readBody, sendJson } from "./http.ts";
import { PUBLIC_CODES } from "./errors.ts";
import { IdentityError, IDENTITY_HEADER, OPERATION_NAME_HEADER, REQUEST_ID_HEADER, verifyIdentity } from "./internal-auth.ts";
import { log } from "./logger.ts";
import { serveMetrics } from "./metrics.ts";
import { errorCodesOf, recordRequest, routeLabel } from "./request-log.ts";
import { serverSpan } from "./tracing.ts";
import { readSetting } from "./config.ts";
import { serve } from "./serve.ts";
import { parseRateLimits, RATE_LIMITS_HEADER } from "./rate-limit-header.ts";
import { checkTextInputs } from "./text-input.ts";
import type { HubContext } from "./pothos.ts";
import type { Principal } from "./principal.ts";

const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** An internal (non-GraphQL) endpoint, callable only with the gateway's SERVICE identity. */
export type InternalRoute = (body: unknown) => Promise<{ status: number; body: unknown }>;

/**
 * A streamed file for a caller (GET /exports/<name> with the caller's own identity, relayed by the
 * gateway): the handler writes the response itself, with backpressure. A HubError thrown before
 * anything was written is answered in GraphQL's error shape with its HTTP status.
 */
export type ExportRoute = (principal: Principal, params: URLSearchParams, res: ServerResponse, requestId: string) => Promise<void>;

/** The HTTP status of a domain error answered outside GraphQL. */
const EXPORT_STATUS: Record<string, number> = { BAD_USER_INPUT: 400, FORBIDDEN: 403, NOT_FOUND: 404, UNAUTHENTICATED: 401, SERVICE_UNAVAILABLE: 503 };

export interface SubgraphOptions<Ctx extends HubContext> {
  name: string;
  schema: GraphQLSchema;
  internalKey: Uint8Array;
  port?: number;
  host?: string;
  /** The setting that chose the port, named if it is taken (default <NAME>_PORT). */
  portSetting?: string;
  /** Builds the per-request context (fresh DataLoaders) from the verified principal. */
  createContext: (base: HubContext) => Ctx | Promise<Ctx>;
  /** Readiness probe of the database, e.g. `SELECT 1` (/readyz reports it as `database`). */
  ready?: () => Promise<unknown>;
  /** POST /internal/<path> handlers for the gateway's token service. */
  internalRoutes?: Record<string, InternalRoute>;
  /** GET /exports/<name>: streamed files for the calling principal (not the SERVICE identity). */
  exportRoutes?: Record<string, ExportRoute>;
  /** Extra Apollo plugins (e.g. flushing a request's batched writes before the response). */
  plugins?: ApolloServerPlugin<Ctx>[];
}

export interface RunningSubgraph {
  name: string;
  url: string;
  port: number;
  /** Readiness 503, requests in flight finish (at most `timeoutMs`, default HUB_DRAIN_TIMEOUT_MS), then the server closes. */
  close(timeoutMs?: number): Promise<void>;
}

function isPublic(code: unknown): boolean {
  return typeof code === "string" && PUBLIC_CODES.has(code);
}

/** Seconds a client should wait before retrying a SERVICE_UNAVAILABLE answer. */
export const RETRY_AFTER_SECONDS = 1;

/**
 * Clients see domain codes as they are; a lost database is SERVICE_UNAVAILABLE (retriable: the
 * request's transaction rolled back, and a retry with the same idempotency key completes it once);
 * anything else is masked (and logged by the plugin below).
 */
export function maskError(formatted: GraphQLFormattedError, error?: unknown): GraphQLFormattedError {
  if (error !== undefined && !isPublic(formatted.extensions?.code) && isDatabaseUnavailable(error)) {
    return {
      message: "The service is temporarily unavailable (database connection lost); retry with the same idempotency key",
      path: formatted.path,
      locations: formatted.locations,
      extensions: { code: "SERVICE_UNAVAILABLE", retryAfterSeconds: RETRY_AFTER_SECONDS },
    };
  }
  if (isPublic(formatted.extensions?.code)) {
    const { stacktrace: _s, ...extensions } = formatted.extensions ?? {};
    return { ...formatted, extensions };
  }
  return { message: "Internal server error", path: formatted.path, locations: formatted.locations, extensions: { code: "INTERNAL_SERVER_ERROR" } };
}

/** Logs every error that will be masked, with the request id the gateway forwarded. */
const logMaskedErrors: ApolloServerPlugin<HubContext> = {
  async requestDidStart() {
    return {
      async didEncounterErrors({ errors, contextValue }) {
        for (const e of errors) {
          if (isDatabaseUnavailable(e.originalError ?? e)) log.warn("database unavailable", { requestId: contextValue.requestId, path: e.path, err: e.originalError ?? e });
          else if (!isPublic(e.extensions?.code)) log.error("internal error", { requestId: contextValue.requestId, path: e.path, err: e.originalError ?? e });
        }
      },
    };
  },
};

/**
 * Every text input of the operation is checked before execution (lib/text-input.ts): a refused
 * value is BAD_USER_INPUT naming the field and nothing runs, so nothing is written. HTTP 200, as
 * for any other domain error: the gateway passes the error on as it is.
 */
const checkText: ApolloServerPlugin<HubContext> = {
  async requestDidStart() {
    return {
      async didResolveOperation({ schema, document, operation, request }) {
        try {
          if (operation) checkTextInputs(schema, document, operation, request.variables ?? {});
        } catch (e) {
          if (e instanceof GraphQLError) e.extensions.http = { status: 200 };
          throw e;
        }
      },
    };
  },
};

function unauthorized(res: ServerResponse, reason: string) {
  sendJson(res, 401, { errors: [{ message: "Subgraphs answer only the gateway", extensions: { code: "UNAUTHENTICATED", reason } }] });
}

/**
 * One subgraph over node:http: health endpoints are open; GraphQL and /internal need the gateway's
 * signed identity, so nobody can skip the gateway.
 */
export async function startSubgraph<Ctx extends HubContext>(opts: SubgraphOptions<Ctx>): Promise<RunningSubgraph> {
  const apollo = new ApolloServer<Ctx>({
    // One gate for every subgraph: a PARTNER_VIEW token reaches only the member queries (lib/authority.ts).
    schema: guardPartnerView(opts.schema),
    introspection: true,
    csrfPrevention: false, // only the gateway reaches us, with a signed identity
    includeStacktraceInErrorResponses: false,
    plugins: [ApolloServerPluginLandingPageDisabled(), ApolloServerPluginInlineTraceDisabled(), logMaskedErrors as ApolloServerPlugin<Ctx>, checkText as ApolloServerPlugin<Ctx>, ...(opts.plugins ?? [])],
    formatError: (formatted, error) => maskError(formatted, error),
    // Apollo's own SIGTERM/SIGINT handler (on by default unless NODE_ENV=test) would stop the
    // subgraph at once, while the gateway still forwards its requests in flight; the hub stops it
    // itself, in order (scripts/hub.ts close: gateway drained first, then the subgraphs).
    stopOnTerminationSignals: false,
  });
  await apollo.start();

  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://subgraph");
    if (url.pathname === "/metrics") return serveMetrics(req, res);
    const requestId = sanitizeRequestId(req.headers[REQUEST_ID_HEADER]) ?? randomUUID();
    // Event deliveries get their spans per event (lib/events/inbox.ts), not a request span.
    const span =
      url.pathname === "/internal/events" ? null : serverSpan(req.headers, `${req.method} ${routeLabel(url.pathname)}`, { "http.request.method": req.method ?? "", "url.path": url.pathname, "hub.subgraph": opts.name });
    if (span) {
      res.once("close", () => span.end(res.statusCode));
      return span.run(() => handle(req, res, url, requestId));
    }
    return handle(req, res, url, requestId);
  };

  const handle = async (req: IncomingMessage, res: ServerResponse, url: URL, requestId: string) => {
    const operationName = (req.headers[OPERATION_NAME_HEADER] as string | undefined) ?? null;
    const rec = recordRequest(res, { service: opts.name, requestId, route: routeLabel(url.pathname), method: req.method ?? "GET", operationName, hop: true });
    let identity: Awaited<ReturnType<typeof verifyIdentity>>;
    try {
      identity = await verifyIdentity(opts.internalKey, req.headers[IDENTITY_HEADER] as string | undefined);
    } catch (e) {
      return unauthorized(res, e instanceof IdentityError ? e.message : "invalid identity");
    }

    if (url.pathname.startsWith("/internal/")) {
      const route = opts.internalRoutes?.[url.pathname.slice("/internal/".length)];
      if (identity.role !== "SERVICE") return unauthorized(res, "internal endpoints need the service identity");
      if (!route || req.method !== "POST") return sendJson(res, 404, { error: "not_found" });
      let body: unknown;
      try {
        body = JSON.parse((await readBody(req, MAX_BODY_BYTES)).toString("utf8"));
      } catch {
        return sendJson(res, 400, { error: "invalid_request" });
      }
      try {
        const out = await route(body);
        return sendJson(res, out.status, out.body);
      } catch (e) {
        log.error("internal route failed", { requestId, route: url.pathname, err: e });
        return sendJson(res, 500, { error: "server_error", requestId });
      }
    }

    if (url.pathname.startsWith("/exports/")) {
      const route = opts.exportRoutes?.[url.pathname.slice("/exports/".length)];
      if (identity.role === "SERVICE") return unauthorized(res, "exports are for callers, not the service identity");
      if (!route || req.method !== "GET") return sendJson(res, 404, { error: "not_found" });
      try {
        await route(identity as Principal, url.searchParams, res, requestId);
      } catch (e) {
        const code = e instanceof GraphQLError ? e.extensions.code : undefined;
        if (res.headersSent) {
          // Mid-stream: the file is cut, so the transfer must fail, never look complete.
          log.error("export failed mid-stream", { requestId, route: url.pathname, err: e });
          res.destroy();
        } else if (typeof code === "string" && isPublic(code)) {
          sendJson(res, EXPORT_STATUS[code] ?? 400, { errors: [{ message: (e as Error).message, extensions: { ...(e as GraphQLError).extensions, requestId } }] }, { [REQUEST_ID_HEADER]: requestId });
        } else {
          const unavailable = isDatabaseUnavailable(e);
          if (unavailable) log.warn("database unavailable", { requestId, err: e });
          else log.error("export failed", { requestId, route: url.pathname, err: e });
          sendJson(
            res,
            unavailable ? 503 : 500,
            {
              errors: [
                { message: unavailable ? "The service is temporarily unavailable; retry" : "Internal server error", extensions: { code: unavailable ? "SERVICE_UNAVAILABLE" : "INTERNAL_SERVER_ERROR", requestId } },
              ],
            },
            { [REQUEST_ID_HEADER]: requestId },
          );
        }
      }
      return;
    }

    if (url.pathname !== "/graphql" && url.pathname !== "/") return sendJson(res, 404, { error: "not_found" });
    if (identity.role === "SERVICE") return unauthorized(res, "the service identity cannot query GraphQL");
    const principal = identity as Principal;
    rec.principal = principal;
    rec.graphql = true;

    let body: unknown;
    if (req.method === "POST") {
      try {
        const raw = (await readBody(req, MAX_BODY_BYTES)).toString("utf8");
        body = raw ? JSON.parse(raw) : {};
      } catch (e) {
        const status = e instanceof BodyTooLargeError ? 413 : 400;
        return sendJson(res, status, { errors: [{ message: status === 413 ? "Request body too large" : "Malformed JSON body", extensions: { code: "BAD_REQUEST", requestId } }] });
      }
    }
    const headers = new HeaderMap();
    for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
    // withAuditRequest: audit entries recorded while this request executes carry its request id (lib/audit.ts).
    const response = await withAuditRequest(requestId, () =>
      apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: req.method ?? "POST", headers, search: url.search, body },
        context: async () => opts.createContext({ principal, requestId, operationName, rateLimits: parseRateLimits(req.headers[RATE_LIMITS_HEADER]) }),
      }),
    );
    const outHeaders: Record<string, string> = { [REQUEST_ID_HEADER]: requestId };
    for (const [k, v] of response.headers) outHeaders[k] = v;
    res.writeHead(response.status ?? 200, outHeaders);
    if (response.body.kind === "complete") {
      // The codes for the request's log line and metrics: only when the answer has errors at all.
      if (response.body.string.includes('"errors"')) {
        try {
          rec.errorCodes = errorCodesOf(JSON.parse(response.body.string));
        } catch {
          // not JSON: nothing to count
        }
      }
      res.end(response.body.string);
    } else {
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    }
  };

  // /healthz and /readyz (open, no identity) are lib/serve.ts's: readiness checks the database.
  const served = await serve({
    name: opts.name,
    port: opts.port ?? 0,
    host: opts.host ?? "127.0.0.1",
    setting: opts.portSetting ?? `${opts.name.toUpperCase()}_PORT`,
    handler: (req, res) => {
      handler(req, res).catch((e) => {
        log.error("subgraph request failed", { subgraph: opts.name, err: e });
        if (!res.headersSent) sendJson(res, 500, { errors: [{ message: "Internal server error", extensions: { code: "INTERNAL_SERVER_ERROR" } }] });
        else res.end();
      });
    },
    readiness: async () => {
      try {
        await opts.ready?.();
        return { ok: true, subgraph: opts.name, database: "ok" };
      } catch (e) {
        log.warn("not ready: database check failed", { subgraph: opts.name, err: e });
        return { ok: false, subgraph: opts.name, database: "unavailable" };
      }
    },
  });
  served.ready();
  const host = opts.host && opts.host !== "0.0.0.0" ? opts.host : "127.0.0.1";
  return {
    name: opts.name,
    port: served.port,
    url: `http://${host}:${served.port}/graphql`,
    async close(timeoutMs = readSetting("HUB_DRAIN_TIMEOUT_MS")) {
      await served.drain({ timeoutMs });
      await apollo.stop();
    },
  };
}

export function sanitizeRequestId(v: string | string[] | undefined): string | undefined {
  return typeof v === "string" && /^[A-Za-z0-9._:-]{1,128}$/.test(v) ? v : undefined;
}
