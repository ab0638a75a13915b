import type { PrismaClient } from "../../../lib/db.ts";
import { startSubgraph, type RunningSubgraph } from "../../../lib/subgraph-server.ts";
import { eventsRoute } from "../../../lib/events/inbox.ts";
import { accessEventsPlugin, createContext } from "./context.ts";
import { prisma, usePrisma } from "./db.ts";
import { useRedemptionKeyFrom } from "./config.ts";
import { eventConsumer } from "./events.ts";
import { partnerTransactionsExport } from "./exports.ts";
import { registerBusinessMetrics } from "./metrics.ts";
import { schema } from "./schema/index.ts";

export interface StartPointsOptions {
  prisma: PrismaClient;
  internalKey: Uint8Array;
  port?: number;
  host?: string;
}

export async function startPointsSubgraph(opts: StartPointsOptions): Promise<RunningSubgraph> {
  usePrisma(opts.prisma);
  // Redemption codes are signed with a key derived from the internal secret (every points process agrees).
  useRedemptionKeyFrom(opts.internalKey);
  const running = await startSubgraph({
    name: "points",
    schema,
    internalKey: opts.internalKey,
    port: opts.port,
    host: opts.host,
    createContext,
    // One points.data_accessed event per member per request, written before the response leaves.
    plugins: [accessEventsPlugin],
    internalRoutes: { events: eventsRoute(prisma, eventConsumer) },
    // Reconciliation files (issue 17 §5), relayed by the gateway's GET /exports/partner-transactions.
    exportRoutes: { "partner-transactions": partnerTransactionsExport },
    ready: () => opts.prisma.$queryRaw`SELECT 1`,
  });
  const unregister = registerBusinessMetrics(() => opts.prisma);
  return {
    ...running,
    async close() {
      unregister();
      await running.close();
    },
  };
}
