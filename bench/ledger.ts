// `npm run bench:ledger`: ledger throughput on the local PostgreSQL (DATABASE_URL, default
// postgresql://postgres@127.0.0.1:5432/postgres). Prints, in one run:
//  1. pgbench tpcb-like tps on a scratch database of the same server (the physical reference),
//  2. single awardPoints/s through the service layer at 32 concurrent clients, with p50/p99,
//  3. bulk-earn items/s (awardPointsBatch, 5,000 items per call, committed 500 per transaction),
//  4. single awardPoints/s through the gateway (the whole hub in this process, a partner token,
//     32 concurrent HTTP clients) with p50/p99, and bulk earn through the gateway
//     (`benchGatewayEarn`; BENCH_GATEWAY=0 skips it).
// Uses scratch databases (created and dropped here); never touches the configured database's data.
import { execFileSync } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import autocannon from "autocannon";
import { startHub } from "../scripts/hub.ts";
import { usePrisma as useMemberPrisma } from "../subgraphs/member/src/db.ts";
import { enrollMembers } from "../subgraphs/member/src/services/members.ts";
import { usePrisma as usePartnerPrisma } from "../subgraphs/partner/src/db.ts";
import { createApiClientWithSecret } from "../subgraphs/partner/src/services/api-clients.ts";
import { registerPartner } from "../subgraphs/partner/src/services/partners.ts";
import { migrate, openDatabase } from "../lib/db.ts";
import type { Principal } from "../lib/principal.ts";
import { prisma, usePrisma } from "../subgraphs/points/src/db.ts";
import { awardPoints } from "../subgraphs/points/src/earning/award.ts";
import { awardPointsBatch } from "../subgraphs/points/src/earning/bulk.ts";
import { setEarnGroupCommit } from "../subgraphs/points/src/earning/group-commit.ts";
import { applyEvent } from "../lib/events/inbox.ts";
import { eventConsumer } from "../subgraphs/points/src/events.ts";
import { type CeilingFigures, runCeilingBench } from "./ceiling.ts";
import { startServices, adminSql } from "./processes.ts";

const BASE = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 32);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const PARTNERS = Number(process.env.BENCH_PARTNERS ?? 1);
const MEMBERS = 2_000;
/**
 * When the bench's members joined, in days before now (BENCH_JOINED_DAYS_AGO, default 0: they join
 * now). Joined now, each member's first purchase pays the classic program's welcome bonus (one more
 * ledger transaction for 2,000 of the single phase's earns); 120 days ago, past the 3-month window,
 * the bonus rules are evaluated on every earn and none is paid: the cost of the rule evaluation alone.
 */
const JOINED_DAYS_AGO = Number(process.env.BENCH_JOINED_DAYS_AGO ?? 0);

const urlFor = (db: string) => {
  const u = new URL(BASE);
  u.pathname = `/${db}`;
  return u.toString();
};

const admin = (sql: string) => adminSql(sql, BASE);

function pgbench(db: string): number {
  const u = new URL(urlFor(db));
  const args = ["-h", u.hostname, "-p", u.port || "5432", "-U", decodeURIComponent(u.username || "postgres")];
  execFileSync("pgbench", [...args, "-i", "-s", "10", "-q", db], { stdio: "ignore" });
  const out = execFileSync("pgbench", [...args, "-c", "8", "-j", "2", "-T", String(SECONDS), "-b", "tpcb-like", db], { encoding: "utf8" });
  return Number(/tps = ([\d.]+)/.exec(out)?.[1] ?? NaN);
}

const pct = (xs: number[], p: number) => xs[Math.min(xs.length - 1, Math.floor((p / 100) * xs.length))] ?? NaN;

export interface EarnFigures {
  perSecond: number;
  p50: number;
  p99: number;
  earns: number;
}
export interface LedgerFigures {
  clients: number;
  seconds: number;
  pgbenchTps: number;
  /** Single awardPoints at the service layer: group commit (the default), and one transaction per earn. */
  service?: { grouped: EarnFigures; ungrouped: EarnFigures; bulkItemsPerSecond: number; bulkFloorItemsPerSecond?: number };
  /** Through the gateway, per arrangement ("in-process" | "processes"). */
  gateway: Record<string, EarnFigures & { bulkItemsPerSecond: number }>;
  /** Our gateway alone, in front of a subgraph that costs nothing (bench/ceiling.ts). */
  ceiling?: CeilingFigures;
}

/**
 * The physical floor of bulk earn on this schema: the rows one bulk item writes (a transaction, its
 * two postings, its lot, its outbox event) inserted by one bare statement per 500 items, two
 * transactions at once like awardPointsBatch, with the schema's indexes, constraints and triggers
 * but nothing read, locked or computed (no idempotency lookup, no balances, no tiers). Bulk earn
 * cannot beat this; 20,000 items as in the bulk phase. Writes balanced postings but moves no balance.
 */
async function bulkFloor(partnerId: string, members: string[]): Promise<number> {
  const accounts = new Map((await prisma().$queryRaw<{ code: string; id: bigint }[]>`SELECT code, id FROM "points"."LedgerAccount" WHERE code LIKE 'wallet:%' OR code LIKE 'issuance:%'`).map((r) => [r.code, r.id]));
  const issuance = [...accounts].find(([c]) => c.startsWith("issuance:"))![1];
  const chunks = Array.from({ length: 40 }, (_, c) => Array.from({ length: 500 }, (_, i) => ({ id: randomUUID(), member: members[(c * 500 + i) % members.length]!, points: 10 + (i % 90), key: `floor-${c}-${i}` })));
  const at = new Date();
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    [0, 1].map(async () => {
      while (next < chunks.length) {
        const items = chunks[next++]!;
        await prisma().$transaction(
          async (tx) => {
            await tx.$executeRaw`
            WITH t AS (
              INSERT INTO "points"."LedgerTransaction" (id, kind, "memberId", "partnerId", "memberPoints", "balanceAfter", "idempotencyScope", "idempotencyKey", "requestHash", "createdBy", "postedAt")
              SELECT id, 'EARN', m, ${partnerId}::uuid, p, p, 'floor', k, 'h', 'bench', ${at}
              FROM unnest(${items.map((i) => i.id)}::uuid[], ${items.map((i) => i.member)}::uuid[], ${items.map((i) => i.points)}::bigint[], ${items.map((i) => i.key)}::text[]) AS t(id, m, p, k)
              RETURNING id, "memberId", "memberPoints"
            ), postings AS (
              INSERT INTO "points"."Posting" ("transactionId", "accountId", amount, "postedAt")
              SELECT u.t, u.a, u.n, ${at} FROM unnest(${items.flatMap((i) => [i.id, i.id])}::uuid[], ${items.flatMap((i) => [accounts.get(`wallet:${i.member}`)!, issuance])}::bigint[], ${items.flatMap((i) => [i.points, -i.points])}::bigint[]) AS u(t, a, n)
              RETURNING 1
            ), lots AS (
              INSERT INTO "points"."Lot" ("memberId", "issuerPartnerId", "sourceTransactionId", points, remaining, "earnedAt", "expiresAt")
              SELECT t."memberId", ${partnerId}::uuid, t.id, t."memberPoints", t."memberPoints", ${at}, NULL FROM t
              RETURNING 1
            )
            INSERT INTO "points"."OutboxEvent" (id, type, payload)
            SELECT gen_random_uuid(), 'bench.floor', jsonb_build_object('memberId', t."memberId", 'points', t."memberPoints") FROM t`;
          },
          { timeout: 60_000 },
        );
      }
    }),
  );
  const items = chunks.length * 500;
  // The floor's events are not for any consumer (the service-layer bench runs no relay).
  await prisma().$executeRaw`DELETE FROM "points"."OutboxEvent" WHERE type = 'bench.floor'`;
  return items / ((performance.now() - t0) / 1000);
}

async function main(): Promise<{ tps: number; service: NonNullable<LedgerFigures["service"]> }> {
  const tag = `${process.pid}_${Date.now()}`;
  const pgb = `bench_pgbench_${tag}`;
  const ledger = `bench_ledger_${tag}`;
  await admin(`CREATE DATABASE "${pgb}"`);
  let tps = NaN;
  try {
    tps = pgbench(pgb);
  } finally {
    await admin(`DROP DATABASE IF EXISTS "${pgb}" WITH (FORCE)`);
  }
  console.log(`pgbench tpcb-like (8 clients, ${SECONDS}s, scale 10): ${tps.toFixed(0)} tps`);

  await admin(`CREATE DATABASE "${ledger}"`);
  const db = await openDatabase({ url: urlFor(ledger), poolSize: CLIENTS + 4 });
  try {
    await migrate(db);
    usePrisma(db.client());
    const partners = Array.from({ length: PARTNERS }, () => randomUUID());
    const members = Array.from({ length: MEMBERS }, () => randomUUID());
    for (const p of partners) {
      await prisma().$transaction((tx) => applyEvent(eventConsumer, tx, { id: randomUUID(), type: "partner.registered", payload: { partnerId: p, name: "bench", earnRate: "1" }, createdAt: new Date().toISOString() }));
    }
    // Open wallets and links as the member.enrolled / member.linked events would.
    for (let i = 0; i < members.length; i += 200) {
      await prisma().$transaction(
        async (tx) => {
          for (const m of members.slice(i, i + 200)) {
            const joinedAt = new Date(Date.now() - JOINED_DAYS_AGO * 86_400_000).toISOString();
            await applyEvent(eventConsumer, tx, { id: randomUUID(), type: "member.enrolled", payload: { memberId: m, partnerId: partners[0], joinedAt }, createdAt: new Date().toISOString() });
            for (const p of partners.slice(1)) {
              await applyEvent(eventConsumer, tx, { id: randomUUID(), type: "member.linked", payload: { memberId: m, partnerId: p }, createdAt: new Date().toISOString() });
            }
          }
        },
        { timeout: 120_000, maxWait: 60_000 },
      );
    }
    const actor = (p: string): Principal => ({ sub: "bench", role: "PARTNER", partnerId: p, memberId: null, scope: "", purpose: "ACCOUNT_SERVICING" });

    // Warm-up.
    for (let i = 0; i < 50; i++) await awardPoints(actor(partners[0]!), { memberId: members[i]!, points: 10, idempotencyKey: randomUUID() });

    // Single earns: with group commit (the default) and, for comparison, one transaction per earn.
    const service: Record<string, EarnFigures> = {};
    for (const grouped of [true, false]) {
      setEarnGroupCommit(grouped);
      const latencies: number[] = [];
      const deadline = Date.now() + SECONDS * 1000;
      let n = 0;
      const t0 = performance.now();
      await Promise.all(
        Array.from({ length: CLIENTS }, async (_, c) => {
          while (Date.now() < deadline) {
            const i = n++;
            const s = performance.now();
            await awardPoints(actor(partners[i % partners.length]!), { memberId: members[(i * 7 + c) % members.length]!, purchaseAmount: "12.50", idempotencyKey: `s-${grouped}-${c}-${i}` });
            latencies.push(performance.now() - s);
          }
        }),
      );
      const secs = (performance.now() - t0) / 1000;
      latencies.sort((a, b) => a - b);
      const single = latencies.length / secs;
      service[grouped ? "grouped" : "ungrouped"] = { perSecond: single, p50: pct(latencies, 50), p99: pct(latencies, 99), earns: latencies.length };
      console.log(
        `single awardPoints (service layer, ${grouped ? "group commit" : "one transaction per earn"}, ${CLIENTS} clients, ${PARTNERS} partner(s)): ${single.toFixed(0)}/s  p50 ${pct(latencies, 50).toFixed(1)} ms  p99 ${pct(latencies, 99).toFixed(1)} ms  (${latencies.length} earns; ${(single / tps).toFixed(2)} × pgbench)`,
      );
    }
    setEarnGroupCommit(true);

    // Bulk: 4 calls of 5,000 items.
    const calls = 4;
    const b0 = performance.now();
    let items = 0;
    for (let k = 0; k < calls; k++) {
      const inputs = Array.from({ length: 5_000 }, (_, i) => ({ memberId: members[(i + k * 13) % members.length]!, points: 10 + (i % 90), idempotencyKey: `b-${k}-${i}` }));
      const r = await awardPointsBatch(actor(partners[0]!), inputs);
      if (r.rejected.length) throw new Error(`bulk rejected ${r.rejected.length}: ${JSON.stringify(r.rejected.slice(0, 3))}`);
      items += r.accepted;
    }
    const bulk = items / ((performance.now() - b0) / 1000);
    console.log(`bulk earn (awardPointsBatch, 5,000 items/call, 500 per transaction): ${bulk.toFixed(0)} items/s  (${(bulk / tps).toFixed(2)} × pgbench)`);
    const [{ total }] = await prisma().$queryRaw<{ total: string }[]>`SELECT coalesce(sum(balance), 0)::text AS total FROM "points"."LedgerAccount"`;
    console.log(`ledger check: sum of all account balances = ${total}`);
    const floor = await bulkFloor(partners[0]!, members);
    console.log(
      `bulk floor (the rows a bulk item writes, bare INSERTs, 500 per transaction, 2 at once, nothing read or checked in code): ${floor.toFixed(0)} items/s  (${(floor / tps).toFixed(2)} × pgbench; bulk earn reaches ${(bulk / floor).toFixed(2)} of it)`,
    );
    return { tps, service: { grouped: service.grouped!, ungrouped: service.ungrouped!, bulkItemsPerSecond: bulk, bulkFloorItemsPerSecond: floor } };
  } finally {
    await db.close();
    await admin(`DROP DATABASE IF EXISTS "${ledger}" WITH (FORCE)`);
  }
}

/**
 * Single and bulk earns through the gateway, as a partner's servers would send them: the whole hub
 * (gateway, three subgraphs, relays) in this process over a scratch database, one partner with
 * `members` linked members, a client-credentials token, `clients` concurrent HTTP clients for
 * `seconds`. Returns earns/s with p50/p99 in ms, and bulk items/s (awardPointsBatch of 1,000).
 */
export async function benchGatewayEarn(opts: {
  baseUrl: string;
  clients: number;
  seconds: number;
  members?: number;
  /** "in-process": startHub (npm start's arrangement); "processes": one process per service (docker-compose's). */
  mode?: "in-process" | "processes";
}): Promise<{ perSecond: number; p50: number; p99: number; earns: number; bulkItemsPerSecond: number }> {
  const u = new URL(opts.baseUrl);
  const name = `bench_hub_${process.pid}_${Date.now()}`;
  u.pathname = `/${name}`;
  await admin(`CREATE DATABASE "${name}"`);
  const dataDir = mkdtempSync(path.join(tmpdir(), "bench-hub-"));
  const db = await openDatabase({ url: u.toString(), poolSize: opts.clients + 8 });
  let hub: { gatewayUrl: string; baseUrl: string; flushEvents(): Promise<void>; close(): Promise<void> } | undefined;
  try {
    await migrate(db);
    const secretHex = randomBytes(32).toString("hex");
    if (opts.mode === "processes") hub = await startHubProcesses(u.toString(), secretHex, dataDir, db);
    else hub = await startHub({ db, internalSecret: secretHex, dataDir, jobs: false });
    const adminActor: Principal = { sub: "bench-admin", role: "ADMIN", partnerId: null, memberId: null, scope: "", purpose: null };
    const partner = await registerPartner(adminActor, { name: "Bench Shop", category: "ECOMMERCE", issuePrice: "0.015", redemptionRate: "0.01", earnRate: "1" });
    const partnerActor: Principal = { sub: "bench-partner", role: "PARTNER", partnerId: partner.id, memberId: null, scope: "", purpose: "ACCOUNT_SERVICING" };
    const rows = await enrollMembers(
      partnerActor,
      Array.from({ length: opts.members ?? 2_000 }, (_, i) => ({ email: `bench-${i}@example.com`, externalRef: `B-${i}` })),
    );
    const memberIds = rows.flatMap((r) => ("member" in r ? [r.member.id] : []));
    const secret = randomBytes(24).toString("hex");
    await createApiClientWithSecret({ clientId: "bench-partner", secret, role: "PARTNER", partnerId: partner.id });
    await hub.flushEvents();
    const tokenRes = await fetch(`${hub.baseUrl}/oauth/token`, {
      method: "POST",
      body: new URLSearchParams({ grant_type: "client_credentials", client_id: "bench-partner", client_secret: secret }),
    });
    const { access_token: token } = (await tokenRes.json()) as { access_token: string };
    const gql = async (query: string, variables: Record<string, unknown>) => {
      const res = await fetch(hub!.gatewayUrl, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
        body: JSON.stringify({ query, variables }),
      });
      const body = (await res.json()) as { data?: Record<string, unknown>; errors?: { message: string }[] };
      if (body.errors?.length) throw new Error(`gateway: ${body.errors[0]!.message}`);
      return body.data!;
    };
    const AWARD = `mutation Earn($input: AwardPointsInput!) { awardPoints(input: $input) { id points } }`;
    for (let i = 0; i < 20; i++) await gql(AWARD, { input: { memberId: memberIds[i], purchaseAmount: "12.50", idempotencyKey: `gw-warm-${i}` } });
    // The load generator runs in autocannon's worker thread: clients are other machines, they must
    // not share the hub's event loop.
    process.env.BENCH_MEMBER_IDS = memberIds.join(",");
    const here = path.dirname(fileURLToPath(import.meta.url));
    const result = await autocannon({
      url: hub.gatewayUrl,
      connections: opts.clients,
      duration: opts.seconds,
      workers: 1,
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      requests: [{ method: "POST", setupRequest: path.join(here, "earn-request.cjs") }],
      verifyBody: path.join(here, "earn-verify.cjs"),
    });
    const earns = result.requests.total;
    const failed = result.non2xx + result.errors + result.timeouts + result.mismatches;
    if (failed) throw new Error(`gateway earns failed: ${failed} of ${earns} (non2xx ${result.non2xx}, errors ${result.errors}, timeouts ${result.timeouts}, GraphQL errors ${result.mismatches})`);
    const BATCH = `mutation Bulk($inputs: [AwardPointsInput!]!) { awardPointsBatch(inputs: $inputs) { accepted replayed rejected { index code } } }`;
    const b0 = performance.now();
    let items = 0;
    for (let k = 0; k < 4; k++) {
      const inputs = Array.from({ length: 1_000 }, (_, i) => ({ memberId: memberIds[(i + k * 13) % memberIds.length], points: 10 + (i % 90), idempotencyKey: `gwb-${k}-${i}` }));
      const r = (await gql(BATCH, { inputs })) as { awardPointsBatch: { accepted: number; rejected: unknown[] } };
      if (r.awardPointsBatch.rejected.length) throw new Error(`bulk through the gateway rejected ${r.awardPointsBatch.rejected.length}`);
      items += r.awardPointsBatch.accepted;
    }
    const bulkItemsPerSecond = items / ((performance.now() - b0) / 1000);
    return { perSecond: earns / result.duration, p50: result.latency.p50, p99: result.latency.p99, earns, bulkItemsPerSecond };
  } finally {
    await hub?.close();
    await db.close();
    rmSync(dataDir, { recursive: true, force: true });
    await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
  }
}

// BENCH_SERVICE=0 skips pgbench and the service-layer figures (profiling the gateway path alone).
/**
 * The hub as docker-compose runs it: gateway, member, points and partner subgraphs each in its own
 * process (`tsx <service>/src/main.ts`, with their relays and jobs), over the given database. The
 * setup data is written in this process through the domain functions; flushEvents waits until the
 * points subgraph has every member link (the relays deliver them).
 */
async function startHubProcesses(url: string, secret: string, dataDir: string, db: Awaited<ReturnType<typeof openDatabase>>) {
  const services = await startServices({ services: ["member", "points", "partner", "gateway"], databaseUrl: url, internalSecret: secret, dataDir });
  const ports = services.ports;
  // This process writes the setup data through the domain functions (their relays are the children's).
  const client = db.client();
  useMemberPrisma(client);
  usePartnerPrisma(client);
  return {
    gatewayUrl: `http://127.0.0.1:${ports.gateway}/graphql`,
    baseUrl: `http://127.0.0.1:${ports.gateway}`,
    async flushEvents() {
      for (let i = 0; i < 600; i++) {
        const [pending] = await client.$queryRaw<{ n: number }[]>`
          SELECT (SELECT count(*) FROM "member"."OutboxEvent" WHERE "deliveredAt" IS NULL) + (SELECT count(*) FROM "partner"."OutboxEvent" WHERE "deliveredAt" IS NULL) AS n`;
        if (Number(pending!.n) === 0) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error("events were not delivered within 60 s");
    },
    async close() {
      // Gateway first; then let the relays finish (points.activity goes to member AND partner, and
      // partner events to points: no stopping order leaves every relay its peers), at most 15 s.
      await services.stop(["gateway"]);
      for (let i = 0; i < 150; i++) {
        const [pending] = await client.$queryRaw<{ n: number }[]>`
          SELECT (SELECT count(*) FROM "member"."OutboxEvent" WHERE "deliveredAt" IS NULL) + (SELECT count(*) FROM "points"."OutboxEvent" WHERE "deliveredAt" IS NULL)
               + (SELECT count(*) FROM "partner"."OutboxEvent" WHERE "deliveredAt" IS NULL) AS n`;
        if (Number(pending!.n) === 0) break;
        await new Promise((r) => setTimeout(r, 100));
      }
      await services.stop(["partner", "points", "member"]);
    },
  };
}

/**
 * The whole ledger bench (what `npm run bench:ledger` prints), returning its figures:
 * BENCH_SERVICE=0 skips pgbench and the service layer, BENCH_GATEWAY=0 the gateway,
 * BENCH_GATEWAY_MODES=in-process|processes picks the gateway arrangement(s) (default: both).
 */
export async function runLedgerBench(): Promise<LedgerFigures> {
  const figures: LedgerFigures = { clients: CLIENTS, seconds: SECONDS, pgbenchTps: NaN, gateway: {} };
  if (process.env.BENCH_SERVICE !== "0") {
    const m = await main();
    figures.pgbenchTps = m.tps;
    figures.service = m.service;
  }
  const tps = figures.pgbenchTps;
  if (process.env.BENCH_GATEWAY !== "0") {
    figures.ceiling = await runCeilingBench();
    console.log(`  (the gateway alone reaches ${(figures.ceiling.gateway.perSecond / tps).toFixed(2)} × pgbench: an upper bound for earns through it)`);
    const modes = (process.env.BENCH_GATEWAY_MODES ?? "in-process,processes").split(",") as ("in-process" | "processes")[];
    for (const mode of modes) {
      const g = await benchGatewayEarn({ baseUrl: BASE, clients: CLIENTS, seconds: SECONDS, mode });
      figures.gateway[mode] = { perSecond: g.perSecond, p50: g.p50, p99: g.p99, earns: g.earns, bulkItemsPerSecond: g.bulkItemsPerSecond };
      const where = mode === "in-process" ? "hub in one process" : "one process per service";
      console.log(
        `single awardPoints (through the gateway, ${where}, ${CLIENTS} clients): ${g.perSecond.toFixed(0)}/s  p50 ${g.p50.toFixed(1)} ms  p99 ${g.p99.toFixed(1)} ms  (${g.earns} earns; ${(g.perSecond / tps).toFixed(2)} × pgbench)`,
      );
      console.log(`bulk earn (through the gateway, ${where}, awardPointsBatch of 1,000): ${g.bulkItemsPerSecond.toFixed(0)} items/s  (${(g.bulkItemsPerSecond / tps).toFixed(2)} × pgbench)`);
    }
  }
  return figures;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await runLedgerBench();
  process.exit(0);
}
