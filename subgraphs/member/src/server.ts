import type { PrismaClient } from "../../../lib/db.ts";
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
}

export async function startMemberSubgraph(opts: StartMemberOptions): Promise<RunningSubgraph> {
  usePrisma(opts.prisma);
  const settings = resolveSettings(opts.settings);
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
