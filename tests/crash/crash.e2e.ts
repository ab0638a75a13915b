// Crash safety (issue 14, "Prove, in CI"): the hub's four services run as separate processes on a
// fresh PostgreSQL database and are killed with SIGKILL in the middle of a 5,000-item bulk earn
// and a burst of single earns and redemptions (all four at once), and the points subgraph in the
// middle of a settlement run's compute and of its approval (blocked halfway by a lock this test
// holds, so the kill lands inside the transaction every time). After each
// crash: the ledger verifier finds nothing, the services restart, and re-sending the very same
// requests (same idempotency keys and bodies) completes every one exactly once. At the end every
// outbox event has been delivered, once, into each consumer's inbox.
import { execFile } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { type Services, startServices } from "../../bench/processes.ts";
import type { Database, PrismaClient } from "../../lib/db.ts";
import { usePrisma as usePartnerPrisma } from "../../subgraphs/partner/src/db.ts";
import { createApiClientWithSecret } from "../../subgraphs/partner/src/services/api-clients.ts";
import { formatReport, verifyLedger } from "../../subgraphs/points/src/ledger/verify.ts";
import { freshDatabase } from "../support/db.ts";
import { clientToken, count, gql, ok, outboxesDrained, requirePostgres, setUpCoalition, until } from "./support.ts";

requirePostgres();

const MEMBERS = 40;
const BULK = 5_000;
const ADMIN = { clientId: "crash-admin", secret: `crash-admin-${randomBytes(12).toString("hex")}` };

let db: Database;
let client: PrismaClient;
let services: Services;
let dataDir: string;
let base: string;
let gw: string;
let adminToken: string;
let coalition: Awaited<ReturnType<typeof setUpCoalition>>;
const testStart = new Date();

/** Every invariant holds, events included (delivered ones are in each consumer's inbox). */
async function expectVerified() {
  const report = await verifyLedger(client, { events: true });
  expect(report.ok, formatReport(report)).toBe(true);
}

/**
 * Holds an ACCESS EXCLUSIVE lock on SettlementStatement from another session, so a settlement
 * compute (create, recompute or approve) blocks halfway through its transaction: the run row is
 * written and locked, its statements not yet. Resolves once a service's session waits on it.
 */
async function blockSettlementMidway() {
  const blocker = new pg.Client({ connectionString: db.url });
  await blocker.connect();
  await blocker.query("BEGIN");
  await blocker.query(`LOCK TABLE "points"."SettlementStatement" IN ACCESS EXCLUSIVE MODE`);
  let released = false;
  return {
    waiting: () =>
      until(
        "a settlement compute waiting halfway",
        async () =>
          (await count(
            client,
            `SELECT count(*) AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'SettlementStatement' AND NOT l.granted AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())`,
          )) > 0,
      ),
    release: async () => {
      if (released) return;
      released = true;
      await blocker.query("ROLLBACK");
      await blocker.end();
    },
  };
}

beforeAll(async () => {
  db = await freshDatabase();
  client = db.client();
  usePartnerPrisma(client);
  await createApiClientWithSecret({ clientId: ADMIN.clientId, secret: ADMIN.secret, role: "ADMIN", partnerId: null });
  dataDir = mkdtempSync(path.join(tmpdir(), "hub-crash-"));
  services = await startServices({ services: ["member", "points", "partner", "gateway"], databaseUrl: db.url!, internalSecret: randomBytes(32).toString("hex"), dataDir });
  base = `http://127.0.0.1:${services.ports.gateway}`;
  gw = `${base}/graphql`;
  adminToken = await clientToken(base, ADMIN.clientId, ADMIN.secret);
  coalition = await setUpCoalition(base, adminToken, client, MEMBERS);
}, 300_000);

afterAll(async () => {
  await services?.stop();
  await db?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

const AWARD_BATCH = `mutation($inputs: [AwardPointsInput!]!) { awardPointsBatch(inputs: $inputs) { accepted replayed rejected { index code } } }`;
const AWARD = `mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id } }`;
const REDEEM = `mutation($i: RedeemPointsInput!) { redeemPoints(input: $i) { id } }`;

describe("kill -9 during writes; restart; re-send: exactly once", { timeout: 300_000 }, () => {
  let runId = "";
  test("a 5,000-item bulk earn and a burst of single earns and redemptions, killed at once: whole chunks and answered requests are replayed, the rest committed once", async () => {
    const inputs = Array.from({ length: BULK }, (_, i) => ({ memberId: coalition.memberIds[i % MEMBERS], points: 1 + (i % 7), idempotencyKey: `bulk-${i}` }));
    const bulkCommitted = () => count(client, `SELECT count(*) AS n FROM "points"."LedgerTransaction" WHERE "idempotencyScope" = $1 AND "idempotencyKey" LIKE 'bulk-%'`, coalition.scope);
    // Redemptions (by the admin, of points the members hold before the bulk) interleaved with earns.
    const requests = Array.from({ length: 240 }, (_, i) =>
      i % 3 === 2
        ? { token: adminToken, query: REDEEM, vars: { i: { memberId: coalition.memberIds[i % MEMBERS], points: 3, idempotencyKey: `burst-redeem-${i}` } }, field: "redeemPoints" }
        : { token: coalition.partnerToken, query: AWARD, vars: { i: { memberId: coalition.memberIds[i % MEMBERS], points: 5, idempotencyKey: `burst-earn-${i}` } }, field: "awardPoints" },
    );
    const burstCommitted = () => count(client, `SELECT count(*) AS n FROM "points"."LedgerTransaction" WHERE "idempotencyKey" LIKE 'burst-%'`);
    const first = new Map<number, string>();
    let next = 0;
    const worker = async () => {
      while (next < requests.length) {
        const k = next++;
        const q = requests[k]!;
        const r = await gql(gw, q.token, q.query, q.vars).catch(() => null);
        const id = r?.data?.[q.field]?.id as string | undefined;
        if (id) first.set(k, id);
      }
    };
    // The burst's first earns give the members points to redeem; then the bulk joins it.
    const burst = Promise.all(Array.from({ length: 12 }, worker));
    await until("the burst under way", async () => (await burstCommitted()) >= 30);
    const bulk = gql(gw, coalition.partnerToken, AWARD_BATCH, { inputs }).then(
      (r) => r,
      (e: Error) => e,
    );
    await until("the bulk earn's first chunk committed", async () => (await bulkCommitted()) > 0);
    await services.kill();
    const [bulkAnswer] = await Promise.all([bulk, burst]);
    const bulkBefore = await bulkCommitted();
    expect(bulkAnswer, "the bulk call was cut off by the crash").toBeInstanceOf(Error);
    expect(bulkBefore).toBeLessThan(BULK);
    expect(bulkBefore % 500, "chunks commit whole").toBe(0);
    expect(await burstCommitted()).toBeLessThan(requests.length);
    await expectVerified();
    await services.restart();

    const again = ok(await gql(gw, coalition.partnerToken, AWARD_BATCH, { inputs })).awardPointsBatch;
    expect(again).toEqual({ accepted: BULK - bulkBefore, replayed: bulkBefore, rejected: [] });
    expect(await bulkCommitted()).toBe(BULK);
    const third = ok(await gql(gw, coalition.partnerToken, AWARD_BATCH, { inputs })).awardPointsBatch;
    expect(third).toEqual({ accepted: 0, replayed: BULK, rejected: [] });
    for (const [k, q] of requests.entries()) {
      const id = ok(await gql(gw, q.token, q.query, q.vars))[q.field].id as string;
      if (first.has(k)) expect(id, `request ${k} answered before the crash`).toBe(first.get(k));
    }
    expect(await burstCommitted()).toBe(requests.length);
    await expectVerified();
  });

  test("a settlement run killed halfway through its compute leaves no run; re-sent, it is created once", async () => {
    const periodEnd = new Date();
    const vars = { s: new Date(testStart.getTime() - 3_600_000).toISOString(), e: periodEnd.toISOString() };
    const CREATE = `mutation($s: DateTime!, $e: DateTime!) { createSettlementRun(periodStart: $s, periodEnd: $e) { id status } }`;
    const block = await blockSettlementMidway();
    try {
      const call = gql(gw, adminToken, CREATE, vars).catch((e: Error) => e);
      await block.waiting();
      await services.kill(["points"]); // the process computing; the gateway answers for it
      const answer = await call;
      expect(answer instanceof Error || Boolean(answer.errors?.length)).toBe(true);
    } finally {
      await block.release();
    }
    // The killed process's session rolls back once it finds its client gone.
    await until("the orphaned compute rolled back", async () => (await count(client, `SELECT count(*) AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'SettlementRun'`)) === 0);
    expect(await count(client, `SELECT count(*) AS n FROM "points"."SettlementRun"`)).toBe(0);
    await expectVerified();
    await services.restart(["points"]);

    const run = ok(await gql(gw, adminToken, CREATE, vars)).createSettlementRun;
    expect(run.status).toBe("DRAFT");
    expect(await count(client, `SELECT count(*) AS n FROM "points"."SettlementRun"`)).toBe(1);
    expect(await count(client, `SELECT count(*) AS n FROM "points"."SettlementStatement" WHERE "runId" = $1::uuid`, run.id)).toBeGreaterThan(0);
    runId = run.id;
    await expectVerified();
  });

  test("its approval killed halfway leaves a draft; re-sent, it approves once (a third time: PERIOD_CLOSED)", async () => {
    const APPROVE = `mutation($id: ID!) { approveSettlementRun(id: $id) { id status } }`;
    const block = await blockSettlementMidway();
    try {
      const call = gql(gw, adminToken, APPROVE, { id: runId }).catch((e: Error) => e);
      await block.waiting();
      await services.kill(["points"]); // the process computing; the gateway answers for it
      const answer = await call;
      expect(answer instanceof Error || Boolean(answer.errors?.length)).toBe(true);
    } finally {
      await block.release();
    }
    await until("the orphaned approval rolled back", async () => (await count(client, `SELECT count(*) AS n FROM pg_locks l JOIN pg_class c ON c.oid = l.relation WHERE c.relname = 'SettlementRun'`)) === 0);
    expect(await count(client, `SELECT count(*) AS n FROM "points"."SettlementRun" WHERE status = 'DRAFT' AND id = $1::uuid`, runId)).toBe(1);
    await expectVerified();
    await services.restart(["points"]);

    expect(ok(await gql(gw, adminToken, APPROVE, { id: runId })).approveSettlementRun).toEqual({ id: runId, status: "APPROVED" });
    const again = await gql(gw, adminToken, APPROVE, { id: runId });
    expect(again.errors?.map((e) => e.extensions?.code)).toEqual(["PERIOD_CLOSED"]);
    expect(await count(client, `SELECT count(*) AS n FROM "points"."SettlementRun" WHERE status = 'APPROVED'`)).toBe(1);
    await expectVerified();
  });

  test("the outboxes deliver every event exactly once to each consumer: one points.activity per earn and redemption, each in both consumers' inboxes once", async () => {
    await outboxesDrained(client);
    const writes = await count(client, `SELECT count(*) AS n FROM "points"."LedgerTransaction" WHERE kind IN ('EARN', 'REDEEM')`);
    const activity = await count(client, `SELECT count(*) AS n FROM "points"."OutboxEvent" WHERE type = 'points.activity'`);
    expect(activity).toBe(writes);
    for (const consumer of ["member", "partner"]) {
      const applied = await count(client, `SELECT count(*) AS n FROM "${consumer}"."InboxEvent" i WHERE i.type = 'points.activity' AND EXISTS (SELECT 1 FROM "points"."OutboxEvent" o WHERE o.id = i."eventId")`);
      expect(applied, `${consumer} applied each points.activity once`).toBe(writes);
    }
    await expectVerified();
  });

  test("npm run cli -- ledger verify: exit 0 on this database; after a corruption, exit 1 naming the check and the account", async () => {
    const run = promisify(execFile);
    const cli = () =>
      run("npx", ["tsx", "scripts/cli.ts", "ledger", "verify"], { env: { ...process.env, DATABASE_URL: db.url, HUB_LOG_LEVEL: "silent" }, timeout: 120_000 }).then(
        (r) => ({ code: 0, out: r.stdout }),
        (e: { code?: number; stdout?: string }) => ({ code: e.code ?? 1, out: e.stdout ?? "" }),
      );
    const clean = await cli();
    expect(clean.out).toContain("no violations");
    expect(clean.code).toBe(0);
    const [wallet] = await client.$queryRawUnsafe<{ id: bigint }[]>(`SELECT id FROM "points"."LedgerAccount" WHERE code = $1`, `wallet:${coalition.memberIds[0]}`);
    await client.$executeRawUnsafe(`UPDATE "points"."LedgerAccount" SET balance = balance + 1 WHERE id = $1`, wallet!.id);
    const broken = await cli();
    expect(broken.code).toBe(1);
    expect(broken.out).toContain(`ACCOUNT_BALANCE ${wallet!.id}:`);
    expect(broken.out).toContain(`WALLET_LOTS ${wallet!.id}:`);
  });
});
