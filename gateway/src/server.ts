import { randomUUID } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import { Readable } from "node:stream";
import { pipeline } from "node:stream/promises";
import { printSchema } from "graphql";
import type { JWK } from "jose";
import { readSetting } from "../../lib/config.ts";
import { BodyTooLargeError, readBody, sendJson } from "../../lib/http.ts";
import { IDENTITY_HEADER, internalKey as toKey, REQUEST_ID_HEADER, signIdentity } from "../../lib/internal-auth.ts";
import { log } from "../../lib/logger.ts";
import { serveMetrics } from "../../lib/metrics.ts";
import { recordOf, recordRequest, routeLabel } from "../../lib/request-log.ts";
import { gatewayTracingPlugin } from "../../lib/tracing.ts";
import { type Served, serve } from "../../lib/serve.ts";
import type { Principal } from "../../lib/principal.ts";
import { isPurpose, PURPOSES } from "../../lib/vocabulary.ts";
import { KeySet } from "./auth/keys.ts";
import { AuthorizationEndpoint } from "./auth/authorize.ts";
import { RevocationFeed } from "./auth/revocation.ts";
import { SUPPORTED_GRANTS, TokenService } from "./auth/token-service.ts";
import { type ExternalIdp, TokenError, TokenVerifier } from "./auth/verify.ts";
import { CorsPolicy } from "./cors.ts";
import { createExecutor, type HubRequestContext, type SubgraphUrls } from "./gateway.ts";
import { GRAPHIQL_CSP, graphiqlAsset, graphiqlPage, isGraphiqlAsset } from "./graphiql.ts";
import { apiSchema, type GatewayLimits, LIMITS } from "./limits.ts";
import { type RateLimited, RateLimits, type RateLimitsOptions, rateLimitedMessage } from "./rate-limits.ts";
import { GraphQLError } from "graphql";

/** Streamed exports, by name: the subgraph that owns each (GET /exports/<name>). */
const EXPORTS: Record<string, keyof SubgraphUrls> = { "partner-transactions": "points" };

/** Endpoints browser apps call cross-origin (CORS: gateway/src/cors.ts). */
const CORS_PATHS = new Set(["/graphql", "/oauth/token", "/oauth/revoke", "/exports/partner-transactions"]);

export interface GatewayOptions {
  port?: number;
  host?: string;
  supergraphSdl: string;
  subgraphUrls: SubgraphUrls;
  internalSecret: string;
  /** Embedded default: signing keys are generated and kept in <dataDir>/signing-keys.json. */
  dataDir?: string;
  signingKeys?: JWK[];
  issuer?: string;
  audience?: string;
  externalIdp?: ExternalIdp;
  /** Cost, timeouts, response size, introspection (gateway/src/limits.ts); defaults from the environment. */
  limits?: Partial<GatewayLimits>;
  /** How often the gateway polls the owners' revocation feeds (default 1 s; revocation within 5 s). */
  revocationPollMs?: number;
  /** How often the gateway polls the partner subgraph for API clients' allowed browser origins (default 2 s). */
  corsPollMs?: number;
  /** Authorization code lifetime (default 60 s; tests shorten it). */
  codeTtlMs?: number;
  /** Where clients reach this gateway (discovery metadata's endpoints); default: the request's Host. */
  publicUrl?: string;
  /** Rate limits: another Redis URL, key prefix or poll interval than the configuration's (tests). */
  rateLimits?: Partial<Pick<RateLimitsOptions, "redisUrl" | "prefix" | "pollMs">>;
  /** An HTTP server already listening (the embedded hub binds its port before migrating); default: a new one on `port`. */
  served?: Served;
  /** The setting that chose the port, named if it is taken (default HUB_PORT). */
  portSetting?: string;
}

export interface RunningGateway {
  /** http://host:port */
  url: string;
  port: number;
  keys: KeySet;
  revocations: RevocationFeed;
  cors: CorsPolicy;
  rateLimits: RateLimits;
  /** Its HTTP server (phase, readiness, drain). */
  served: Served;
  /** Readiness 503, requests in flight finish (at most `timeoutMs`, default HUB_DRAIN_TIMEOUT_MS), then the server closes. Idempotent. */
  close(timeoutMs?: number): Promise<void>;
}

const PURPOSE_HEADER = "coalition-purpose";

/**
 * An error answered by the gateway itself (401, 403, 400, 405, 413: before any execution), in
 * GraphQL's error shape with the HTTP status kept. GraphQL over HTTP: a client that accepts
 * `application/graphql-response+json` gets that media type, which is what lets Apollo Client 4
 * read a non-2xx body as a GraphQL result (`CombinedGraphQLErrors` with `extensions.code`) instead
 * of a bare `ServerError`; other clients get `application/json`, as before.
 */
function graphqlError(res: ServerResponse, status: number, code: string, message: string, requestId: string, extra: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
  const rec = recordOf(res);
  if (rec) {
    rec.errorCodes = [code];
    rec.graphql = true; // a GraphQL answer (refused before execution): counts in the GraphQL error metrics
  }
  const accept = res.req?.headers.accept ?? "";
  const type = accept.includes("application/graphql-response+json") ? "application/graphql-response+json; charset=utf-8" : "application/json; charset=utf-8";
  sendJson(res, status, { errors: [{ message, extensions: { code, requestId, ...extra } }] }, { [REQUEST_ID_HEADER]: requestId, ...headers, "content-type": type });
}

export interface Gateway {
  /** node:http request listener for every route (mountable in another server). */
  handle(req: IncomingMessage, res: ServerResponse): void;
  keys: KeySet;
  /** Polls the revocation feeds now (tests: no waiting for the timer). */
  revocations: RevocationFeed;
  /** Polls the API clients' allowed browser origins now (tests: no waiting for the timer). */
  cors: CorsPolicy;
  /** Per-partner and per-client limits; `poll()` reads the admins' settings now. */
  rateLimits: RateLimits;
  /** What /readyz reports once the gateway serves: every subgraph's readiness (each checks its database). */
  readiness(): Promise<{ ok: boolean; [k: string]: unknown }>;
  /** Stops the key-file watcher and disposes the runtime (not a server: see startGateway). */
  close(): Promise<void>;
}

/**
 * The gateway as one request listener: the token service and JWKS, health, a local GraphiQL
 * page, and GraphQL, where every request's bearer token is verified before any planning happens.
 */
export async function createGateway(opts: GatewayOptions): Promise<Gateway> {
  const issuer = opts.issuer ?? "https://coalition-hub.local";
  const audience = opts.audience ?? "coalition-hub-api";
  const key = toKey(opts.internalSecret);
  const keys = await KeySet.fromConfig({ keys: opts.signingKeys, dataDir: opts.dataDir });
  const verifier = new TokenVerifier(keys, issuer, audience, opts.externalIdp);
  const origin = (name: keyof SubgraphUrls) => new URL(opts.subgraphUrls[name]).origin;
  const revocations = new RevocationFeed(
    key,
    () => origin("partner"),
    () => origin("member"),
    opts.revocationPollMs ?? 1000,
  );
  verifier.revocations = revocations.start();
  const corsPolicy = new CorsPolicy(key, () => origin("partner"), opts.corsPollMs ?? 2000).start({ now: true });
  /** A page of the gateway's own origin (GraphiQL) needs no CORS entry. */
  const publicOrigin = opts.publicUrl === undefined ? undefined : new URL(opts.publicUrl).origin;
  const sameOrigin = (o: string, req: IncomingMessage) => o === publicOrigin || (typeof req.headers.host === "string" && (o === `http://${req.headers.host}` || o === `https://${req.headers.host}`));
  const tokens = new TokenService({ keys, issuer, audience, internalKey: key, partnerOrigin: () => origin("partner"), memberOrigin: () => origin("member"), verifier, codeTtlMs: opts.codeTtlMs });
  const authorize = new AuthorizationEndpoint(tokens, key);
  // RFC 8414. Endpoints are where this gateway is reached (HUB_PUBLIC_URL, else the request's Host);
  // `issuer` is the tokens' `iss`.
  const metadata = (base: string) => ({
    issuer,
    authorization_endpoint: `${base}/oauth/authorize`,
    token_endpoint: `${base}/oauth/token`,
    revocation_endpoint: `${base}/oauth/revoke`,
    introspection_endpoint: `${base}/oauth/introspect`,
    jwks_uri: `${base}/.well-known/jwks.json`,
    response_types_supported: ["code"],
    response_modes_supported: ["query"],
    grant_types_supported: SUPPORTED_GRANTS,
    code_challenge_methods_supported: ["S256"],
    token_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"],
    revocation_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post", "none"],
    introspection_endpoint_auth_methods_supported: ["client_secret_basic", "client_secret_post"],
    scopes_supported: ["member", "member:profile", "member:wallet", "member:offers", "member:offers:claim", "member:redeem", "member:consents", "member:links"],
    subject_types_supported: ["public"],
    ui_locales_supported: ["en", "zh-Hans"],
  });
  // Tracing (lib/tracing.ts): the Hive runtime's OpenTelemetry plugin, only when the SDK runs.
  const tracingPlugins = (await gatewayTracingPlugin()) as Parameters<typeof createExecutor>[0]["plugins"];
  const rateLimits = new RateLimits({ key, partnerOrigin: () => origin("partner"), ...opts.rateLimits }).start({ now: true });
  // Shared counters from the first request when Redis answers; else memory until it does (logged).
  if (!(await rateLimits.connected(3000))) log.warn("Redis for rate limits not reachable at start: counting in memory until it is", { redis: rateLimits.redisStatus() });
  const rateLimitedExtensions = (l: RateLimited) => ({ retryAfterSeconds: l.retryAfterSeconds, scope: l.scope, kind: l.kind, limit: l.limit });
  const runtime = createExecutor({
    supergraphSdl: opts.supergraphSdl,
    subgraphUrls: opts.subgraphUrls,
    internalKey: key,
    limits: opts.limits,
    plugins: tracingPlugins,
    // The cost budget, charged after validation and the QUERY_TOO_COSTLY check, before planning.
    async chargeCost(context, estimated) {
      const ctx = context as Partial<HubRequestContext>;
      if (!ctx?.principal) return null;
      const r = await rateLimits.consume(ctx.principal, "COST", estimated);
      ctx.rateLimits = [...(ctx.rateLimits ?? []), ...r.statuses];
      if (r.ok) return null;
      return new GraphQLError(rateLimitedMessage(r.limited, estimated), {
        extensions: { code: "RATE_LIMITED", ...rateLimitedExtensions(r.limited), http: { status: 429, headers: { "retry-after": String(r.limited.retryAfterSeconds) } } },
      });
    },
  });
  let publicSdlText: string | undefined;
  const publicSdl = () => (publicSdlText ??= `${printSchema(apiSchema(opts.supergraphSdl)).trim()}\n`);

  /**
   * The request's verified principal (token, revocation lists, purpose, page origin), or null when
   * an error was already answered (401 UNAUTHENTICATED, 400, 403 FORBIDDEN: GraphQL's error shape).
   */
  async function authenticate(req: IncomingMessage, res: ServerResponse, requestId: string): Promise<{ principal: Principal; jti: string } | null> {
    const auth = req.headers.authorization;
    const bearer = auth?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
    let verified: Awaited<ReturnType<TokenVerifier["verify"]>>;
    try {
      if (auth && !bearer) throw new TokenError("TOKEN_MALFORMED", "Authorization must be `Bearer <token>`");
      verified = await verifier.verify(bearer);
    } catch (e) {
      if (!(e instanceof TokenError)) throw e;
      graphqlError(res, 401, "UNAUTHENTICATED", e.message, requestId, { reason: e.reason }, { "www-authenticate": `Bearer realm="coalition-hub", error="invalid_token"` });
      return null;
    }
    let principal: Principal = verified.principal;
    const rec = recordOf(res);
    if (rec) {
      rec.principal = principal;
      rec.graphql = true;
    }
    if (principal.role === "PARTNER") {
      const declared = req.headers[PURPOSE_HEADER];
      const purpose = typeof declared === "string" && declared.trim() ? declared.trim().toUpperCase() : verified.purpose;
      if (!purpose || !isPurpose(purpose)) {
        graphqlError(res, 400, "BAD_USER_INPUT", `Coalition-Purpose must be one of ${PURPOSES.join(", ")}`, requestId, { header: "Coalition-Purpose" });
        return null;
      }
      principal = { ...principal, purpose };
    }
    const pageOrigin = req.headers.origin;
    if (pageOrigin !== undefined && !sameOrigin(pageOrigin, req) && !corsPolicy.allows(pageOrigin, principal.clientId)) {
      graphqlError(
        res,
        403,
        "FORBIDDEN",
        `Tokens of client ${principal.clientId ?? "(none)"} may not be used from the page origin ${pageOrigin.slice(0, 200)}: add it to the client's allowedOrigins (setApiClientAllowedOrigins)`,
        requestId,
        {
          reason: "ORIGIN_NOT_ALLOWED",
        },
      );
      return null;
    }
    return { principal, jti: verified.jti };
  }

  async function graphql(req: IncomingMessage, res: ServerResponse, requestId: string) {
    const who = await authenticate(req, res, requestId);
    if (!who) return;
    const { principal } = who;
    const rec = recordOf(res);
    // Requests per minute of the partner and the client, before the body is read or anything planned.
    const counted = await rateLimits.consume(principal, "REQUESTS", 1);
    if (!counted.ok) {
      return graphqlError(res, 429, "RATE_LIMITED", rateLimitedMessage(counted.limited), requestId, rateLimitedExtensions(counted.limited), { "retry-after": String(counted.limited.retryAfterSeconds) });
    }
    if (req.method === "POST") {
      let raw: Buffer;
      try {
        raw = await readBody(req, LIMITS.maxBodyBytes);
      } catch (e) {
        if (e instanceof BodyTooLargeError) return graphqlError(res, 413, "BAD_REQUEST", `The request body exceeds ${LIMITS.maxBodyBytes} bytes`, requestId);
        throw e;
      }
      let parsed: unknown;
      try {
        parsed = JSON.parse(raw.toString("utf8"));
      } catch {
        return graphqlError(res, 400, "BAD_REQUEST", "The request body is not valid JSON", requestId);
      }
      if (!parsed || typeof parsed !== "object" || Array.isArray(parsed) || !Object.keys(parsed).length) {
        return graphqlError(res, 400, "BAD_REQUEST", "The request body must be a JSON object { query, variables, operationName }", requestId);
      }
      // Hot path: hand the parsed body to the runtime (@whatwg-node/server serves `req.body` to
      // yoga's request.json()), so the body is parsed once and never copied into a WHATWG Request.
      (req as IncomingMessage & { body?: unknown }).body = parsed;
      const op = (parsed as { operationName?: unknown }).operationName;
      if (rec && typeof op === "string") rec.operationName = op;
    }
    // The runtime, the subgraphs and the client see one request id (Hive reads this header).
    req.headers[REQUEST_ID_HEADER] = requestId;
    res.setHeader(REQUEST_ID_HEADER, requestId);
    const ctx: HubRequestContext = { principal, identityKey: `${who.jti}|${principal.purpose ?? ""}`, requestId, record: rec, rateLimits: counted.statuses };
    // requestListener = normalize + handle + write to res (handleNodeRequestAndResponse only returns the Response).
    await (runtime.requestListener as unknown as (req: IncomingMessage, res: ServerResponse, ctx: HubRequestContext) => Promise<void>)(req, res, ctx);
  }

  /**
   * GET /exports/<name>: a streamed file of the owner subgraph (reconciliation: the points
   * subgraph's partner-transactions), for the verified caller. The owner gets the caller's signed
   * identity, as for GraphQL, and decides what the caller may read; the bytes are piped through
   * with backpressure (never buffered here), and a client that goes away aborts the owner's stream.
   */
  async function exportFile(req: IncomingMessage, res: ServerResponse, requestId: string, name: string, search: string) {
    const who = await authenticate(req, res, requestId);
    if (!who) return;
    const abort = new AbortController();
    res.on("close", () => abort.abort());
    let upstream: Response;
    try {
      upstream = await fetch(`${origin(EXPORTS[name]!)}/exports/${name}${search}`, {
        headers: { [IDENTITY_HEADER]: await signIdentity(key, who.principal), [REQUEST_ID_HEADER]: requestId },
        signal: abort.signal,
      });
    } catch (e) {
      log.warn("export upstream unreachable", { requestId, err: e });
      return graphqlError(res, 502, "SERVICE_UNAVAILABLE", "The service is temporarily unavailable; retry", requestId, { retryAfterSeconds: 1 });
    }
    const headers: Record<string, string> = { [REQUEST_ID_HEADER]: requestId };
    for (const h of ["content-type", "content-disposition", "cache-control", "x-content-type-options"]) {
      const v = upstream.headers.get(h);
      if (v) headers[h] = v;
    }
    for (const [k, v] of upstream.headers) if (k.startsWith("x-total-")) headers[k] = v;
    res.writeHead(upstream.status, headers);
    if (!upstream.body) return res.end();
    try {
      await pipeline(Readable.fromWeb(upstream.body as import("node:stream/web").ReadableStream), res);
    } catch (e) {
      // The owner cut the stream (its error is logged there) or the client left: the transfer fails, never looks complete.
      if (!abort.signal.aborted) log.warn("export stream cut", { requestId, err: e });
      res.destroy();
    }
  }

  /** The form (or JSON) body of an OAuth endpoint, or an RFC error already sent. */
  async function oauthParams(req: IncomingMessage, res: ServerResponse): Promise<URLSearchParams | Record<string, unknown> | null> {
    let raw: Buffer;
    try {
      raw = await readBody(req, 64 * 1024);
    } catch {
      sendJson(res, 413, { error: "invalid_request", error_description: "Request too large" });
      return null;
    }
    if ((req.headers["content-type"] ?? "").includes("application/json")) {
      try {
        const parsed = JSON.parse(raw.toString("utf8")) as unknown;
        if (parsed && typeof parsed === "object" && !Array.isArray(parsed)) return parsed as Record<string, unknown>;
      } catch {
        // fall through
      }
      sendJson(res, 400, { error: "invalid_request", error_description: "Body is not a JSON object" }, { "cache-control": "no-store" });
      return null;
    }
    return new URLSearchParams(raw.toString("utf8"));
  }

  async function formBody(req: IncomingMessage, res: ServerResponse): Promise<URLSearchParams | null> {
    try {
      return new URLSearchParams((await readBody(req, 16 * 1024)).toString("utf8"));
    } catch {
      res.writeHead(413, { "content-type": "text/plain; charset=utf-8" });
      res.end("Request too large");
      return null;
    }
  }

  async function token(req: IncomingMessage, res: ServerResponse) {
    let raw: Buffer;
    try {
      raw = await readBody(req, 64 * 1024);
    } catch {
      return sendJson(res, 413, { error: "invalid_request", error_description: "Request too large" });
    }
    const type = req.headers["content-type"] ?? "";
    let params: URLSearchParams | Record<string, unknown>;
    if (type.includes("application/json")) {
      try {
        params = JSON.parse(raw.toString("utf8")) as Record<string, unknown>;
      } catch {
        return sendJson(res, 400, { error: "invalid_request", error_description: "Body is not valid JSON" }, { "cache-control": "no-store" });
      }
    } else params = new URLSearchParams(raw.toString("utf8"));
    const out = await tokens.handle(params, req.headers.authorization, req.socket.remoteAddress ?? "unknown");
    sendJson(res, out.status, out.body, out.headers);
  }

  async function readiness() {
    const checks = await Promise.all(
      (Object.keys(opts.subgraphUrls) as (keyof SubgraphUrls)[]).map(async (name) => {
        try {
          const r = await fetch(`${origin(name)}/readyz`, { signal: AbortSignal.timeout(2000) });
          const body = (await r.json().catch(() => ({}))) as { database?: string };
          return [name, r.ok ? "ready" : `HTTP ${r.status}`, body.database ?? "unknown"] as const;
        } catch (e) {
          return [name, e instanceof Error ? e.message : "unreachable", "unknown"] as const;
        }
      }),
    );
    const ok = checks.every(([, s]) => s === "ready");
    return {
      ok,
      // Not a reason to be unready: without Redis the limits are counted in memory (gateway/src/rate-limits.ts).
      redis: rateLimits.redisStatus(),
      subgraphs: Object.fromEntries(checks.map(([n, s]) => [n, s])),
      // Each subgraph checks its own database connection (SELECT 1).
      database: Object.fromEntries(checks.map(([n, , d]) => [n, d])),
    };
  }

  function handle(req: IncomingMessage, res: ServerResponse) {
    const requestId = (() => {
      const v = req.headers[REQUEST_ID_HEADER];
      return typeof v === "string" && /^[A-Za-z0-9._:-]{1,128}$/.test(v) ? v : randomUUID();
    })();
    const url = new URL(req.url ?? "/", "http://gateway");
    if (url.pathname === "/metrics") {
      serveMetrics(req, res).catch((e) => {
        log.error("metrics failed", { err: e });
        if (!res.headersSent) res.writeHead(500).end();
      });
      return;
    }
    recordRequest(res, { service: "gateway", requestId, route: routeLabel(url.pathname), method: req.method ?? "GET" });
    const handle = async () => {
      if (CORS_PATHS.has(url.pathname)) {
        if (req.headers.origin !== undefined && (await corsPolicy.apply(req, res))) return; // a preflight of an allowed origin, answered
        if (req.method === "OPTIONS") {
          // A preflight from an origin no client lists (no Access-Control-* headers: the browser stops), or a plain OPTIONS.
          res.writeHead(req.headers.origin !== undefined ? 403 : 204, { allow: "GET, POST, OPTIONS", vary: "Origin", "content-length": "0" });
          return res.end();
        }
      }
      if (url.pathname === "/graphql") {
        if (req.method === "GET" && (req.headers.accept ?? "").includes("text/html") && !url.searchParams.has("query")) {
          res.writeHead(200, { "content-type": "text/html; charset=utf-8", "content-security-policy": GRAPHIQL_CSP, "x-content-type-options": "nosniff" });
          return res.end(graphiqlPage("/graphql"));
        }
        if (req.method !== "POST" && req.method !== "GET") return graphqlError(res, 405, "BAD_REQUEST", "Use POST (or GET for queries)", requestId, {}, { allow: "GET, POST" });
        return graphql(req, res, requestId);
      }
      if (url.pathname.startsWith("/exports/")) {
        const name = url.pathname.slice("/exports/".length);
        if (!Object.hasOwn(EXPORTS, name)) return graphqlError(res, 404, "NOT_FOUND", "No such export", requestId);
        if (req.method !== "GET") return graphqlError(res, 405, "BAD_REQUEST", "Use GET", requestId, {}, { allow: "GET" });
        return exportFile(req, res, requestId, name, url.search);
      }
      if (url.pathname === "/oauth/token") {
        if (req.method !== "POST") return sendJson(res, 405, { error: "invalid_request", error_description: "Use POST" }, { allow: "POST" });
        return token(req, res);
      }
      const ip = req.socket.remoteAddress ?? "unknown";
      if (url.pathname === "/oauth/authorize") {
        if (req.method === "GET") return authorize.start(req, res, url.searchParams);
        if (req.method === "POST") {
          const form = await formBody(req, res);
          return form && authorize.submit(req, res, form, ip);
        }
        return sendJson(res, 405, { error: "invalid_request", error_description: "Use GET or POST" }, { allow: "GET, POST" });
      }
      if (url.pathname === "/oauth/revoke" || url.pathname === "/oauth/introspect") {
        if (req.method !== "POST") return sendJson(res, 405, { error: "invalid_request", error_description: "Use POST" }, { allow: "POST" });
        const params = await oauthParams(req, res);
        if (!params) return;
        const out = url.pathname === "/oauth/revoke" ? await tokens.revoke(params, req.headers.authorization, ip) : await tokens.introspect(params, req.headers.authorization, ip);
        return sendJson(res, out.status, out.body, out.headers);
      }
      if (url.pathname === "/account/activate") {
        if (req.method === "GET") return authorize.activationForm(req, res, url.searchParams);
        if (req.method === "POST") {
          const form = await formBody(req, res);
          return form && authorize.activate(req, res, form, ip);
        }
        return sendJson(res, 405, { error: "invalid_request", error_description: "Use GET or POST" }, { allow: "GET, POST" });
      }
      if ((url.pathname === "/.well-known/oauth-authorization-server" || url.pathname === "/.well-known/openid-configuration") && req.method === "GET") {
        const host = typeof req.headers.host === "string" && /^[A-Za-z0-9.:[\]-]{1,255}$/.test(req.headers.host) ? req.headers.host : "localhost";
        return sendJson(res, 200, metadata(opts.publicUrl ?? readSetting("HUB_PUBLIC_URL") ?? `http://${host}`), { "cache-control": "public, max-age=300" });
      }
      if (url.pathname === "/.well-known/jwks.json" && req.method === "GET") return sendJson(res, 200, keys.jwks(), { "cache-control": "public, max-age=300" });
      if (isGraphiqlAsset(url.pathname) && (req.method === "GET" || req.method === "HEAD")) {
        const a = await graphiqlAsset(url.pathname, req.headers["accept-encoding"]);
        res.writeHead(a.status, a.headers);
        return res.end(req.method === "HEAD" ? undefined : a.body);
      }
      if (url.pathname === "/schema.graphql" && (req.method === "GET" || req.method === "HEAD")) {
        // The published public schema (what partners see: no federation internals, no @inaccessible
        // fields), from the supergraph this gateway serves; the same as schema/public.graphql.
        res.writeHead(200, { "content-type": "text/plain; charset=utf-8", "cache-control": "public, max-age=300", "x-content-type-options": "nosniff" });
        return res.end(req.method === "HEAD" ? undefined : publicSdl());
      }
      if (url.pathname === "/") {
        res.writeHead(302, { location: "/graphql" });
        return res.end();
      }
      sendJson(res, 404, { error: "not_found" });
    };
    handle().catch((e) => {
      log.error("gateway request failed", { requestId, err: e });
      if (!res.headersSent) graphqlError(res, 500, "INTERNAL_SERVER_ERROR", "Internal server error", requestId);
      else res.end();
    });
  }
  return {
    handle,
    keys,
    revocations,
    cors: corsPolicy,
    rateLimits,
    readiness,
    async close() {
      keys.close();
      revocations.close();
      corsPolicy.close();
      rateLimits.close();
      await runtime.dispose?.();
    },
  };
}

/** The gateway on its own node:http server (lib/serve.ts); port 0 = any free port. */
export async function startGateway(opts: GatewayOptions): Promise<RunningGateway> {
  const gateway = await createGateway(opts);
  let served: Served;
  try {
    served = opts.served ?? (await serve({ name: "gateway", port: opts.port ?? 0, host: opts.host ?? "127.0.0.1", setting: opts.portSetting ?? "HUB_PORT" }));
  } catch (e) {
    await gateway.close();
    throw e;
  }
  served.setHandler(gateway.handle);
  served.setReadiness(gateway.readiness);
  // A server of its own is ready now; one handed in is the caller's to declare (after seeding).
  if (!opts.served) served.ready();
  const port = served.port;
  const host = !opts.host || opts.host === "0.0.0.0" ? "localhost" : opts.host === "127.0.0.1" ? "localhost" : opts.host;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}`,
    port,
    keys: gateway.keys,
    revocations: gateway.revocations,
    cors: gateway.cors,
    rateLimits: gateway.rateLimits,
    served,
    // SIGTERM does not close node:http: callers (main.ts, scripts/hub.ts) call this. Idempotent.
    close(timeoutMs = readSetting("HUB_DRAIN_TIMEOUT_MS")) {
      closing ??= (async () => {
        await served.drain({ timeoutMs, delayMs: readSetting("HUB_SHUTDOWN_DELAY_MS") });
        await gateway.close();
      })();
      return closing;
    },
  };
}
