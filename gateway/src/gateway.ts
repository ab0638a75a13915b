import { createGatewayRuntime, type GatewayPlugin } from "@graphql-hive/gateway-runtime";
import { unifiedGraphHandler } from "@graphql-hive/router-runtime";
import { type ExecutionResult, getOperationAST, GraphQLError } from "graphql";
import { readSetting } from "../../lib/config.ts";
import { PUBLIC_CODES } from "../../lib/errors.ts";
import { IDENTITY_HEADER, IDENTITY_TTL_SECONDS, OPERATION_NAME_HEADER, REQUEST_ID_HEADER, signIdentity } from "../../lib/internal-auth.ts";
import { log } from "../../lib/logger.ts";
import { subgraphDuration, subgraphRequests } from "../../lib/metrics.ts";
import { errorCodesOf, type RequestRecord } from "../../lib/request-log.ts";
import { currentTraceId } from "../../lib/tracing.ts";
import type { Principal } from "../../lib/principal.ts";
import { encodeRateLimits, RATE_LIMITS_HEADER, type RateLimitStatus } from "../../lib/rate-limit-header.ts";
import { apiSchema, type ChargeCost, type GatewayLimits, limitsPlugin, mayIntrospect, resolveLimits } from "./limits.ts";

export type SubgraphUrls = { member: string; points: string; partner: string };

/** What the HTTP layer hands the runtime for one client request (after token verification). */
export interface HubRequestContext {
  principal: Principal;
  /** Cache key of the principal's signed assertion: token jti + purpose. */
  identityKey: string;
  requestId: string;
  /** The request's log line and metrics (lib/request-log.ts): operation name and error codes are filled in here. */
  record?: RequestRecord;
  /** The caller's rate-limit counters after this request (gateway/src/rate-limits.ts), forwarded for `viewer.limits`. */
  rateLimits?: RateLimitStatus[];
}

/**
 * Points the checked-in supergraph at this deployment's subgraphs: the file carries the
 * docker-compose URLs; tests and the embedded hub run the subgraphs on other ports.
 */
export function withSubgraphUrls(supergraphSdl: string, urls: SubgraphUrls): string {
  let sdl = supergraphSdl;
  for (const [name, url] of Object.entries(urls)) {
    const re = new RegExp(`(@join__graph\\(name: "${name}", url: ")[^"]*(")`);
    if (!re.test(sdl)) throw new Error(`supergraph has no subgraph named ${name}`);
    sdl = sdl.replace(re, `$1${url}$2`);
  }
  return sdl;
}

/**
 * The gateway's execution core: Hive gateway runtime + the Rust query planner over the composed
 * supergraph. Every subgraph fetch carries the caller as the gateway's own short-lived signed
 * assertion; errors a client may see keep their code, anything else is masked with the request id.
 */
export function createExecutor(opts: {
  supergraphSdl: string;
  subgraphUrls: SubgraphUrls;
  internalKey: Uint8Array;
  limits?: Partial<GatewayLimits>;
  plugins?: GatewayPlugin<HubRequestContext>[];
  chargeCost?: ChargeCost;
}) {
  const limits = resolveLimits(opts.limits);
  const schema = apiSchema(opts.supergraphSdl);
  const identities = new Map<string, { token: string; until: number }>();
  async function identityFor(ctx: HubRequestContext): Promise<string> {
    const hit = identities.get(ctx.identityKey);
    const now = Date.now();
    if (hit && hit.until > now) return hit.token;
    const token = await signIdentity(opts.internalKey, ctx.principal);
    // Reuse for 3/4 of its life: the subgraph still sees at least 15 s of validity.
    if (identities.size > 50_000) identities.clear();
    identities.set(ctx.identityKey, { token, until: now + IDENTITY_TTL_SECONDS * 750 });
    return token;
  }

  const opNames = new WeakMap<object, string>();
  const forwardIdentity: GatewayPlugin<HubRequestContext> = {
    onExecute({ args }) {
      const name = getOperationAST(args.document, args.operationName)?.name?.value;
      if (name && args.contextValue) opNames.set(args.contextValue as object, name);
      const record = (args.contextValue as Partial<HubRequestContext> | undefined)?.record;
      if (record) {
        record.operationName = name ?? null;
        // Inside the runtime's HTTP span when the request is traced: its trace id goes on the log line.
        record.traceId ??= currentTraceId();
      }
    },
    async onFetch({ context, options, setOptions, executionRequest }) {
      const ctx = context as Partial<HubRequestContext>;
      if (!ctx.principal || !ctx.identityKey || !ctx.requestId) return;
      const headers: Record<string, string> = { ...(options.headers as Record<string, string>) };
      headers[IDENTITY_HEADER] = await identityFor(ctx as HubRequestContext);
      headers[REQUEST_ID_HEADER] = ctx.requestId;
      // Always ours: what the gateway counted (never anything a client sent).
      headers[RATE_LIMITS_HEADER] = encodeRateLimits(ctx.rateLimits ?? []);
      // The client's operation name (params, else the document's only operation), not the
      // planner's generated name for this subgraph fetch.
      const op = (context as { params?: { operationName?: string } }).params?.operationName ?? opNames.get(context as object) ?? executionRequest?.operationName;
      if (op) headers[OPERATION_NAME_HEADER] = op;
      setOptions({ ...options, headers });
    },
  };

  const maskErrors: GatewayPlugin<HubRequestContext> = {
    onResultProcess({ result, setResult, serverContext, request }) {
      const requestId = (serverContext as Partial<HubRequestContext>)?.requestId;
      if (Array.isArray(result) || !result || typeof result !== "object" || !("errors" in result)) return;
      const r = result as ExecutionResult;
      if (!r.errors?.length) return;
      const record = (serverContext as Partial<HubRequestContext>)?.record;
      const masked: ExecutionResult = {
        ...r,
        errors: r.errors.map((e) => {
          const err = e as GraphQLError;
          // Variable coercion failures come from the executor without a code: they are the
          // client's input, not our fault.
          const code = err.extensions?.code ?? (!err.path && /^Variable "\$/.test(err.message) ? "BAD_USER_INPUT" : undefined);
          if (typeof code === "string" && PUBLIC_CODES.has(code)) {
            // Drop what a subgraph may add that clients need not see (stack traces, which subgraph).
            const { stacktrace: _s, exception: _x, serviceName: _n, http, ...extensions } = err.extensions ?? {};
            // A request that never executed (no data) failed on the client's input: 400, whatever
            // status the runtime guessed (it answered 500 for a wrong variable type). GraphQLError
            // instances, not plain objects, or yoga treats them as unexpected (500) too.
            // Except for a client that accepts only the legacy application/json: GraphQL over HTTP
            // says 200 then (graphql-http's audit checks it; tests/e2e/http-audit.e2e.ts).
            const accept = request.headers.get("accept") ?? "";
            const legacy = accept.includes("application/json") && !accept.includes("application/graphql-response+json");
            // RATE_LIMITED keeps its 429 and Retry-After (gateway/src/rate-limits.ts).
            const status = code === "RATE_LIMITED" && http ? { http } : r.data === undefined ? (legacy ? { http: { status: 200 } } : { http: { status: 400 } }) : http ? { http } : {};
            return new GraphQLError(err.message, { nodes: err.nodes, source: err.source, positions: err.positions, path: err.path, extensions: { ...extensions, ...status, code, requestId } });
          }
          log.error("masked error", { requestId, message: err.message, path: err.path, code });
          return new GraphQLError("Internal server error", { nodes: err.nodes, source: err.source, positions: err.positions, path: err.path, extensions: { code: "INTERNAL_SERVER_ERROR", requestId } });
        }),
      };
      if (record) record.errorCodes = errorCodesOf(masked);
      setResult(masked);
    },
  };

  // Per-subgraph request counts and latency (lib/metrics.ts), around the real fetch.
  const subgraphByUrl = new Map(Object.entries(opts.subgraphUrls).map(([name, url]) => [url, name]));
  const subgraphMetrics: GatewayPlugin<HubRequestContext> = {
    onFetch({ url, fetchFn, setFetchFn }) {
      const subgraph = subgraphByUrl.get(url);
      if (!subgraph) return;
      setFetchFn(async (...args: Parameters<typeof fetchFn>) => {
        const started = performance.now();
        try {
          const res = await fetchFn(...args);
          subgraphRequests.inc({ subgraph, outcome: res.ok ? "ok" : "http_error" });
          return res;
        } catch (e) {
          subgraphRequests.inc({ subgraph, outcome: "failed" });
          throw e;
        } finally {
          subgraphDuration.observe({ subgraph }, (performance.now() - started) / 1000);
        }
      });
    },
  };

  // Hive Gateway hard-codes `disposeOnProcessTerminate: true`: on SIGTERM/SIGINT its own process
  // listener disposes the runtime at once, aborting every operation in flight ("operation has been
  // aborted because the server is shutting down", SHUTTING_DOWN) before lib/serve.ts could drain.
  // The hub decides when the gateway stops (gateway/src/server.ts: drain, then runtime.dispose()),
  // so the listeners it registers are removed again.
  const runtime = withoutTerminationListeners(() =>
    createGatewayRuntime<HubRequestContext>({
      supergraph: withSubgraphUrls(opts.supergraphSdl, opts.subgraphUrls),
      unifiedGraphHandler,
      logging: readSetting("HUB_LOG_LEVEL") === "debug" ? "debug" : false,
      graphqlEndpoint: "/graphql",
      graphiql: false,
      landingPage: false,
      maskedErrors: false,
      // Introspection per role (docs/ARCHITECTURE.md, "Limits"): partners and admins, or nobody.
      disableIntrospection: { disableIf: ({ context }) => !mayIntrospect(limits, (context as Partial<HubRequestContext>).principal?.role) },
      plugins: () => [...(opts.plugins ?? []), forwardIdentity, maskErrors, limitsPlugin(limits, schema, opts.chargeCost), subgraphMetrics],
      // No in-flight deduplication of subgraph requests: executor-http keys it on url + body only (the
      // caller's x-hub-identity is added later, in onFetch), so concurrent `{ me { ... } }` fetches of
      // different members were merged and every caller got one member's data (measured: 49 of 50
      // concurrent wallet queries answered with another member's wallet, bench/wallet.ts).
      transportEntries: { "*.http": { options: { deduplicateInflightRequests: false } } },
    }),
  );
  return runtime;
}

const TERMINATION_EVENTS = ["SIGTERM", "SIGINT"] as const;

/**
 * Runs `create` and removes the process listeners for SIGTERM and SIGINT that it added
 * (@whatwg-node/server registers them once per process, for every server adapter created with
 * `disposeOnProcessTerminate`). Exported for its test.
 */
export function withoutTerminationListeners<T>(create: () => T): T {
  const before = new Map(TERMINATION_EVENTS.map((e) => [e, new Set(process.listeners(e))]));
  try {
    return create();
  } finally {
    for (const e of TERMINATION_EVENTS) for (const l of process.listeners(e)) if (!before.get(e)!.has(l)) process.removeListener(e, l as (...args: unknown[]) => void);
  }
}
