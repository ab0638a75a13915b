import { randomUUID } from "node:crypto";
import { setTimeout as sleep } from "node:timers/promises";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { adminPrincipal, partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { prisma, usePrisma } from "../db.ts";
import "../testing/verify-after-each.ts";
import { applyEvents, enrolled, registered } from "../testing/harness.ts";
import { awardPoints } from "../earning/award.ts";
import { issuanceCode, post, walletCode } from "../ledger/ledger.ts";
import { approveSettlementRun, createSettlementRun } from "./runs.ts";

// Settlement under real concurrency (PostgreSQL with DATABASE_URL; on PGlite the same calls run one
// at a time and must give the same answers).
let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
});
afterAll(() => db?.close());

const admin = adminPrincipal();
const DAY = 86_400_000;
const codeOf = (r: PromiseSettledResult<unknown>) => (r.status === "rejected" ? ((r.reason as { extensions?: { code?: string } }).extensions?.code ?? String(r.reason)) : "OK");

test("parallel approvals: the same run approves once; of two overlapping drafts only one is approved", async () => {
  const base = Date.now() - 40 * DAY; // before the next test's periods
  const a = await createSettlementRun(admin, { periodStart: new Date(base), periodEnd: new Date(base + DAY) });
  const same = await Promise.allSettled(Array.from({ length: 8 }, () => approveSettlementRun(admin, a.id)));
  expect(same.map(codeOf).sort()).toEqual(["OK", ...Array(7).fill("PERIOD_CLOSED")]);

  const x = await createSettlementRun(admin, { periodStart: new Date(base + DAY), periodEnd: new Date(base + 3 * DAY) });
  const y = await createSettlementRun(admin, { periodStart: new Date(base + 2 * DAY), periodEnd: new Date(base + 4 * DAY) });
  const both = await Promise.allSettled([approveSettlementRun(admin, x.id), approveSettlementRun(admin, y.id)]);
  expect(both.map(codeOf).sort()).toEqual(["OK", "PERIOD_CLOSED"]);
});

test("a posting in flight while a run is approved is covered exactly once (by this run or the next), with earns racing the approval", async () => {
  const A = randomUUID();
  const m = randomUUID();
  const B = randomUUID();
  const m2 = randomUUID(); // the racing earns go to another wallet at another partner: the slow transaction's row locks would serialise them
  const start = new Date(Date.now() - 10 * DAY);
  await applyEvents(
    registered(A),
    registered(B),
    { type: "partner.rates_changed", payload: { partnerId: B, issuePrice: "0.02", redemptionRate: "0.01", effectiveFrom: start.toISOString() } },
    { type: "partner.rates_changed", payload: { partnerId: A, issuePrice: "0.01", redemptionRate: "0.01", effectiveFrom: start.toISOString() } },
    enrolled(m, A),
    enrolled(m2, B),
  );
  const periodEnd = new Date(Date.now() - DAY);
  const inPeriod = new Date(Date.now() - 2 * DAY);
  const run = await createSettlementRun(admin, { periodStart: start, periodEnd });

  // A slow transaction dated inside the period: it takes its posting ids first, then commits late.
  const slow = prisma().$transaction(
    async (tx) => {
      await post(tx, {
        kind: "EARN",
        memberId: m,
        partnerId: A,
        postings: [
          { accountCode: issuanceCode(A), amount: -7 },
          { accountCode: walletCode(m), amount: 7 },
        ],
        idempotency: { scope: `partner:${A}`, key: randomUUID(), requestHash: "slow" },
        createdBy: "test",
        postedAt: inPeriod,
        lots: { mode: "credit" },
      });
      await sleep(3_000);
    },
    { timeout: 30_000 },
  );
  await sleep(100);
  // Earns dated inside the period commit meanwhile (larger posting ids), then the approval starts.
  const earns = Array.from({ length: 40 }, (_, i) => awardPoints(partnerPrincipal(B), { memberId: m2, points: 1 + i, idempotencyKey: randomUUID() }, { postedAt: inPeriod }));
  await Promise.all(earns.slice(0, 10));
  const approval = approveSettlementRun(admin, run.id);
  await Promise.all([slow, approval, ...earns]);

  const next = await createSettlementRun(admin, { periodStart: periodEnd, periodEnd: new Date() });
  await approveSettlementRun(admin, next.id);
  const issued = async (partnerId: string) => (await prisma().settlementStatement.findMany({ where: { partnerId } })).reduce((n, s) => n + Number(s.pointsIssued), 0);
  expect(await issued(A)).toBe(7);
  expect(await issued(B)).toBe(Array.from({ length: 40 }, (_, i) => 1 + i).reduce((a, b) => a + b, 0));
  const multiplicity = await prisma().$queryRaw<{ n: number }[]>`
    SELECT (SELECT count(*) FROM "points"."SettlementRun" r
      WHERE r.status = 'APPROVED' AND p."postedAt" < r."periodEnd" AND p.id <= r."watermarkPostingId"
        AND NOT (r."prevPeriodEnd" IS NOT NULL AND p."postedAt" < r."prevPeriodEnd" AND p.id <= r."prevWatermarkPostingId"))::int AS n
    FROM "points"."Posting" p JOIN "points"."LedgerAccount" a ON a.id = p."accountId" WHERE a."partnerId" IN (${A}::uuid, ${B}::uuid)`;
  expect(multiplicity.length).toBe(41);
  for (const x of multiplicity) expect(x.n).toBe(1);
});
