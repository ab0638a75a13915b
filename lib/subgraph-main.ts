import { configOrExit, refuseToStart } from "./config.ts";
import { openDatabase, type PrismaClient } from "./db.ts";
import type { SchemaName } from "./events/catalogue.ts";
import { startOutboxRelay } from "./events/relay.ts";
import { internalKey } from "./internal-auth.ts";
import { flushLogs, log } from "./logger.ts";
import { startTracing, stopTracing } from "./tracing.ts";
import { PortInUseError } from "./serve.ts";
import type { RunningSubgraph } from "./subgraph-server.ts";

export type SubgraphStarter = (opts: { prisma: PrismaClient; internalKey: Uint8Array; port: number; host: string; peers: () => Partial<Record<SchemaName, string | undefined>> }) => Promise<RunningSubgraph>;

/**
 * `npm run start:<name>`: one subgraph alone (docker-compose, one process per service), with its
 * outbox relay to the other subgraphs and any background jobs it owns. Needs DATABASE_URL and
 * HUB_INTERNAL_SECRET; the peers' URLs come from HUB_MEMBER_URL / HUB_POINTS_URL / HUB_PARTNER_URL.
 */
export async function runSubgraphMain(name: SchemaName, start: SubgraphStarter, background?: () => { stop(): Promise<void> }) {
  const env = configOrExit("subgraph");
  const missing = [
    ...(env.DATABASE_URL ? [] : ["DATABASE_URL is required (the embedded default runs everything with `npm start`)"]),
    ...(env.HUB_INTERNAL_SECRET ? [] : ["HUB_INTERNAL_SECRET is required (shared with the gateway and the other subgraphs)"]),
  ];
  if (!env.DATABASE_URL || !env.HUB_INTERNAL_SECRET) refuseToStart(`start:${name} runs one subgraph alone`, missing);
  await startTracing({ serviceName: name });
  // Alone, each subgraph has its well-known port (docker-compose); under `npm start` the OS assigns them.
  const port = { member: env.MEMBER_PORT ?? 4001, points: env.POINTS_PORT ?? 4002, partner: env.PARTNER_PORT ?? 4003 }[name];
  const db = await openDatabase({ url: env.DATABASE_URL, poolSize: env.HUB_DB_POOL_SIZE, poolName: name });
  const prisma = db.client();
  const key = internalKey(env.HUB_INTERNAL_SECRET);
  const peers = () => ({ member: env.HUB_MEMBER_URL, points: env.HUB_POINTS_URL, partner: env.HUB_PARTNER_URL });
  let subgraph: RunningSubgraph;
  try {
    subgraph = await start({ prisma, internalKey: key, port, host: env.HUB_HOST, peers });
  } catch (e) {
    if (e instanceof PortInUseError) refuseToStart(`start:${name} cannot listen`, [e.message]);
    throw e;
  }
  const relay = startOutboxRelay({
    schema: name,
    prisma: () => prisma,
    peers,
    internalKey: key,
  });
  const jobs = background?.();
  log.info(`${name} subgraph listening`, { url: subgraph.url });
  // SIGTERM: readiness 503, requests in flight and the relay's current batch finish (bounded by
  // HUB_DRAIN_TIMEOUT_MS), then connections close (lib/serve.ts).
  let stopping = false;
  for (const signal of ["SIGINT", "SIGTERM"] as const) {
    process.on(signal, async () => {
      if (stopping) return;
      stopping = true;
      log.info(`${name} subgraph stopping`, { signal });
      await Promise.all([jobs?.stop(), relay.stop(), subgraph.close(env.HUB_DRAIN_TIMEOUT_MS)]);
      await db.close();
      await stopTracing();
      await flushLogs();
      process.exit(0);
    });
  }
}
