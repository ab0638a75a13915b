import { AsyncLocalStorage } from "node:async_hooks";
import { mkdirSync } from "node:fs";
import { PGlite } from "@electric-sql/pglite";
import { PrismaPg } from "@prisma/adapter-pg";
import pg from "pg";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { PrismaClient, Prisma } from "../prisma/generated/client/client.ts";
import { readSetting } from "./config.ts";
import { watchPool } from "./metrics.ts";
import { filters, listMigrations, openEngine, pgFactory, pgliteFactory } from "../prisma/engine/wasm-engine.mjs";
import { withAdapterParsers } from "./pglite-parsers.ts";
import { MIGRATIONS_DIR } from "./pglite-prepare.ts";

export { Prisma, PrismaClient, MIGRATIONS_DIR };

/**
 * A database the hub runs on: real PostgreSQL when a URL is given, otherwise embedded PGlite
 * (one in-process connection: transactions run one at a time, isolation levels are ignored).
 */
export interface Database {
  kind: "postgres" | "pglite";
  /** A Prisma client. On PGlite every client shares the one connection. */
  client(): PrismaClient;
  /** PostgreSQL URL, when kind is "postgres". */
  url?: string;
  pglite?: PGlite;
  close(): Promise<void>;
}

export interface OpenOptions {
  /** PostgreSQL connection string; without it, embedded PGlite. */
  url?: string;
  /** PGlite data directory; undefined = in memory. */
  dataDir?: string;
  /** PGlite: start from a dumped data dir (fast test databases). */
  loadDataDir?: Blob | File;
  poolSize?: number;
  /** Name of the pools in hub_db_pool_connections (default "db"; each client() adds -1, -2, …). */
  poolName?: string;
  /**
   * PostgreSQL: `statement_timeout` of every session of the pool, in ms (0 = none). Default
   * HUB_STATEMENT_TIMEOUT_MS, else DEFAULT_STATEMENT_TIMEOUT_MS. Not applied on PGlite: its WASM
   * build has no timer interrupt (measured: with `SET statement_timeout = 200` a long count ran on
   * for minutes), and its one connection serves one statement at a time anyway.
   */
  statementTimeoutMs?: number;
}

/** A runaway statement is cancelled after a minute; the gateway gives up on a request after 30 s. (The default is lib/config.ts's.) */
export const DEFAULT_STATEMENT_TIMEOUT_MS = readSetting("HUB_STATEMENT_TIMEOUT_MS", {});

export function statementTimeoutMs(given?: number, env: NodeJS.ProcessEnv = process.env): number {
  return given ?? readSetting("HUB_STATEMENT_TIMEOUT_MS", env);
}

export async function openDatabase(opts: OpenOptions): Promise<Database> {
  if (opts.url) {
    const url = opts.url;
    const clients: PrismaClient[] = [];
    const unwatch: (() => void)[] = [];
    // Set by pg in each new session's startup packet: no extra round trip, no session without it.
    const timeout = statementTimeoutMs(opts.statementTimeoutMs);
    return {
      kind: "postgres",
      url,
      client() {
        // Our own pg.Pool (the adapter ends it on $disconnect), so /metrics can report its usage.
        const pool = new pg.Pool({ connectionString: url, max: opts.poolSize ?? 10, ...(timeout ? { statement_timeout: timeout } : {}) });
        unwatch.push(watchPool(opts.poolName ?? "db", pool));
        const c = withCommitHooks(new PrismaClient({ adapter: new PrismaPg(pool, { disposeExternalPool: true }) }));
        clients.push(c);
        return c;
      },
      async close() {
        for (const u of unwatch.splice(0)) u();
        await Promise.allSettled(clients.splice(0).map((c) => c.$disconnect()));
      },
    };
  }
  if (opts.dataDir) mkdirSync(opts.dataDir, { recursive: true });
  const pglite = await PGlite.create({ dataDir: opts.dataDir, loadDataDir: opts.loadDataDir });
  // One adapter and one client over the one connection: several clients over one PGlite would
  // interleave their statements inside each other's transactions.
  const shared = withCommitHooks(new PrismaClient({ adapter: new PrismaPGlite(withAdapterParsers(pglite)) }));
  return {
    kind: "pglite",
    pglite,
    client: () => shared,
    async close() {
      await shared.$disconnect();
      await pglite.close();
    },
  };
}

/** Callbacks to run once the interactive transaction they were registered in has committed. */
const commitHooks = new AsyncLocalStorage<(() => void)[]>();

/**
 * Runs `fn` right after the interactive `$transaction` this code runs in commits (never if it
 * rolls back). Returns false, running nothing, outside such a transaction (or in one of a client
 * not opened here): the caller then needs another way. For wake-ups only (e.g. the outbox relay):
 * correctness must never depend on the hook running (a crash between commit and hook loses it).
 */
export function afterCommit(fn: () => void): boolean {
  const hooks = commitHooks.getStore();
  if (!hooks) return false;
  hooks.push(fn);
  return true;
}

/**
 * Wraps the client's `$transaction` (interactive form) so that afterCommit hooks registered inside
 * it run when it resolves. Patched on the instance, so clients derived with `$extends` (tests count
 * queries that way) go through it too.
 */
function withCommitHooks(client: PrismaClient): PrismaClient {
  const original = client.$transaction as (arg: unknown, options?: unknown) => Promise<unknown>;
  (client as unknown as { $transaction: unknown }).$transaction = function (this: unknown, arg: unknown, options?: unknown) {
    if (typeof arg !== "function") return original.call(this, arg, options);
    const hooks: (() => void)[] = [];
    return commitHooks
      .run(hooks, () => original.call(this, arg, options))
      .then((result) => {
        for (const fn of hooks.splice(0)) {
          try {
            fn();
          } catch {
            // A wake-up hook must not turn a committed transaction into a failed call.
          }
        }
        return result;
      });
  };
  return client;
}

/**
 * Applies pending prisma/migrations with the official Prisma schema engine (WASM build), recording
 * them in `_prisma_migrations` exactly as `prisma migrate deploy` does, so the stock CLI and this
 * agree on what is applied. Returns the names applied now.
 */
export async function migrate(db: Database): Promise<string[]> {
  // Restart fast path: when every migration folder is recorded as finished (and none failed), there
  // is nothing to apply, and the schema engine (WASM, seconds to load) is not started at all.
  const list = (await listMigrations(MIGRATIONS_DIR)) as { migrationDirectories: { path: string }[] };
  if (
    await nothingPending(
      db,
      list.migrationDirectories.map((d) => d.path),
    )
  )
    return [];
  const factory = db.kind === "postgres" ? await pgFactory(db.url!) : await pgliteFactory(db.pglite);
  const engine = await openEngine(factory);
  try {
    const { appliedMigrationNames } = await engine.applyMigrations({ migrationsList: list, filters });
    return appliedMigrationNames;
  } finally {
    engine.free();
    await factory.close();
  }
}

/** Every named migration finished in `_prisma_migrations`, none failed or rolled back (else the engine decides). */
async function nothingPending(db: Database, names: string[]): Promise<boolean> {
  const client = db.client();
  try {
    const [{ exists }] = await client.$queryRawUnsafe<{ exists: boolean }[]>(`SELECT to_regclass('public._prisma_migrations') IS NOT NULL AS exists`);
    if (!exists) return false;
    const rows = await client.$queryRawUnsafe<{ migration_name: string; finished_at: Date | null; rolled_back_at: Date | null }[]>(`SELECT migration_name, finished_at, rolled_back_at FROM public._prisma_migrations`);
    if (rows.some((r) => r.finished_at === null && r.rolled_back_at === null)) return false; // a failed one: the engine reports it
    const done = new Set(rows.filter((r) => r.finished_at !== null && r.rolled_back_at === null).map((r) => r.migration_name));
    return names.every((n) => done.has(n));
  } catch {
    return false;
  }
}

/** Serialization failure (40001) or deadlock (40P01): ORM queries raise P2034, raw queries P2010. */
export function isRetryable(e: unknown): boolean {
  if (!(e instanceof Prisma.PrismaClientKnownRequestError)) return false;
  if (e.code === "P2034") return true;
  const code = (e.meta as { driverAdapterError?: { cause?: { originalCode?: string } } } | undefined)?.driverAdapterError?.cause?.originalCode;
  return e.code === "P2010" && (code === "40001" || code === "40P01");
}

/** The Postgres error code (SQLSTATE) behind a Prisma error, if any. */
export function sqlState(e: unknown): string | undefined {
  if (!(e instanceof Prisma.PrismaClientKnownRequestError)) return undefined;
  const meta = e.meta as { code?: string; driverAdapterError?: { cause?: { originalCode?: string; code?: string } } } | undefined;
  return meta?.driverAdapterError?.cause?.originalCode ?? meta?.code;
}

export { isDatabaseUnavailable } from "./db-errors.ts";
