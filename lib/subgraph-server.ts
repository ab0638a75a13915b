import { withAuditRequest } from "./audit.ts";
import { randomUUID } from "node:crypto";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";
import { ApolloServer, type ApolloServerPlugin, HeaderMap } from "@apollo/server";
import { ApolloServerPluginInlineTraceDisabled, ApolloServerPluginLandingPageDisabled } from "@apollo/server/plugin/disabled";
import { GraphQLError, type GraphQLFormattedError, type GraphQLSchema } from "graphql";
import { guardPartnerView } from "./authority.ts";
import { isDatabaseUnavailable } from "./db-errors.ts";
import { BodyTooLargeError, readBody, sendJson } from "./http.ts";
import { PUBLIC_CODES } from "./errors.ts";
import { IdentityError, IDENTITY_HEADER, OPERATION_NAME_HEADER, REQUEST_ID_HEADER, verifyIdentity } from "./internal-auth.ts";
import { log } from "./logger.ts";
import { checkTextInputs } from "./text-input.ts";
import type { HubContext } from "./pothos.ts";
import type { Principal } from "./principal.ts";

const MAX_BODY_BYTES = 4 * 1024 * 1024;

/** An internal (non-GraphQL) endpoint, callable only with the gateway's SERVICE identity. */
export type InternalRoute = (body: unknown) => Promise<{ status: number; body: unknown }>;

export interface SubgraphOptions<Ctx extends HubContext> {
  name: string;
  schema: GraphQLSchema;
  internalKey: Uint8Array;
  port?: number;
  host?: string;
  /** Builds the per-request context (fresh DataLoaders) from the verified principal. */
  createContext: (base: HubContext) => Ctx | Promise<Ctx>;
  /** Readiness probe, e.g. `SELECT 1`. */
  ready?: () => Promise<unknown>;
  /** POST /internal/<path> handlers for the gateway's token service. */
  internalRoutes?: Record<string, InternalRoute>;
  /** Extra Apollo plugins (e.g. flushing a request's batched writes before the response). */
  plugins?: ApolloServerPlugin<Ctx>[];
}

export interface RunningSubgraph {
  name: string;
  url: string;
  port: number;
  close(): Promise<void>;
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
  });
  await apollo.start();

  const handler = async (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? "/", "http://subgraph");
    if (req.method === "GET" && url.pathname === "/healthz") return sendJson(res, 200, { status: "ok", subgraph: opts.name });
    if (req.method === "GET" && url.pathname === "/readyz") {
      try {
        await opts.ready?.();
        return sendJson(res, 200, { status: "ready", subgraph: opts.name });
      } catch (e) {
        log.warn("not ready", { subgraph: opts.name, err: e });
        return sendJson(res, 503, { status: "unavailable", subgraph: opts.name });
      }
    }
    const requestId = sanitizeRequestId(req.headers[REQUEST_ID_HEADER]) ?? randomUUID();
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

    if (url.pathname !== "/graphql" && url.pathname !== "/") return sendJson(res, 404, { error: "not_found" });
    if (identity.role === "SERVICE") return unauthorized(res, "the service identity cannot query GraphQL");
    const principal = identity as Principal;

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
    const operationName = (req.headers[OPERATION_NAME_HEADER] as string | undefined) ?? null;
    // withAuditRequest: audit entries recorded while this request executes carry its request id (lib/audit.ts).
    const response = await withAuditRequest(requestId, () =>
      apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: req.method ?? "POST", headers, search: url.search, body },
        context: async () => opts.createContext({ principal, requestId, operationName }),
      }),
    );
    const outHeaders: Record<string, string> = { [REQUEST_ID_HEADER]: requestId };
    for (const [k, v] of response.headers) outHeaders[k] = v;
    res.writeHead(response.status ?? 200, outHeaders);
    if (response.body.kind === "complete") res.end(response.body.string);
    else {
      for await (const chunk of response.body.asyncIterator) res.write(chunk);
      res.end();
    }
  };

  const server: Server = createServer((req, res) => {
    handler(req, res).catch((e) => {
      log.error("subgraph request failed", { subgraph: opts.name, err: e });
      if (!res.headersSent) sendJson(res, 500, { errors: [{ message: "Internal server error", extensions: { code: "INTERNAL_SERVER_ERROR" } }] });
      else res.end();
    });
  });
  server.keepAliveTimeout = 65_000;
  await new Promise<void>((resolve) => server.listen(opts.port ?? 0, opts.host ?? "127.0.0.1", resolve));
  const port = (server.address() as AddressInfo).port;
  const host = opts.host && opts.host !== "0.0.0.0" ? opts.host : "127.0.0.1";
  return {
    name: opts.name,
    port,
    url: `http://${host}:${port}/graphql`,
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
      await apollo.stop();
    },
  };
}

export function sanitizeRequestId(v: string | string[] | undefined): string | undefined {
  return typeof v === "string" && /^[A-Za-z0-9._:-]{1,128}$/.test(v) ? v : undefined;
}
