import type { PrismaClient } from "../../../lib/db.ts";
import { startSubgraph, type RunningSubgraph } from "../../../lib/subgraph-server.ts";
import { accessEventsPlugin, createContext } from "./context.ts";
import { usePrisma } from "./db.ts";
import { internalRoutes } from "./internal.ts";
import { schema } from "./schema/index.ts";
import { useWebhookSecretKey } from "./webhooks/secrets.ts";

export interface StartPartnerOptions {
  prisma: PrismaClient;
  internalKey: Uint8Array;
  port?: number;
  host?: string;
}

export async function startPartnerSubgraph(opts: StartPartnerOptions): Promise<RunningSubgraph> {
  usePrisma(opts.prisma);
  // Webhook signing secrets are stored encrypted under a key derived from the internal secret.
  useWebhookSecretKey(opts.internalKey);
  return startSubgraph({
    name: "partner",
    schema,
    internalKey: opts.internalKey,
    port: opts.port,
    host: opts.host,
    createContext,
    // One partner.data_accessed event per member per request (offers read by a partner or its app), before the response leaves.
    plugins: [accessEventsPlugin],
    ready: () => opts.prisma.$queryRaw`SELECT 1`,
    internalRoutes: internalRoutes(),
  });
}
