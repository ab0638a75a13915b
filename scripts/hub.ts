import { readFileSync } from "node:fs";
import path from "node:path";
import type { Database, PrismaClient } from "../lib/db.ts";
import type { SchemaName } from "../lib/events/catalogue.ts";
import { type Relay, startOutboxRelay } from "../lib/events/relay.ts";
import { internalKey as toKey } from "../lib/internal-auth.ts";
import type { RunningSubgraph } from "../lib/subgraph-server.ts";
import type { Served } from "../lib/serve.ts";
import { readSetting } from "../lib/config.ts";
import { startGateway } from "../gateway/src/server.ts";
import { usePlumbingPrisma as useMemberPlumbing } from "../subgraphs/member/src/db.ts";
import { startMemberSubgraph } from "../subgraphs/member/src/server.ts";
import { usePlumbingPrisma as usePartnerPlumbing } from "../subgraphs/partner/src/db.ts";
import { startOfferSweeper, startWebhooks } from "../subgraphs/partner/src/jobs.ts";
import type { DispatcherSettings } from "../subgraphs/partner/src/webhooks/dispatcher.ts";
import type { UrlPolicy } from "../subgraphs/partner/src/webhooks/url-guard.ts";
import { startPartnerSubgraph } from "../subgraphs/partner/src/server.ts";
import { startPointsJobs } from "../subgraphs/points/src/jobs.ts";
import { startPointsSubgraph } from "../subgraphs/points/src/server.ts";

export const SUPERGRAPH_PATH = path.resolve(import.meta.dirname, "../schema/supergraph.graphql");

export interface HubOptions {
  db: Database;
  internalSecret: string;
  /** Gateway port (0 = any free port). */
  port?: number;
  /** How long `node(id:)` waits for an owner's lookup (tests; default HUB_NODE_LOOKUP_TIMEOUT_MS). */
  nodeLookupTimeoutMs?: number;
  host?: string;
  /** Subgraph ports (0 = any free port). */
  subgraphPorts?: Partial<Record<SchemaName, number>>;
  /** Folder for the embedded signing keys when none are configured. */
  dataDir?: string;
  issuer?: string;
  audience?: string;
  /** Run the points jobs (hold expiry, points expiry, tier downgrade). */
  jobs?: boolean;
  relayIntervalMs?: number;
  /** Authorization code lifetime in ms (tests shorten it to prove expiry). */
  codeTtlMs?: number;
  /** The webhook dispatcher: settings overriding the environment's (tests: fast backoff), its URL policy, or false for none. */
  webhooks?: false | { settings?: Partial<DispatcherSettings>; policy?: UrlPolicy };
  /** Wraps each subgraph's Prisma client (tests count queries through it). */
  wrapClient?: (client: PrismaClient, subgraph: SchemaName) => PrismaClient;
  /** The gateway's server, already listening (npm start binds HUB_PORT first and declares it ready after seeding). */
  served?: Served;
}

export interface Hub {
  gatewayUrl: string;
  /** Base URL of the gateway (token endpoint, JWKS, health). */
  baseUrl: string;
  subgraphs: Record<SchemaName, RunningSubgraph>;
  /** Polls the owners' revocation feeds now (tests: the timer does it every second anyway). */
  pollRevocations(): Promise<void>;
  /** Polls the API clients' allowed browser origins (CORS) now. */
  pollCorsOrigins(): Promise<void>;
  /** Starts the background jobs (hold and points expiry, tier review, offer sweeper) if `jobs: false` held them back. */
  startJobs(): void;
  /** Reads the admins' rate limits now (the gateway polls every HUB_RATE_LIMITS_POLL_MS anyway). */
  pollRateLimits(): Promise<void>;
  /** Delivers every pending domain event now (tests). */
  flushEvents(): Promise<void>;
  /**
   * Graceful stop, in dependency order: the gateway drains (readiness 503, its requests in flight
   * finish while the subgraphs still serve them), then the jobs and the relays finish their current
   * pass, then the subgraphs drain. All within `timeoutMs` (default HUB_DRAIN_TIMEOUT_MS).
   */
  close(timeoutMs?: number): Promise<void>;
}

/**
 * The whole hub in one process: three subgraphs, their outbox relays, the points jobs and the
 * gateway. Used by `npm start` (embedded default) and by the end-to-end tests. Each service can
 * also run alone (`npm run start:<name>`) — this is only the in-process arrangement.
 */
export async function startHub(opts: HubOptions): Promise<Hub> {
  const key = toKey(opts.internalSecret);
  const host = opts.host ?? "127.0.0.1";
  const wrap = opts.wrapClient ?? ((c: PrismaClient) => c);
  const clients: Record<SchemaName, PrismaClient> = {
    member: wrap(opts.db.client(), "member"),
    points: wrap(opts.db.client(), "points"),
    partner: wrap(opts.db.client(), "partner"),
  };
  // In parallel; each on the port it is given, by default one the OS assigns (the gateway is told the URLs).
  let started: Record<SchemaName, RunningSubgraph> | undefined;
  const [member, points, partner] = await Promise.all([
    startMemberSubgraph({
      prisma: clients.member,
      internalKey: key,
      port: opts.subgraphPorts?.member ?? 0,
      host,
      peers: () => ({ points: started?.points.url, partner: started?.partner.url }),
      nodeLookupTimeoutMs: opts.nodeLookupTimeoutMs,
    }),
    startPointsSubgraph({ prisma: clients.points, internalKey: key, port: opts.subgraphPorts?.points ?? 0, host }),
    startPartnerSubgraph({ prisma: clients.partner, internalKey: key, port: opts.subgraphPorts?.partner ?? 0, host }),
  ]);
  const subgraphs: Record<SchemaName, RunningSubgraph> = { member, points, partner };
  started = subgraphs;
  const peers = () => ({ member: subgraphs.member.url, points: subgraphs.points.url, partner: subgraphs.partner.url });
  // The relays poll on their own client: their queries are plumbing, not the subgraphs' work
  // (and the N+1 guards count the subgraphs' clients).
  const relayClient = opts.db.client();
  // The revocation-feed polls are plumbing too (every second, not a request's work).
  useMemberPlumbing(relayClient);
  usePartnerPlumbing(relayClient);
  const relays: Relay[] = (Object.keys(clients) as SchemaName[]).map((schema) => startOutboxRelay({ schema, prisma: () => relayClient, peers, internalKey: key, intervalMs: opts.relayIntervalMs }));
  const jobs: { stop(): Promise<void> }[] = [];
  // Webhook deliveries are plumbing like the relays (their own client), not an optional job.
  if (opts.webhooks !== false) jobs.push(startWebhooks({ client: () => relayClient, ...opts.webhooks }));
  let jobsStarted = false;
  const startJobs = () => {
    if (jobsStarted) return;
    jobsStarted = true;
    jobs.push(startPointsJobs({}), startOfferSweeper({}));
  };
  if (opts.jobs !== false) startJobs();
  const gateway = await startGateway({
    port: opts.port ?? 0,
    host,
    supergraphSdl: readFileSync(SUPERGRAPH_PATH, "utf8"),
    subgraphUrls: peers(),
    internalSecret: opts.internalSecret,
    dataDir: opts.dataDir,
    issuer: opts.issuer,
    audience: opts.audience,
    codeTtlMs: opts.codeTtlMs,
    served: opts.served,
  });
  return {
    gatewayUrl: `${gateway.url.replace(/\/$/, "")}/graphql`.replace(/\/graphql\/graphql$/, "/graphql"),
    baseUrl: new URL(gateway.url).origin,
    subgraphs,
    pollRevocations: () => gateway.revocations.poll(),
    pollCorsOrigins: () => gateway.cors.poll(),
    pollRateLimits: () => gateway.rateLimits.poll(),
    startJobs,
    async flushEvents() {
      // Two rounds: a consumer's handler may emit events of its own.
      for (let i = 0; i < 2; i++) for (const r of relays) await r.flush();
    },
    async close(timeoutMs = readSetting("HUB_DRAIN_TIMEOUT_MS")) {
      const deadline = Date.now() + timeoutMs;
      const left = () => Math.max(0, deadline - Date.now());
      await gateway.close(timeoutMs);
      await Promise.all([...jobs.map((j) => j.stop()), ...relays.map((r) => r.stop())]);
      await Promise.all(Object.values(subgraphs).map((s) => s.close(left())));
    },
  };
}
