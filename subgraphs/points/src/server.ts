import type { PrismaClient } from "../../../lib/db.ts";
import { startSubgraph, type RunningSubgraph } from "../../../lib/subgraph-server.ts";
import { createContext } from "./context.ts";
import { usePrisma } from "./db.ts";
import { schema } from "./schema/index.ts";

export interface StartPointsOptions {
  prisma: PrismaClient;
  internalKey: Uint8Array;
  port?: number;
  host?: string;
}

export async function startPointsSubgraph(opts: StartPointsOptions): Promise<RunningSubgraph> {
  usePrisma(opts.prisma);
  return startSubgraph({
    name: "points",
    schema,
    internalKey: opts.internalKey,
    port: opts.port,
    host: opts.host,
    createContext,
    ready: () => opts.prisma.$queryRaw`SELECT 1`,
  });
}
