import type { GatewayPlugin } from "@graphql-hive/gateway-runtime";
import { transformSupergraphToPublicSchema } from "@theguild/federation-composition";
import { buildASTSchema, GraphQLError, type GraphQLSchema, Kind, parse, type ASTNode, type DocumentNode, type FragmentDefinitionNode, type SelectionSetNode } from "graphql";
import { loadEnv } from "../../lib/config.ts";
import { PUBLIC_CODES } from "../../lib/errors.ts";
import type { Role } from "../../lib/principal.ts";
import { estimateCost } from "./cost.ts";

/** "Put a limit on everything": request size, query depth, aliases and total selections. */
export const LIMITS = {
  maxBodyBytes: 1024 * 1024,
  maxDepth: 15,
  maxAliases: 30,
  maxSelections: 1_000,
  maxTokens: 5_000,
};

/** Who may introspect: partners and admins (developer experience), or nobody. */
export type IntrospectionPolicy = "partners-and-admins" | "off";

/**
 * The gateway's operational limits (docs/ARCHITECTURE.md, "Limits"). Defaults below; each can be
 * set by environment variable (read when the gateway starts) or by createGateway's options.
 */
export interface GatewayLimits {
  /** Highest estimated cost (gateway/src/cost.ts) accepted per role. HUB_MAX_COST_<ROLE>. */
  maxCost: Record<Role, number>;
  /** Highest estimated cost of the introspection part of an operation. HUB_MAX_INTROSPECTION_COST. */
  maxIntrospectionCost: number;
  /** Each subgraph fetch is aborted after this many ms. HUB_SUBGRAPH_TIMEOUT_MS. */
  subgraphTimeoutMs: number;
  /** No subgraph fetch of a request runs past this many ms after the request arrived. HUB_REQUEST_DEADLINE_MS. */
  requestDeadlineMs: number;
  /** Largest response (JSON characters) sent; above it the client gets RESPONSE_TOO_LARGE and no data. HUB_MAX_RESPONSE_BYTES. */
  maxResponseBytes: number;
  /** HUB_INTROSPECTION = partners-and-admins (default) | off. */
  introspection: IntrospectionPolicy;
}

/**
 * The defaults (lib/config.ts holds them with the variables). A partner's full view of a settlement
 * run (statements × lines, flows) estimates 13,201 against the PARTNER default of 20,000 (the
 * assumed sizes are coalition-wide); the loop estimates 2.2 × 10^9.
 */
export const DEFAULT_LIMITS: GatewayLimits = resolveLimits({}, {});

/** The limits from the configuration (lib/config.ts: defaults, bounds, HUB_* names), overridden by `given`. */
export function resolveLimits(given: Partial<GatewayLimits> = {}, env: NodeJS.ProcessEnv = process.env): GatewayLimits {
  const e = loadEnv(env);
  return {
    maxCost: { MEMBER: e.HUB_MAX_COST_MEMBER, PARTNER: e.HUB_MAX_COST_PARTNER, ADMIN: e.HUB_MAX_COST_ADMIN, ...given.maxCost },
    maxIntrospectionCost: given.maxIntrospectionCost ?? e.HUB_MAX_INTROSPECTION_COST,
    subgraphTimeoutMs: given.subgraphTimeoutMs ?? e.HUB_SUBGRAPH_TIMEOUT_MS,
    requestDeadlineMs: given.requestDeadlineMs ?? e.HUB_REQUEST_DEADLINE_MS,
    maxResponseBytes: given.maxResponseBytes ?? e.HUB_MAX_RESPONSE_BYTES,
    introspection: given.introspection ?? e.HUB_INTROSPECTION,
  };
}

/** May this role introspect? Members never (their app ships with the schema); nobody when off. */
export function mayIntrospect(limits: GatewayLimits, role: Role | undefined): boolean {
  return limits.introspection === "partners-and-admins" && (role === "PARTNER" || role === "ADMIN");
}

function limitError(message: string) {
  return new GraphQLError(message, { extensions: { code: "BAD_REQUEST", limit: true } });
}

/** Depth, aliases and selection count of an operation, fragments expanded (cycles are already invalid). */
export function measure(doc: DocumentNode): { depth: number; aliases: number; selections: number } {
  const fragments = new Map<string, FragmentDefinitionNode>();
  for (const d of doc.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  let aliases = 0;
  let selections = 0;
  const visit = (set: SelectionSetNode | undefined, depth: number, seen: Set<string>): number => {
    if (!set) return depth;
    let max = depth;
    for (const sel of set.selections) {
      selections++;
      if (selections > LIMITS.maxSelections * 10) return max;
      if (sel.kind === Kind.FIELD) {
        if (sel.alias) aliases++;
        max = Math.max(max, visit(sel.selectionSet, depth + 1, seen));
      } else if (sel.kind === Kind.INLINE_FRAGMENT) max = Math.max(max, visit(sel.selectionSet, depth, seen));
      else if (sel.kind === Kind.FRAGMENT_SPREAD && !seen.has(sel.name.value)) {
        const f = fragments.get(sel.name.value);
        if (f) max = Math.max(max, visit(f.selectionSet, depth, new Set([...seen, sel.name.value])));
      }
    }
    return max;
  };
  let depth = 0;
  for (const d of doc.definitions) if (d.kind === Kind.OPERATION_DEFINITION) depth = Math.max(depth, visit(d.selectionSet, 0, new Set()));
  return { depth, aliases, selections };
}

interface LimitsContext {
  principal?: { role?: Role };
  /** When this request's subgraph fetches must be done by (epoch ms). */
  deadlineAt?: number;
  /** A fetch of this request was aborted by a timeout. */
  timedOut?: boolean;
}

/**
 * The API schema clients see, built here from the supergraph: the runtime's own schema object may
 * come from another copy of graphql-js (its CJS build), whose types fail graphql's instanceof checks.
 */
export function apiSchema(supergraphSdl: string): GraphQLSchema {
  return buildASTSchema(transformSupergraphToPublicSchema(parse(supergraphSdl)), { assumeValidSDL: true });
}

/**
 * Charges an operation's estimated cost to the caller's cost budget (gateway/src/rate-limits.ts);
 * resolves to the error to answer with (RATE_LIMITED, HTTP 429) or null to go on.
 */
export type ChargeCost = (context: unknown, estimatedCost: number) => Promise<GraphQLError | null>;

export function limitsPlugin(limits: GatewayLimits, schema: GraphQLSchema, chargeCost?: ChargeCost): GatewayPlugin {
  return {
    onParse({ params }) {
      const source = typeof params.source === "string" ? params.source : params.source.body;
      // A cheap upper bound on tokens before the parser does any work.
      if (source.length > LIMITS.maxTokens * 20) throw limitError(`The query is longer than ${LIMITS.maxTokens * 20} characters`);
      return ({ result }: { result: unknown }) => {
        if (!result || (result as ASTNode).kind !== Kind.DOCUMENT) return;
        const m = measure(result as DocumentNode);
        if (m.depth > LIMITS.maxDepth) throw limitError(`The query is ${m.depth} levels deep; the limit is ${LIMITS.maxDepth}`);
        if (m.aliases > LIMITS.maxAliases) throw limitError(`The query uses ${m.aliases} aliases; the limit is ${LIMITS.maxAliases}`);
        if (m.selections > LIMITS.maxSelections) throw limitError(`The query selects ${m.selections} fields; the limit is ${LIMITS.maxSelections}`);
      };
    },
    // Demand control: after validation, before the plan is made or any subgraph is asked.
    onExecute({ args, setResultAndStopExecution }) {
      const ctx = args.contextValue as LimitsContext;
      const role = ctx?.principal?.role;
      const allowed = role && role in limits.maxCost ? limits.maxCost[role] : Math.min(...Object.values(limits.maxCost));
      const cost = estimateCost(schema, args.document, args.operationName, args.variableValues as Record<string, unknown> | undefined, { stopAbove: Math.max(allowed, limits.maxIntrospectionCost) });
      const refuse = (estimated: number, max: number, what: string) =>
        setResultAndStopExecution({
          errors: [
            new GraphQLError(`The estimated cost of this operation${what} is ${estimated}; at most ${max} is allowed. Ask for smaller pages (first) or fewer nested lists.`, {
              extensions: { code: "QUERY_TOO_COSTLY", estimatedCost: estimated, allowedCost: max },
            }),
          ],
        });
      if (cost.data > allowed) return refuse(cost.data, allowed, ` for ${role ?? "this caller"}`);
      if (cost.introspection > limits.maxIntrospectionCost) return refuse(cost.introspection, limits.maxIntrospectionCost, "'s introspection part");
      // The request deadline starts now (parsing and validation took microseconds).
      if (ctx && typeof ctx === "object") ctx.deadlineAt ??= Date.now() + limits.requestDeadlineMs;
      // The caller's cost budget per minute (rate limits), still before any plan or fetch.
      if (chargeCost) {
        return chargeCost(ctx, cost.data + cost.introspection).then((refused) => {
          if (refused) setResultAndStopExecution({ errors: [refused] });
        });
      }
    },
    // Every subgraph fetch: its own timeout, and never past the request's deadline.
    onFetch({ context, options, setOptions }) {
      const ctx = context as LimitsContext;
      if (!ctx || typeof ctx !== "object") return;
      const deadlineAt = (ctx.deadlineAt ??= Date.now() + limits.requestDeadlineMs);
      const ms = Math.max(0, Math.min(limits.subgraphTimeoutMs, deadlineAt - Date.now()));
      const timeout = AbortSignal.timeout(ms);
      timeout.addEventListener("abort", () => (ctx.timedOut = true), { once: true });
      setOptions({ ...options, signal: options.signal ? AbortSignal.any([options.signal, timeout]) : timeout });
    },
    onExecutionResult({ result, setResult, context }) {
      if (!result || typeof result !== "object" || Symbol.asyncIterator in result) return;
      const ctx = context as LimitsContext;
      if (ctx?.timedOut && result.errors?.length) {
        // The aborted fetches surface as SUBREQUEST_HTTP_ERROR "The operation was aborted" (masked as
        // INTERNAL otherwise): say what happened.
        result = {
          ...result,
          errors: result.errors.map((e) =>
            typeof e.extensions?.code === "string" && PUBLIC_CODES.has(e.extensions.code)
              ? e
              : new GraphQLError(`A subgraph did not answer in time (each fetch may take ${limits.subgraphTimeoutMs} ms, the whole request ${limits.requestDeadlineMs} ms)`, {
                  path: e.path,
                  extensions: { code: "GATEWAY_TIMEOUT" },
                }),
          ),
        };
        setResult(result);
      }
      // Counted before the client gets anything, so a too large answer is refused whole, never cut.
      const size = JSON.stringify(result).length;
      if (size <= limits.maxResponseBytes) return;
      setResult({
        errors: [
          new GraphQLError(`The response would be ${size} bytes; the limit is ${limits.maxResponseBytes}. Ask for smaller pages or fewer fields.`, {
            extensions: { code: "RESPONSE_TOO_LARGE", responseBytes: size, allowedBytes: limits.maxResponseBytes },
          }),
        ],
      });
    },
  };
}
