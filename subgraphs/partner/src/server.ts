import type { PrismaClient } from "../../../lib/db.ts";
import { startSubgraph, type RunningSubgraph } from "../../../lib/subgraph-server.ts";
import { createContext } from "./context.ts";
import { usePrisma } from "./db.ts";
import { internalRoutes } from "./internal.ts";
import { schema } from "./schema/index.ts";

export interface StartPartnerOptions {
  prisma: PrismaClient;
  internalKey: Uint8Array;
  port?: number;
  host?: string;
}

export async function startPartnerSubgraph(opts: StartPartnerOptions): Promise<RunningSubgraph> {
  usePrisma(opts.prisma);
  return startSubgraph({
    name: "partner",
    schema,
    internalKey: opts.internalKey,
    port: opts.port,
    host: opts.host,
    createContext,
    ready: () => opts.prisma.$queryRaw`SELECT 1`,
    internalRoutes: internalRoutes(),
  });
}
