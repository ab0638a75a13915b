// Tiny in-process subgraphs for the gateway's own tests: real @apollo/server + @apollo/subgraph
// servers on port 0 that verify the gateway's x-hub-identity and echo the principal back, plus the
// two internal endpoints the token service calls. Deliberately NOT lib/subgraph-server.ts: these
// subgraphs leak raw messages and stack traces, so the tests prove the gateway masks on its own.
import { createServer, type IncomingMessage, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { ApolloServer, HeaderMap } from "@apollo/server";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { composeServices, compositionHasErrors } from "@theguild/federation-composition";
import { GraphQLError, parse } from "graphql";
import { readBody, sendJson } from "../../../lib/http.ts";
import { IDENTITY_HEADER, type InternalPrincipal, OPERATION_NAME_HEADER, REQUEST_ID_HEADER, verifyIdentity } from "../../../lib/internal-auth.ts";
import type { Principal } from "../../../lib/principal.ts";

export type Name = "member" | "points" | "partner";

export interface SeenRequest {
  subgraph: Name;
  path: string;
  identity: InternalPrincipal | null;
  rawIdentity: string | undefined;
  requestId: string | undefined;
  operationName: string | undefined;
}

export const FAKE_CLIENTS = [
  { clientId: "fake-admin", secret: "fake-admin-secret", role: "ADMIN", partnerId: null, defaultPurpose: "ACCOUNT_SERVICING", scope: "hub:admin" },
  { clientId: "fake-shop", secret: "fake-shop-secret", role: "PARTNER", partnerId: "p-shop", defaultPurpose: "OFFER_TARGETING", scope: "hub:partner" },
] as const;
/** partnerId → externalRef → memberId */
export const FAKE_LINKS: Record<string, Record<string, string>> = { "p-shop": { "SM-0001": "m-0001" } };

const SDL: Record<Name, string> = {
  member: `
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key"])
    type Query {
      whoami: Whoami!
      me: Member
      member(id: ID!): Member
      echo(n: Int!): Int!
      boom: String
      weirdCode: String
      missing: String
    }
    type Whoami { sub: String! role: String! partnerId: String memberId: String scope: String! purpose: String requestId: String operationName: String }
    type Member @key(fields: "id") { id: ID! displayName: String }
  `,
  points: `
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key"])
    type Member @key(fields: "id") { id: ID! balance: Int! seenBy: String! }
  `,
  partner: `
    extend schema @link(url: "https://specs.apollo.dev/federation/v2.6", import: ["@key"])
    type Query { partnerSeenBy: String! }
  `,
};

interface Ctx {
  principal: Principal;
  requestId?: string;
  operationName?: string;
}

const resolvers: Record<Name, any> = {
  member: {
    Query: {
      whoami: (_: unknown, __: unknown, ctx: Ctx) => ({ ...ctx.principal, requestId: ctx.requestId, operationName: ctx.operationName }),
      me: (_: unknown, __: unknown, ctx: Ctx) => (ctx.principal.memberId ? { id: ctx.principal.memberId, displayName: `Member ${ctx.principal.memberId}` } : null),
      member: (_: unknown, { id }: { id: string }) => ({ id, displayName: `Member ${id}` }),
      echo: (_: unknown, { n }: { n: number }) => n,
      boom: () => {
        throw new Error('relation "member.secret" does not exist: SELECT * FROM member.secret');
      },
      weirdCode: () => {
        throw new GraphQLError("connection string postgres://root:pw@db", { extensions: { code: "DATABASE_EXPLODED" } });
      },
      missing: () => {
        throw new GraphQLError("Member x not found", { extensions: { code: "NOT_FOUND" } });
      },
    },
    Member: { __resolveReference: (ref: { id: string }) => ({ id: ref.id, displayName: `Member ${ref.id}` }) },
  },
  points: {
    Member: {
      __resolveReference: (ref: { id: string }) => ({ id: ref.id }),
      balance: () => 1200,
      seenBy: (_: unknown, __: unknown, ctx: Ctx) => `${ctx.principal.role}:${ctx.principal.sub}:${ctx.principal.purpose}`,
    },
  },
  partner: {
    Query: { partnerSeenBy: (_: unknown, __: unknown, ctx: Ctx) => `${ctx.principal.role}:${ctx.principal.sub}:${ctx.principal.purpose}` },
  },
};

async function readJson(req: IncomingMessage): Promise<unknown> {
  const raw = (await readBody(req, 4 * 1024 * 1024)).toString("utf8");
  return raw ? JSON.parse(raw) : {};
}

export interface FakeSubgraphs {
  urls: Record<Name, string>;
  supergraphSdl: string;
  /** Every request the subgraphs received (clear with `seen.length = 0`). */
  seen: SeenRequest[];
  stop(name: Name): Promise<void>;
  close(): Promise<void>;
}

/** Starts the three fake subgraphs on port 0 and composes their supergraph. */
export async function startFakeSubgraphs(internalKey: Uint8Array): Promise<FakeSubgraphs> {
  const seen: SeenRequest[] = [];
  const servers = {} as Record<Name, { server: Server; apollo: ApolloServer<Ctx>; stopped: boolean }>;
  const urls = {} as Record<Name, string>;
  for (const name of ["member", "points", "partner"] as Name[]) {
    const apollo = new ApolloServer<Ctx>({
      schema: buildSubgraphSchema({ typeDefs: parse(SDL[name]), resolvers: resolvers[name] }),
      includeStacktraceInErrorResponses: true, // a careless subgraph, on purpose
      csrfPrevention: false,
      plugins: [(await import("@apollo/server/plugin/disabled")).ApolloServerPluginInlineTraceDisabled()],
    });
    await apollo.start();
    const server = createServer(async (req, res) => {
      const url = new URL(req.url ?? "/", "http://fake");
      if (url.pathname === "/healthz" || url.pathname === "/readyz") return sendJson(res, 200, { status: "ok" });
      const raw = req.headers[IDENTITY_HEADER] as string | undefined;
      let identity: InternalPrincipal | null = null;
      try {
        identity = await verifyIdentity(internalKey, raw);
      } catch {
        identity = null;
      }
      seen.push({
        subgraph: name,
        path: url.pathname,
        identity,
        rawIdentity: raw,
        requestId: req.headers[REQUEST_ID_HEADER] as string | undefined,
        operationName: req.headers[OPERATION_NAME_HEADER] as string | undefined,
      });
      if (!identity) return sendJson(res, 401, { errors: [{ message: "no identity", extensions: { code: "UNAUTHENTICATED" } }] });
      if (url.pathname.startsWith("/internal/")) {
        if (identity.role !== "SERVICE") return sendJson(res, 401, { error: "service identity required" });
        const body = (await readJson(req)) as Record<string, string>;
        if (name === "partner" && url.pathname === "/internal/clients/authenticate") {
          const c = FAKE_CLIENTS.find((x) => x.clientId === body.clientId && x.secret === body.clientSecret);
          if (!c) return sendJson(res, 401, { error: "invalid_client" });
          const { secret: _s, ...client } = c;
          return sendJson(res, 200, client);
        }
        if (name === "member" && url.pathname === "/internal/members/by-partner-ref") {
          const memberId = FAKE_LINKS[body.partnerId]?.[body.externalRef];
          return memberId ? sendJson(res, 200, { memberId }) : sendJson(res, 404, { error: "not_found" });
        }
        return sendJson(res, 404, { error: "not_found" });
      }
      if (identity.role === "SERVICE") return sendJson(res, 401, { error: "service identity cannot query" });
      const body = req.method === "POST" ? await readJson(req) : undefined;
      const headers = new HeaderMap();
      for (const [k, v] of Object.entries(req.headers)) if (typeof v === "string") headers.set(k, v);
      const out = await apollo.executeHTTPGraphQLRequest({
        httpGraphQLRequest: { method: req.method ?? "POST", headers, search: url.search, body },
        context: async () => ({ principal: identity as Principal, requestId: req.headers[REQUEST_ID_HEADER] as string | undefined, operationName: req.headers[OPERATION_NAME_HEADER] as string | undefined }),
      });
      const h: Record<string, string> = {};
      for (const [k, v] of out.headers) h[k] = v;
      res.writeHead(out.status ?? 200, h);
      res.end(out.body.kind === "complete" ? out.body.string : "");
    });
    await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
    urls[name] = `http://127.0.0.1:${(server.address() as AddressInfo).port}/graphql`;
    servers[name] = { server, apollo, stopped: false };
  }
  const composed = composeServices((["member", "points", "partner"] as Name[]).map((name) => ({ name, url: `http://${name}:4000/graphql`, typeDefs: parse(SDL[name]) })));
  if (compositionHasErrors(composed)) throw new Error(composed.errors.map((e) => e.message).join("\n"));
  async function stop(name: Name) {
    const s = servers[name];
    if (s.stopped) return;
    s.stopped = true;
    s.server.closeAllConnections();
    await new Promise<void>((resolve) => s.server.close(() => resolve()));
    await s.apollo.stop();
  }
  return {
    urls,
    supergraphSdl: composed.supergraphSdl,
    seen,
    stop,
    async close() {
      for (const name of Object.keys(servers) as Name[]) await stop(name);
    },
  };
}
