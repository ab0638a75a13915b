// A gateway in its own process for bench/wallet.ts (bench only): `ours` is the hub's gateway
// (gateway/src/server.ts, Hive gateway runtime + Rust planner), `apollo` is @apollo/gateway 2.14 on
// @apollo/server 5 over the same supergraph and subgraphs, doing the same per-request work as ours:
// verify the caller's ES256 access token with the hub's signing keys (same KeySet, same verifier),
// then send every subgraph fetch the gateway's signed identity (x-hub-identity, cached per token
// like ours), the request id and the operation name.
// BENCH_GATEWAY_STATS=1 counts the subgraph requests each gateway makes (printed on stop): ours
// made ~1 per 43 client requests until its in-flight deduplication was turned off (it merged different
// members' requests). BENCH_APOLLO_FETCHER=default keeps @apollo/gateway's make-fetch-happen fetcher;
// BENCH_APOLLO_SOURCEMAPS=0 turns off tsx's source maps in the apollo child (neither changed its rate).
// Talks to its parent over IPC: sends { ready: url }, answers "mem" with process.memoryUsage(),
// profiles between "profile-start" and { profileStop: file } (inspector Profiler), exits on "stop".
import { randomUUID } from "node:crypto";
import { readFileSync, writeFileSync } from "node:fs";
import { Session } from "node:inspector/promises";
import path from "node:path";
import { ApolloGateway, RemoteGraphQLDataSource } from "@apollo/gateway";
import { ApolloServer } from "@apollo/server";
import { startStandaloneServer } from "@apollo/server/standalone";
import { KeySet } from "../gateway/src/auth/keys.ts";
import { TokenVerifier } from "../gateway/src/auth/verify.ts";
import { withSubgraphUrls } from "../gateway/src/gateway.ts";
import { startGateway } from "../gateway/src/server.ts";
import { IDENTITY_HEADER, IDENTITY_TTL_SECONDS, internalKey, OPERATION_NAME_HEADER, REQUEST_ID_HEADER, signIdentity } from "../lib/internal-auth.ts";
import type { Principal } from "../lib/principal.ts";

const kind = process.argv[2];
const need = (k: string) =>
  process.env[k] ??
  (() => {
    throw new Error(`gateway-child needs ${k}`);
  })();
const secret = need("HUB_INTERNAL_SECRET");
const dataDir = need("HUB_DATA_DIR");
const urls = { member: need("HUB_MEMBER_URL"), points: need("HUB_POINTS_URL"), partner: need("HUB_PARTNER_URL") };
const supergraphSdl = readFileSync(path.resolve(import.meta.dirname, "../schema/supergraph.graphql"), "utf8");

let url: string;
const stats = { fetches: 0, bytesOut: 0, fetchMs: 0, requests: 0, byUrl: {} as Record<string, { n: number; ms: number }> };
let close: () => Promise<void>;

if (kind === "ours") {
  if (process.env.BENCH_GATEWAY_STATS === "1") {
    // Count the runtime's subgraph requests (whichever HTTP client it uses).
    const count = (u: string) => {
      stats.fetches++;
      const k = (stats.byUrl[u] ??= { n: 0, ms: 0 });
      k.n++;
    };
    const f = globalThis.fetch;
    globalThis.fetch = ((input: string | URL | Request, init?: RequestInit) => {
      count(`fetch ${typeof input === "string" ? input : input instanceof URL ? input.href : input.url}`);
      return f(input, init);
    }) as typeof fetch;
    const { createRequire, syncBuiltinESMExports } = await import("node:module");
    const http = createRequire(import.meta.url)("node:http") as typeof import("node:http");
    const req = http.request;
    (http as unknown as { request: unknown }).request = (...a: unknown[]) => {
      const o = a[0] as { port?: string; path?: string } | string | URL;
      count(`http ${typeof o === "string" ? o : o instanceof URL ? o.href : `${o.port}${o.path}`}`);
      return (req as (...x: unknown[]) => unknown)(...a);
    };
    syncBuiltinESMExports();
    const dc = await import("node:diagnostics_channel");
    dc.subscribe("undici:request:create", (m) => count(`undici ${(m as { request: { origin: string } }).request.origin}`));
    dc.subscribe("http.client.request.start", (m) => count(`dc-http ${(m as { request: { host: string; path: string } }).request.host}${(m as { request: { path: string } }).request.path}`));
  }
  const g = await startGateway({ port: 0, host: "127.0.0.1", supergraphSdl, subgraphUrls: urls, internalSecret: secret, dataDir });
  url = `${g.url.replace(/\/$/, "")}/graphql`;
  close = () => g.close();
} else if (kind === "apollo") {
  if (process.env.BENCH_APOLLO_SOURCEMAPS === "0") process.setSourceMapsEnabled(false);
  const key = internalKey(secret);
  const keys = await KeySet.fromConfig({ dataDir });
  const verifier = new TokenVerifier(keys, "https://coalition-hub.local", "coalition-hub-api");
  const identities = new Map<string, { token: string; until: number }>();
  type Ctx = { principal: Principal; identityKey: string; requestId: string };
  async function identityFor(ctx: Ctx) {
    const hit = identities.get(ctx.identityKey);
    const now = Date.now();
    if (hit && hit.until > now) return hit.token;
    const token = await signIdentity(key, ctx.principal);
    if (identities.size > 50_000) identities.clear();
    identities.set(ctx.identityKey, { token, until: now + IDENTITY_TTL_SECONDS * 750 });
    return token;
  }
  const gateway = new ApolloGateway({
    supergraphSdl: withSubgraphUrls(supergraphSdl, urls),
    buildService: ({ url: u }) =>
      new RemoteGraphQLDataSource<Ctx>({
        url: u,
        // Node's own fetch (undici, keep-alive pool) instead of the default make-fetch-happen: the
        // default spent its time in agent-base's isSecureEndpoint (a stack trace per request) and
        // ran at ~35 req/s here; the peer is measured in its best configuration we know.
        ...(process.env.BENCH_APOLLO_FETCHER === "default"
          ? {}
          : {
              fetcher: (async (input: string, init: RequestInit) => {
                stats.fetches++;
                stats.bytesOut += typeof init.body === "string" ? init.body.length : 0;
                const t = performance.now();
                const r = await fetch(input, init);
                stats.fetchMs += performance.now() - t;
                const u = (stats.byUrl[input] ??= { n: 0, ms: 0 });
                u.n++;
                u.ms += performance.now() - t;
                return r;
              }) as unknown as NonNullable<ConstructorParameters<typeof RemoteGraphQLDataSource>[0]>["fetcher"],
            }),
        async willSendRequest({ request, context: c }) {
          const context = c as Ctx;
          if (!context.principal) return;
          request.http!.headers.set(IDENTITY_HEADER, await identityFor(context));
          request.http!.headers.set(REQUEST_ID_HEADER, context.requestId);
          if (request.operationName) request.http!.headers.set(OPERATION_NAME_HEADER, request.operationName);
        },
      }),
  });
  const server = new ApolloServer<Ctx>({ gateway, introspection: false });
  const started = await startStandaloneServer(server, {
    listen: { port: 0, host: "127.0.0.1" },
    context: async ({ req }) => {
      stats.requests++;
      const bearer = req.headers.authorization?.match(/^Bearer\s+(\S+)\s*$/i)?.[1];
      const v = await verifier.verify(bearer);
      return { principal: v.principal, identityKey: `${v.jti}|${v.principal.purpose ?? ""}`, requestId: randomUUID() };
    },
  });
  url = started.url;
  close = () => server.stop();
} else throw new Error(`gateway-child: unknown kind ${kind} (ours | apollo)`);

// CPU profile of a chosen window (the load only, not start-up), via the inspector's Profiler.
let session: Session | undefined;
process.on("message", async (m: unknown) => {
  if (m === "mem") process.send!({ mem: process.memoryUsage() });
  if (m === "cpu") process.send!({ cpu: process.cpuUsage() });
  if (m === "profile-start") {
    session = new Session();
    session.connect();
    await session.post("Profiler.enable");
    await session.post("Profiler.setSamplingInterval", { interval: 500 });
    await session.post("Profiler.start");
    process.send!({ profiling: true });
  }
  if (m && typeof m === "object" && "profileStop" in m && session) {
    const { profile } = await session.post("Profiler.stop");
    writeFileSync((m as { profileStop: string }).profileStop, JSON.stringify(profile));
    session.disconnect();
    session = undefined;
    process.send!({ profiled: true });
  }
  if (m === "stop") {
    if (process.env.BENCH_GATEWAY_STATS === "1") console.error(`${kind} gateway stats`, stats, (performance as unknown as { eventLoopUtilization(): unknown }).eventLoopUtilization());
    await close().catch(() => undefined);
    process.exit(0);
  }
});
process.send!({ ready: url });
