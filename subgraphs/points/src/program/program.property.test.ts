import { randomUUID } from "node:crypto";
import { Decimal } from "decimal.js";
import fc from "fast-check";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { HubError } from "../../../../lib/errors.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { addMonths } from "../config.ts";
import { prisma, usePrisma } from "../db.ts";
import { awardPoints } from "../earning/award.ts";
import { awardPointsBatch } from "../earning/bulk.ts";
import { reevaluateTiers } from "../tiers/tiers.ts";
import { applyEvents, enrolled, registered } from "../testing/harness.ts";
import type { Tier } from "../../../../lib/vocabulary.ts";
import { currentTier } from "./evaluate.ts";
import { classicProgram, parseProgram, type Program, type QualificationRule } from "./model.ts";
import { setProgram } from "./service.ts";

// Property tests of the program as data (issue 16), on PostgreSQL when DATABASE_URL is set: for
// random valid programs and random purchase histories (single and bulk earns, points and purchases,
// program changes followed by the re-evaluation job), the stored tier always equals the tier
// recomputed here, independently, from the history under the version in force (sums in plain JS);
// every purchase earns floor(amount × the rate of the tier before it); and changing the program
// never changes any past transaction's points or recorded version. HUB_TIME_ZONE is UTC here.
let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
});
afterAll(() => db?.close());

const ADMIN = { sub: "property-admin", role: "ADMIN" as const, partnerId: null, memberId: null };
const DAY = 86_400_000;
const names = (s: string) => ({ en: s, "zh-Hans": s });

/** A random valid program: 2–4 tiers, a points rule on every tier above base and maybe a spend rule, thresholds ascending, rates with ≤ 2 decimals. */
const programArb: fc.Arbitrary<Program> = fc
  .record({
    n: fc.integer({ min: 2, max: 4 }),
    pointsPeriod: fc.record({ kind: fc.constantFrom("ROLLING" as const, "CALENDAR" as const), months: fc.constantFrom(3, 12) }),
    spendPeriod: fc.record({ kind: fc.constantFrom("ROLLING" as const, "CALENDAR" as const), months: fc.constantFrom(6, 12) }),
    pointSteps: fc.array(fc.integer({ min: 1, max: 3000 }), { minLength: 3, maxLength: 3 }),
    spendSteps: fc.array(fc.integer({ min: 1, max: 2000 }), { minLength: 3, maxLength: 3 }),
    withSpend: fc.array(fc.boolean(), { minLength: 3, maxLength: 3 }),
    comparisons: fc.array(fc.constantFrom("AT_LEAST" as const, "MORE_THAN" as const), { minLength: 3, maxLength: 3 }),
    rates: fc.array(fc.integer({ min: 0, max: 500 }), { minLength: 4, maxLength: 4 }),
  })
  .map((r) => {
    const codes = ["T0", "T1", "T2", "T3"].slice(0, r.n);
    const api = ["BASE", "SILVER", "GOLD", "DIAMOND"] as const;
    let pts = 0;
    let spend = 0;
    const tiers = codes.map((code, k) => {
      const rules: QualificationRule[] = [];
      if (k > 0) {
        pts += r.pointSteps[k - 1]!;
        rules.push({ metric: "POINTS", period: r.pointsPeriod, threshold: String(pts), comparison: r.comparisons[k - 1]! });
        if (r.withSpend[k - 1]) {
          spend += r.spendSteps[k - 1]!;
          rules.push({ metric: "SPEND", period: r.spendPeriod, threshold: String(spend), comparison: "AT_LEAST" });
        }
      }
      return { code, rank: k, names: names(code), apiTier: api[k]!, qualifyAnyOf: rules };
    });
    const perTier = Object.fromEntries(codes.map((c, k) => [c, new Decimal(r.rates[k]!).div(100).toFixed()]));
    return parseProgram({ ...classicProgram(), tiers, earnRates: { perTier, partners: [] }, benefits: [], retention: { keep: [] } });
  });

type Step = { kind: "points"; points: number; gapDays: number; bulk: boolean } | { kind: "purchase"; cents: number; gapDays: number; bulk: boolean } | { kind: "program"; program: Program; gapDays: number };
const stepArb: fc.Arbitrary<Step> = fc.oneof(
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("points" as const), points: fc.integer({ min: 1, max: 3000 }), gapDays: fc.integer({ min: 0, max: 150 }), bulk: fc.boolean() }) },
  { weight: 4, arbitrary: fc.record({ kind: fc.constant("purchase" as const), cents: fc.integer({ min: 1, max: 300_000 }), gapDays: fc.integer({ min: 0, max: 150 }), bulk: fc.boolean() }) },
  { weight: 1, arbitrary: fc.record({ kind: fc.constant("program" as const), program: programArb, gapDays: fc.integer({ min: 0, max: 30 }) }) },
);

// ── the independent model ─────────────────────────────────────────────────────────────────────
interface Entry {
  at: number;
  points: number;
  spend: Decimal;
}
function periodContains(rule: QualificationRule, at: number, t: number): boolean {
  if (at > t) return false;
  if (rule.period.kind === "ROLLING") return at > addMonths(new Date(t), -rule.period.months).getTime();
  const d = new Date(t);
  const start = Date.UTC(d.getUTCFullYear(), Math.floor(d.getUTCMonth() / rule.period.months) * rule.period.months, 1);
  return at >= start;
}
function modelQualified(p: Program, history: readonly Entry[], t: number): number {
  for (let k = p.tiers.length - 1; k > 0; k--) {
    for (const rule of p.tiers[k]!.qualifyAnyOf) {
      const inPeriod = history.filter((e) => periodContains(rule, e.at, t));
      const sum = rule.metric === "POINTS" ? new Decimal(inPeriod.reduce((s, e) => s + e.points, 0)) : inPeriod.reduce((s, e) => s.plus(e.spend), new Decimal(0));
      if (rule.comparison === "MORE_THAN" ? sum.gt(rule.threshold) : sum.gte(rule.threshold)) return k;
    }
  }
  return 0;
}

let clock = Date.UTC(2026, 0, 1);
let inForce: Program = classicProgram();
const partner = randomUUID();

/** The stored tier as a tier of `p` (a row without a program code, e.g. written at enrolment, is its API tier's program tier). */
async function storedCode(p: Program, memberId: string): Promise<string> {
  const rows = await prisma().$queryRaw<{ tier: Tier; tierCode: string | null }[]>`
    SELECT tier::text AS tier, "tierCode" FROM "points"."TierState" WHERE "memberId" = ${memberId}::uuid`;
  return currentTier(p, rows[0]?.tierCode ?? null, rows[0]?.tier ?? null).code;
}
async function snapshot(): Promise<Map<string, string>> {
  const rows = await prisma().$queryRaw<{ id: string; p: string; v: string | null; s: string | null }[]>`
    SELECT id::text AS id, "memberPoints"::text AS p, "programVersionId"::text AS v, "spendAmount"::text AS s FROM "points"."LedgerTransaction"`;
  return new Map(rows.map((r) => [r.id, `${r.p}|${r.v}|${r.s}`]));
}

describe("the program as data (property tests)", () => {
  beforeAll(() => applyEvents(registered(partner, "1")));

  test("stored tier = tier recomputed from the history under the version in force; purchases earn floor(amount × rate); program changes never change past transactions", async () => {
    await fc.assert(
      fc.asyncProperty(fc.array(stepArb, { minLength: 1, maxLength: 10 }), async (steps) => {
        const m = randomUUID();
        await applyEvents(enrolled(m, partner));
        const history: Entry[] = [];
        let rank = 0; // the member's tier under `inForce`
        clock += 400 * DAY; // each run in its own stretch of time
        for (const s of steps) {
          clock += s.gapDays * DAY + 1000;
          const now = new Date(clock);
          if (s.kind === "program") {
            const before = await snapshot();
            await setProgram(ADMIN, s.program, { now });
            await reevaluateTiers(prisma(), now);
            inForce = s.program;
            rank = modelQualified(inForce, history, clock);
            expect(await snapshot()).toEqual(before);
          } else {
            const tier = inForce.tiers[rank]!;
            const input = s.kind === "points" ? { memberId: m, points: s.points, idempotencyKey: randomUUID() } : { memberId: m, purchaseAmount: new Decimal(s.cents).div(100).toFixed(2), idempotencyKey: randomUUID() };
            const expected = s.kind === "points" ? s.points : new Decimal(input.purchaseAmount!).mul(inForce.earnRates.perTier[tier.code]!).floor().toNumber();
            if (expected < 1) {
              const r = s.bulk ? await awardPointsBatch(partnerPrincipal(partner), [input], { now }) : await awardPoints(partnerPrincipal(partner), input, { now }).catch((e: unknown) => e);
              if (s.bulk) expect((r as { rejected: { code: string }[] }).rejected[0]?.code).toBe("BAD_USER_INPUT");
              else expect(r instanceof HubError && r.extensions.code === "BAD_USER_INPUT").toBe(true);
              continue;
            }
            const t = s.bulk ? (await awardPointsBatch(partnerPrincipal(partner), [input], { now })).transactions[0]! : await awardPoints(partnerPrincipal(partner), input, { now });
            expect(t.memberPoints).toBe(expected);
            history.push({ at: clock, points: expected, spend: s.kind === "purchase" ? new Decimal(input.purchaseAmount!) : new Decimal(0) });
            rank = Math.max(rank, modelQualified(inForce, history, clock));
          }
          expect(await storedCode(inForce, m)).toBe(inForce.tiers[rank]!.code);
        }
      }),
      { numRuns: 30 },
    );
  });
});
