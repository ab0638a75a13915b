import type { SchemaName } from "../../../../lib/events/catalogue.ts";
import { badInput, ERROR_CODES, type ErrorCode, HubError, notFound } from "../../../../lib/errors.ts";
import { MAX_NODE_IDS, NODE_TYPES, type NodeType, parseNodeId } from "../../../../lib/global-id.ts";
import { IDENTITY_HEADER, OPERATION_NAME_HEADER, REQUEST_ID_HEADER, signIdentity } from "../../../../lib/internal-auth.ts";
import { log } from "../../../../lib/logger.ts";
import type { MemberContext } from "../context.ts";

/**
 * `node(id:)` / `nodes(ids:)` (docs/DECISIONS.md 37). A global id names its type, so its owner is
 * known; whether the caller may see it is decided by the owner's OWN lookup field (`offer(id:)`,
 * `transaction(id:)` ...) asked with the caller's identity, one request per owner for the whole
 * list. So `node` can never show more than the lookups do, and never tells "exists but not yours"
 * from "does not exist": both are null with NOT_FOUND, exactly as the lookup answers.
 * The visible ones are returned as entity stubs; the gateway fetches their fields from the owner.
 */

export { MAX_NODE_IDS };

/** What a resolved id becomes: a stub the gateway completes from the owner (a Member: its row), or the error for that id. */
export type NodeStub = { __typename: NodeType; id: string };
export type NodeResult = NodeStub | HubError;

interface NodePeers {
  key: Uint8Array;
  /** The owners' GraphQL URLs (lazily: under `npm start` they are known only once all have started). */
  peers: () => Partial<Record<SchemaName, string | undefined>>;
  timeoutMs: number;
}

let wiring: NodePeers | null = null;

/** Set at start-up (subgraphs/member/src/server.ts); without it, other owners' ids are SERVICE_UNAVAILABLE. */
export function useNodePeers(p: NodePeers | null): void {
  wiring = p;
}

const malformed = (id: string) => badInput(`Not a global id of this hub: ${JSON.stringify(id.slice(0, 60))} (take it from a nodeId field)`, "id");

/** Resolves global ids in order: each is a stub or its own error (null in the list, the error at its index). */
export async function resolveNodes(ctx: MemberContext, ids: readonly string[]): Promise<NodeResult[]> {
  const parsed = ids.map((id) => parseNodeId(id));
  const results: (NodeResult | undefined)[] = parsed.map((p, i) => (p ? undefined : malformed(ids[i]!)));
  const byOwner = new Map<SchemaName, number[]>();
  parsed.forEach((p, i) => {
    if (!p) return;
    const owner = NODE_TYPES[p.type].owner;
    const indexes = byOwner.get(owner);
    if (indexes) indexes.push(i);
    else byOwner.set(owner, [i]);
  });
  await Promise.all(
    [...byOwner].map(async ([owner, indexes]) => {
      const refs = indexes.map((i) => parsed[i]!);
      const verdicts = owner === "member" ? await localVisibility(ctx, refs) : await remoteVisibility(ctx, owner, refs);
      indexes.forEach((i, k) => {
        results[i] = verdicts[k] ?? { __typename: refs[k]!.type, id: refs[k]!.id };
      });
    }),
  );
  return results as NodeResult[];
}

/** Members are this subgraph's own: the same loader, and so the same rule, as `member(id:)`; the row itself is the node. */
async function localVisibility(ctx: MemberContext, refs: { type: NodeType; id: string }[]): Promise<(NodeResult | null)[]> {
  const rows = await Promise.all(refs.map((r) => ctx.loaders.memberById.load(r.id)));
  return rows.map((m, k) => (m ? { ...m, __typename: "Member" as const } : notFound("Member", refs[k]!.id)));
}

type GraphQLResponse = { data?: Record<string, unknown> | null; errors?: { message?: string; path?: unknown[]; extensions?: { code?: unknown } }[] };

/**
 * One query to the owner with an aliased lookup per id: `{ n0: offer(id: $i0) { id } ... }`.
 * A lookup's own error (NOT_FOUND, FORBIDDEN, CONSENT_REQUIRED ...) becomes that id's error, with
 * the owner's code and message; an owner that does not answer in time gives GATEWAY_TIMEOUT.
 */
async function remoteVisibility(ctx: MemberContext, owner: SchemaName, refs: { type: NodeType; id: string }[]): Promise<(HubError | null)[]> {
  const url = wiring?.peers()[owner];
  if (!wiring || !url) return refs.map(() => new HubError("SERVICE_UNAVAILABLE", `The ${owner} subgraph is not reachable from here`));
  const vars = refs.map((_r, k) => `$i${k}: ID!`).join(", ");
  const fields = refs.map((r, k) => `n${k}: ${NODE_TYPES[r.type].lookup}(id: $i${k}) { id }`).join(" ");
  const query = `query NodeVisibility(${vars}) { ${fields} }`;
  const variables = Object.fromEntries(refs.map((r, k) => [`i${k}`, r.id]));
  let body: GraphQLResponse;
  try {
    const res = await fetch(url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        [IDENTITY_HEADER]: await signIdentity(wiring.key, ctx.principal),
        [REQUEST_ID_HEADER]: ctx.requestId,
        [OPERATION_NAME_HEADER]: "NodeVisibility",
      },
      body: JSON.stringify({ query, variables, operationName: "NodeVisibility" }),
      signal: AbortSignal.timeout(wiring.timeoutMs),
    });
    body = (await res.json()) as GraphQLResponse;
  } catch (e) {
    const timedOut = e instanceof Error && (e.name === "TimeoutError" || e.name === "AbortError");
    log.warn("node lookup failed", { owner, requestId: ctx.requestId, error: e instanceof Error ? e.message : String(e) });
    const err = timedOut ? new HubError("GATEWAY_TIMEOUT", `The ${owner} subgraph did not answer within ${wiring.timeoutMs} ms`) : new HubError("SERVICE_UNAVAILABLE", `The ${owner} subgraph is not reachable from here`);
    return refs.map(() => err);
  }
  return refs.map((r, k) => {
    const alias = `n${k}`;
    const row = body.data?.[alias];
    if (row && typeof row === "object") return null;
    const e = body.errors?.find((x) => Array.isArray(x.path) && x.path[0] === alias);
    const code = typeof e?.extensions?.code === "string" ? e.extensions.code : null;
    if (!e || code === "NOT_FOUND") return notFound(r.type, r.id);
    // The owner's public codes pass through as it said them; an internal failure stays internal (masked, logged).
    if (code && code !== "INTERNAL_SERVER_ERROR" && Object.hasOwn(ERROR_CODES, code)) return new HubError(code as ErrorCode, e.message ?? code);
    log.error("node lookup: the owner failed", { owner, requestId: ctx.requestId, error: e.message });
    return new HubError("INTERNAL_SERVER_ERROR", "node lookup failed");
  });
}
