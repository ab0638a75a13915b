import { randomUUID } from "node:crypto";
import { Decimal } from "decimal.js";
import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { HubError } from "../../../../lib/errors.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { adminPrincipal, partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { prisma, usePrisma } from "../db.ts";
import "../testing/verify-after-each.ts";
import { applyEvents, enrolled, linked, registered } from "../testing/harness.ts";
import { earn, rates, redeem } from "../testing/ledger-ops.ts";
import { awardPointsBatch } from "../earning/bulk.ts";
import { reverseTransaction } from "../redemption/redeem.ts";
import { lineAmount } from "./pricing.ts";
import { approveSettlementRun, createSettlementRun } from "./runs.ts";

// Property-based settlement tests on the real ledger (PostgreSQL with DATABASE_URL, else PGlite).
let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
});
afterAll(() => db?.close());

const admin = adminPrincipal();

// Random ledgers, random rate histories, runs approved one after another with late
// postings in between.
// ---------------------------------------------------------------------------------------------

type Op =
  | { op: "earn"; day: number; p: number; m: number; points: number }
  | { op: "bulk"; day: number; p: number; m: number; items: number[] }
  | { op: "redeem"; day: number; p: number; m: number; points: number }
  | { op: "reverse"; day: number; t: number; part: number }
  | { op: "rate"; day: number; p: number; issue: number; redeem: number };

const rateStr = (micros: number) => new Decimal(micros).div(1_000_000).toFixed();
const dayArb = fc.integer({ min: 0, max: 59 });
// Amounts reach the 64-bit range (issue 14 §2): up to the per-operation maximum of 100,000,000, and
// bulk earns of up to 30 of them, so statements, lines, flows and liabilities pass 2^31.
const MAX = 100_000_000;
const pointsArb = (small: number) => fc.oneof({ arbitrary: fc.integer({ min: 1, max: small }), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: MAX }), weight: 1 });
const opArb: fc.Arbitrary<Op> = fc.oneof(
  { arbitrary: fc.record({ op: fc.constant("earn" as const), day: dayArb, p: fc.nat(1), m: fc.nat(1), points: pointsArb(5_000) }), weight: 4 },
  { arbitrary: fc.record({ op: fc.constant("bulk" as const), day: dayArb, p: fc.nat(1), m: fc.nat(1), items: fc.array(fc.integer({ min: 1, max: MAX }), { minLength: 1, maxLength: 30 }) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("redeem" as const), day: dayArb, p: fc.nat(1), m: fc.nat(1), points: pointsArb(3_000) }), weight: 3 },
  { arbitrary: fc.record({ op: fc.constant("reverse" as const), day: dayArb, t: fc.nat(20), part: fc.double({ min: 0.05, max: 1, noNaN: true }) }), weight: 1 },
  { arbitrary: fc.record({ op: fc.constant("rate" as const), day: dayArb, p: fc.nat(1), issue: fc.integer({ min: 1, max: 99_999 }), redeem: fc.integer({ min: 0, max: 99_999 }) }), weight: 1 },
);

// One time unit = one hour; iterations follow each other in time.
const HOUR = 3_600_000;
const ph = (base: number, hours: number) => new Date(base + hours * HOUR);
let clock = Date.UTC(2025, 5, 1);

test("property: positions + margin = 0; every posting in exactly one approved run; totals = ledger sums; late postings carried forward", async () => {
  await fc.assert(
    fc.asyncProperty(
      fc.array(opArb, { minLength: 3, maxLength: 18 }),
      fc.uniqueArray(fc.integer({ min: 5, max: 55 }), { minLength: 1, maxLength: 3 }),
      fc.array(fc.record({ afterCut: fc.nat(2), day: dayArb, p: fc.nat(1), m: fc.nat(1), points: fc.integer({ min: 1, max: 900 }) }), { maxLength: 4 }),
      async (ops, cutDays, lateEarns) => {
        const base = clock;
        clock += 70 * HOUR; // every iteration in its own stretch of time (hours), after the last approved run
        const P = [randomUUID(), randomUUID()];
        const M = [randomUUID(), randomUUID()];
        await applyEvents(registered(P[0]!), registered(P[1]!), rates(P[0]!, "0.01", "0.009", ph(base, 0)), rates(P[1]!, "0.02", "0.015", ph(base, 0)));
        await applyEvents(...M.flatMap((m) => [enrolled(m, P[0]!), linked(m, P[1]!)]));
        const cuts = [...cutDays].sort((x, y) => x - y);
        const byDay = [...ops].sort((x, y) => x.day - y.day);
        const txs: { id: string; partnerId: string }[] = [];
        let late = 0;
        const apply = async (o: Op) => {
          const when = ph(base, o.day + 0.5);
          try {
            if (o.op === "earn") txs.push({ id: (await earn(P[o.p]!, M[o.m]!, o.points, when)).id, partnerId: P[o.p]! });
            else if (o.op === "bulk") {
              const items = o.items.map((points) => ({ memberId: M[o.m]!, points, idempotencyKey: randomUUID() }));
              const r = await awardPointsBatch(partnerPrincipal(P[o.p]!), items, { now: when, postedAt: when });
              expect(r.rejected).toEqual([]);
              txs.push(...r.transactions.map((t) => ({ id: t.id, partnerId: P[o.p]! })));
            } else if (o.op === "redeem") txs.push({ id: (await redeem(P[o.p]!, M[o.m]!, o.points, when)).id, partnerId: P[o.p]! });
            else if (o.op === "rate") await applyEvents(rates(P[o.p]!, rateStr(o.issue), rateStr(o.redeem), when));
            else if (txs.length) {
              const t = txs[o.t % txs.length]!;
              const orig = await prisma().ledgerTransaction.findUniqueOrThrow({ where: { id: t.id } });
              const points = Math.max(1, Math.floor(Math.abs(Number(orig.memberPoints)) * o.part));
              await reverseTransaction(partnerPrincipal(t.partnerId), { transactionId: t.id, points, idempotencyKey: randomUUID(), reason: "r" }, { now: when, postedAt: when });
            }
          } catch (e) {
            if (!(e instanceof HubError) || !["INSUFFICIENT_POINTS", "BAD_USER_INPUT"].includes(e.extensions.code as string)) throw e;
          }
        };
        // Walk the days: post, close each cut with an approved run, then post late earns dated before the cut.
        let start = ph(base, 0);
        let i = 0;
        const runIds: string[] = [];
        for (const [k, cut] of [...cuts, 60].entries()) {
          while (i < byDay.length && byDay[i]!.day < cut) await apply(byDay[i++]!);
          const run = await createSettlementRun(admin, { periodStart: start, periodEnd: ph(base, cut) }, { now: ph(base, cut) });
          await approveSettlementRun(admin, run.id, { now: ph(base, cut) });
          const r = await prisma().settlementRun.findUniqueOrThrow({ where: { id: run.id } });
          runIds.push(run.id);
          expect(Number(r.carriedInPostings)).toBe(k === 0 ? 0 : late);
          late = 0;
          if (k < cuts.length) {
            for (const l of lateEarns.filter((x) => x.afterCut === k)) {
              await earn(P[l.p]!, M[l.m]!, l.points, ph(base, Math.min(l.day, cut - 1) + 0.25));
              late++;
            }
          }
          start = ph(base, cut);
        }

        // 1. Positions + margin = 0 exactly; line amounts = half-even(points × rate); statement sums.
        for (const runId of runIds) {
          const run = await prisma().settlementRun.findUniqueOrThrow({ where: { id: runId }, include: { statements: true, lines: true } });
          let sum = new Decimal(run.operatorMargin.toString());
          for (const s of run.statements) {
            sum = sum.plus(s.netPosition.toString());
            const mine = run.lines.filter((l) => l.partnerId === s.partnerId);
            const due = mine.filter((l) => l.side === "ISSUANCE").reduce((d, l) => d.plus(l.amount.toString()), new Decimal(0));
            const owed = mine.filter((l) => l.side === "REDEMPTION").reduce((d, l) => d.plus(l.amount.toString()), new Decimal(0));
            expect(due.eq(s.amountDue.toString())).toBe(true);
            expect(owed.eq(s.amountOwed.toString())).toBe(true);
            expect(owed.minus(due).eq(s.netPosition.toString())).toBe(true);
          }
          expect(sum.isZero()).toBe(true);
          for (const l of run.lines) expect(lineAmount(l.points, l.rate.toString(), 2).eq(l.amount.toString())).toBe(true);
        }

        // 2. Every posting on these partners' accounts is covered by exactly one approved run.
        const multiplicity = await prisma().$queryRaw<{ n: number; postings: number }[]>`
          SELECT c.n::int, count(*)::int AS postings FROM (
            SELECT p.id, (SELECT count(*) FROM "points"."SettlementRun" r
              WHERE r.status = 'APPROVED' AND p."postedAt" < r."periodEnd" AND p.id <= r."watermarkPostingId"
                AND NOT (r."prevPeriodEnd" IS NOT NULL AND p."postedAt" < r."prevPeriodEnd" AND p.id <= r."prevWatermarkPostingId")) AS n
            FROM "points"."Posting" p JOIN "points"."LedgerAccount" a ON a.id = p."accountId"
            WHERE a."partnerId" = ANY(${P}::uuid[])) c GROUP BY 1`;
        for (const x of multiplicity) expect(x.n).toBe(1);

        // 3. Statement totals over the runs = the ledger's sums per partner, side and kind.
        const ledger = await prisma().$queryRaw<{ partnerId: string; side: string; kind: string; points: bigint }[]>`
          SELECT a."partnerId", CASE a.kind WHEN 'PARTNER_ISSUANCE' THEN 'ISSUANCE' ELSE 'REDEMPTION' END AS side, t.kind::text AS kind,
            (CASE a.kind WHEN 'PARTNER_ISSUANCE' THEN -sum(p.amount) ELSE sum(p.amount) END)::bigint AS points
          FROM "points"."Posting" p JOIN "points"."LedgerAccount" a ON a.id = p."accountId" JOIN "points"."LedgerTransaction" t ON t.id = p."transactionId"
          WHERE a."partnerId" = ANY(${P}::uuid[]) GROUP BY a."partnerId", a.kind, t.kind`;
        const lines = await prisma().settlementLine.findMany({ where: { runId: { in: runIds } } });
        const settled = new Map<string, bigint>();
        for (const l of lines) settled.set(`${l.partnerId}|${l.side}|${l.kind}`, (settled.get(`${l.partnerId}|${l.side}|${l.kind}`) ?? 0n) + l.points);
        const fromLedger = new Map(ledger.map((r) => [`${r.partnerId}|${r.side}|${r.kind}`, r.points]));
        for (const [k, v] of fromLedger) expect(settled.get(k) ?? 0n).toBe(v);
        for (const [k, v] of settled) expect(fromLedger.get(k) ?? 0n).toBe(v);
      },
    ),
    { numRuns: Number(process.env.SETTLEMENT_PROPERTY_RUNS ?? 25) },
  );
}, 240_000);
