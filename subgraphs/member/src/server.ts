import { loadEnv } from "../../../lib/config.ts";
import type { PrismaClient } from "../../../lib/db.ts";
import type { SchemaName } from "../../../lib/events/catalogue.ts";
import { useNodePeers } from "./services/nodes.ts";
import { accessLogPlugin } from "./access-log-plugin.ts";
import { startSubgraph, type RunningSubgraph } from "../../../lib/subgraph-server.ts";
import { type MemberSettings, resolveSettings } from "./config.ts";
import { createContext } from "./context.ts";
import { usePrisma } from "./db.ts";
import { internalRoutes } from "./internal.ts";
import { schema } from "./schema/index.ts";

export interface StartMemberOptions {
  prisma: PrismaClient;
  internalKey: Uint8Array;
  port?: number;
  host?: string;
  /** Overrides of the environment's settings (tests: small cohorts, lifecycle thresholds). */
  settings?: Partial<MemberSettings>;
  /** The other subgraphs' GraphQL URLs, for `node(id:)` (their own lookups decide what a caller sees). */
  peers?: () => Partial<Record<SchemaName, string | undefined>>;
  /** How long `node(id:)` waits for an owner's lookup (default HUB_NODE_LOOKUP_TIMEOUT_MS). */
  nodeLookupTimeoutMs?: number;
}

export async function startMemberSubgraph(opts: StartMemberOptions): Promise<RunningSubgraph> {
  usePrisma(opts.prisma);
  const settings = resolveSettings(opts.settings);
  useNodePeers(opts.peers ? { key: opts.internalKey, peers: opts.peers, timeoutMs: opts.nodeLookupTimeoutMs ?? loadEnv().HUB_NODE_LOOKUP_TIMEOUT_MS } : null);
  return startSubgraph({
    name: "member",
    schema,
    internalKey: opts.internalKey,
    port: opts.port,
    host: opts.host,
    // The access-log batch is written by the plugin before the response leaves (one INSERT per request).
    createContext: (base) => createContext(base, settings, { autoFlushAccessLog: false }),
    plugins: [accessLogPlugin],
    ready: () => opts.prisma.$queryRaw`SELECT 1`,
    internalRoutes: internalRoutes(),
  });
}
