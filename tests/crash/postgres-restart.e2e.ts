// PostgreSQL restarted under load (issue 14, "Prove, in CI"): a PostgreSQL instance of this test's
// own (initdb + pg_ctl, its own port and data directory under /tmp, so no other test notices) is
// stopped with `pg_ctl -m immediate` (a crash: no checkpoint, sessions cut) while clients keep
// earning through the gateway, then started again. Clients get SERVICE_UNAVAILABLE with a retry
// hint (never a masked internal error), nothing is half-written (the verifier finds nothing, every
// answered earn is there once), the same service processes reconnect by themselves, and re-sending
// the failed requests completes each exactly once.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { chmodSync, chownSync, existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, test } from "vitest";
import { freePorts, type Services, startServices } from "../../bench/processes.ts";
import { type Database, migrate, openDatabase, type PrismaClient } from "../../lib/db.ts";
import { usePrisma as usePartnerPrisma } from "../../subgraphs/partner/src/db.ts";
import { createApiClientWithSecret } from "../../subgraphs/partner/src/services/api-clients.ts";
import { formatReport, verifyLedger } from "../../subgraphs/points/src/ledger/verify.ts";
import { clientToken, count, gql, ok, requirePostgres, setUpCoalition, until } from "./support.ts";

requirePostgres();

const BIN = process.env.HUB_PG_BIN ?? "/usr/lib/postgresql/15/bin";
if (!existsSync(path.join(BIN, "pg_ctl"))) throw new Error(`tests/crash/postgres-restart needs PostgreSQL's initdb and pg_ctl in ${BIN} (set HUB_PG_BIN)`);

const run = promisify(execFile);
/** initdb / pg_ctl refuse to run as root: as root, run them as the postgres user. */
const asOwner = (cmd: string, args: string[]) =>
  process.getuid?.() === 0 ? run("runuser", ["-u", "postgres", "--", path.join(BIN, cmd), ...args], { timeout: 60_000 }) : run(path.join(BIN, cmd), args, { timeout: 60_000 });

let dir: string;
let port: number;
let db: Database;
let client: PrismaClient;
let services: Services;
let dataDir: string;
const ADMIN = { clientId: "pg-restart-admin", secret: `pg-admin-${randomBytes(12).toString("hex")}` };
const pgctl = (...args: string[]) => asOwner("pg_ctl", ["-D", path.join(dir, "data"), ...args]);
const startPostgres = () => pgctl("-o", `-p ${port} -k ${dir} -c listen_addresses=127.0.0.1 -c fsync=off`, "-l", path.join(dir, "log"), "-w", "start");

beforeAll(async () => {
  dir = mkdtempSync(path.join(tmpdir(), "hub-pg-restart-"));
  chmodSync(dir, 0o755);
  if (process.getuid?.() === 0) {
    const { stdout } = await run("id", ["-u", "postgres"]);
    const { stdout: gid } = await run("id", ["-g", "postgres"]);
    chownSync(dir, Number(stdout.trim()), Number(gid.trim()));
  }
  [port] = (await freePorts(1)) as [number];
  await asOwner("initdb", ["-D", path.join(dir, "data"), "-A", "trust", "-U", "postgres", "--no-sync"]);
  await startPostgres();
  const url = `postgresql://postgres@127.0.0.1:${port}/postgres`;
  db = await openDatabase({ url, poolSize: 4 });
  await migrate(db);
  client = db.client();
  usePartnerPrisma(client);
  await createApiClientWithSecret({ clientId: ADMIN.clientId, secret: ADMIN.secret, role: "ADMIN", partnerId: null });
  dataDir = mkdtempSync(path.join(tmpdir(), "hub-pg-restart-data-"));
  services = await startServices({ services: ["member", "points", "partner", "gateway"], databaseUrl: url, internalSecret: randomBytes(32).toString("hex"), dataDir });
}, 300_000);

afterAll(async () => {
  await services?.stop();
  await db?.close();
  if (dir) {
    await pgctl("-m", "immediate", "stop").catch(() => {});
    rmSync(dir, { recursive: true, force: true });
  }
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const AWARD = `mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id } }`;

test("PostgreSQL restarted under load: SERVICE_UNAVAILABLE with a retry hint, nothing half-written, the hub reconnects by itself", async () => {
  const base = `http://127.0.0.1:${services.ports.gateway}`;
  const gw = `${base}/graphql`;
  const adminToken = await clientToken(base, ADMIN.clientId, ADMIN.secret);
  const coalition = await setUpCoalition(base, adminToken, client, 10);
  const pids = Object.fromEntries(Object.entries(services.children).map(([s, c]) => [s, c!.pid]));

  type Outcome = { id: string } | { code: string; retryAfterSeconds?: unknown } | { network: string };
  const outcomes: Outcome[] = [];
  const request = (i: number) => ({ memberId: coalition.memberIds[i % 10], points: 1 + (i % 5), idempotencyKey: `pg-${i}` });
  let next = 0;
  let stop = false;
  const successes = () => outcomes.filter((o) => "id" in o).length;
  const worker = async () => {
    while (!stop) {
      const i = next++;
      const r = await gql(gw, coalition.partnerToken, AWARD, { i: request(i) }).catch((e: Error) => e);
      if (r instanceof Error) outcomes[i] = { network: r.message };
      else if (r.data?.awardPoints?.id) outcomes[i] = { id: r.data.awardPoints.id };
      else outcomes[i] = { code: String(r.errors?.[0]?.extensions?.code), retryAfterSeconds: r.errors?.[0]?.extensions?.retryAfterSeconds };
    }
  };
  const load = Promise.all(Array.from({ length: 8 }, worker));
  try {
    await until("earns flowing", async () => successes() >= 40);
    await pgctl("-m", "immediate", "stop");
    // Down for a while under load: every request in this window fails.
    const failedBefore = outcomes.filter((o) => o && !("id" in o)).length;
    await until("requests failing while PostgreSQL is down", async () => outcomes.filter((o) => o && !("id" in o)).length >= failedBefore + 20);
    await startPostgres();
    const afterRestart = successes();
    await until("earns flowing again without restarting any service", async () => successes() >= afterRestart + 40, 90_000);
  } finally {
    stop = true;
    await load;
  }

  // The same processes served before and after: they reconnected by themselves.
  for (const [s, c] of Object.entries(services.children)) {
    expect(c!.exitCode, `${s} still running`).toBeNull();
    expect(c!.pid).toBe(pids[s]);
  }
  const failures = outcomes.filter((o): o is Exclude<Outcome, { id: string }> => !("id" in o));
  expect(failures.length).toBeGreaterThan(0);
  // Retriable, with a stable code and a hint; never a masked internal error or a dropped connection.
  expect(new Set(failures.map((f) => ("code" in f ? f.code : `network: ${f.network}`)))).toEqual(new Set(["SERVICE_UNAVAILABLE"]));
  for (const f of failures) expect((f as { retryAfterSeconds?: unknown }).retryAfterSeconds).toBe(1);

  // Nothing half-written: every answered earn is there, every invariant holds.
  const report = await verifyLedger(client, { events: true });
  expect(report.ok, formatReport(report)).toBe(true);
  const answered = outcomes.flatMap((o, i) => ("id" in o ? [[i, o.id] as const] : []));
  for (const [i, id] of answered) {
    const rows = await client.$queryRawUnsafe<{ id: string }[]>(`SELECT id::text AS id FROM "points"."LedgerTransaction" WHERE "idempotencyKey" = $1`, `pg-${i}`);
    expect(rows, `pg-${i}`).toEqual([{ id }]);
  }
  // Re-sent, every request completes exactly once (answered ones are replays with the same id).
  for (let i = 0; i < outcomes.length; i++) {
    const id = ok(await gql(gw, coalition.partnerToken, AWARD, { i: request(i) })).awardPoints.id as string;
    const o = outcomes[i]!;
    if ("id" in o) expect(id).toBe(o.id);
  }
  expect(await count(client, `SELECT count(*) AS n FROM "points"."LedgerTransaction" WHERE "idempotencyKey" LIKE 'pg-%'`)).toBe(outcomes.length);
  const final = await verifyLedger(client, { events: true });
  expect(final.ok, formatReport(final)).toBe(true);
}, 300_000);
