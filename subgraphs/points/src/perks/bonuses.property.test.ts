import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { HubError } from "../../../../lib/errors.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { prisma, usePrisma } from "../db.ts";
import { awardPoints } from "../earning/award.ts";
import { awardPointsBatch } from "../earning/bulk.ts";
import { classicProgram } from "../program/model.ts";
import { eventConsumer } from "../events.ts";
import { applyEvents, enrolled, registered } from "../testing/harness.ts";
import "../testing/verify-after-each.ts";

// Once means once (issue 16): under random interleavings of concurrent earns (one-transaction and
// bulk paths), replayed idempotency keys and redelivered member.enrolled events, a member gets the
// welcome bonus at most once ever and a birthday bonus of points at most once a year — and exactly
// once when some earn qualified. Run it on PostgreSQL (DATABASE_URL) for real concurrency.

let db: Database;
const shop = randomUUID();
const P = partnerPrincipal(shop);
/** In force from 2030-01-01: welcome on the first purchase (200, 3 months), birthday 150 points once a year. */
const PURCHASE_PROGRAM = {
  ...classicProgram(),
  bonuses: { welcome: { points: 200, windowMonths: 3, trigger: "FIRST_PURCHASE" }, birthday: { kind: "POINTS", points: 150, multiplier: null, consentCategory: "PROFILE_BASIC" } },
};

async function addVersion(version: number, effectiveFrom: Date, document: unknown) {
  await prisma().$executeRaw`
    INSERT INTO "points"."ProgramVersion" (id, version, "effectiveFrom", document, "createdBy") VALUES (${randomUUID()}::uuid, ${version}, ${effectiveFrom}, ${JSON.stringify(document)}::jsonb, 'test')`;
}

beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
  await applyEvents(registered(shop));
  await addVersion(2, new Date("2030-01-01T00:00:00Z"), PURCHASE_PROGRAM);
});
afterAll(() => db?.close());

const bonusCount = async (memberId: string) => {
  const rows = await prisma().ledgerTransaction.findMany({ where: { memberId, kind: "PROGRAM_BONUS" }, select: { idempotencyKey: true } });
  return { welcome: rows.filter((r) => r.idempotencyKey.startsWith("welcome:")).length, birthday: rows.filter((r) => r.idempotencyKey.startsWith("birthday:")).length };
};

const op = fc.record({
  key: fc.integer({ min: 0, max: 3 }),
  amount: fc.integer({ min: 1, max: 50 }),
  path: fc.constantFrom("one", "batch"),
  day: fc.integer({ min: 1, max: 28 }),
});

test("welcome and yearly birthday bonuses are paid exactly once under concurrent earns and replays", async () => {
  await fc.assert(
    fc.asyncProperty(fc.array(op, { minLength: 1, maxLength: 12 }), fc.boolean(), async (ops, consent) => {
      const m = randomUUID();
      await applyEvents({ type: "member.enrolled", payload: { memberId: m, joinedAt: "2030-03-01T00:00:00.000Z", partnerId: shop } });
      if (consent) {
        await applyEvents({
          type: "member.consent_granted",
          payload: { consentId: randomUUID(), memberId: m, partnerId: shop, purpose: "ACCOUNT_SERVICING", categories: ["PROFILE_BASIC"], birthMonth: 3 },
        });
      }
      // Same key → same body (a replay), so a key's amount and day come from its first use.
      const bodies = new Map<number, { amount: number; day: number }>();
      const runs = ops.map((o) => {
        const b = bodies.get(o.key) ?? { amount: o.amount, day: o.day };
        bodies.set(o.key, b);
        const now = new Date(Date.UTC(2030, 2, b.day, 12));
        const input = { memberId: m, purchaseAmount: String(b.amount), idempotencyKey: `${m}:${o.key}` };
        return o.path === "one"
          ? awardPoints(P, input, { now }).then(() => undefined)
          : awardPointsBatch(P, [input], { now }).then((r) => {
              if (r.rejected.length) throw new Error(JSON.stringify(r.rejected));
            });
      });
      // Concurrent duplicates may lose the race on the key: IDEMPOTENCY_CONFLICT never (same body), errors never.
      const settled = await Promise.allSettled(runs);
      for (const s of settled) if (s.status === "rejected") expect.fail(s.reason instanceof HubError ? `${s.reason.extensions.code}: ${s.reason.message}` : String(s.reason));
      // A redelivered member.enrolled (a new event id) pays nothing more either.
      await applyEvents({ type: "member.enrolled", payload: { memberId: m, joinedAt: "2030-03-01T00:00:00.000Z", partnerId: shop } });
      expect(await bonusCount(m)).toEqual({ welcome: 1, birthday: consent ? 1 : 0 });
    }),
    { numRuns: 12 },
  );
});

test("the welcome bonus at enrolment (trigger ENROLMENT) is paid once under redelivered and concurrent member.enrolled events", async () => {
  // In force from now: the enrolment trigger.
  await addVersion(3, new Date(Date.now() - 1000), { ...classicProgram(), bonuses: { welcome: { points: 300, windowMonths: 3, trigger: "ENROLMENT" }, birthday: null } });
  await fc.assert(
    fc.asyncProperty(fc.integer({ min: 1, max: 6 }), async (copies) => {
      const m = randomUUID();
      const e = enrolled(m, shop);
      await Promise.all(Array.from({ length: copies }, () => applyEvents(e).catch(() => applyEvents(e))));
      expect(await bonusCount(m)).toEqual({ welcome: 1, birthday: 0 });
      const wallet = await prisma().ledgerAccount.findUnique({ where: { code: `wallet:${m}` } });
      expect(Number(wallet?.balance)).toBe(300);
    }),
    { numRuns: 8 },
  );
});

test("the welcome bonus at enrolment is paid once per member when member.enrolled events arrive as one delivered batch (the set-based path)", async () => {
  // The ENROLMENT program of the test above is in force. The batch handler itself (no fallback can hide it).
  const batch = eventConsumer.batch.get("member.enrolled")!;
  await fc.assert(
    fc.asyncProperty(fc.array(fc.nat(3), { minLength: 1, maxLength: 10 }), fc.boolean(), async (picks, concurrentOne) => {
      const members = Array.from({ length: 4 }, () => randomUUID());
      const long = new Date(Date.now() - 200 * 86_400_000).toISOString(); // member 3 joined outside the 3-month window
      const events = picks.map((i) => ({
        id: randomUUID(),
        type: "member.enrolled" as const,
        payload: { memberId: members[i]!, email: `${members[i]}@example.com`, joinedAt: i === 3 ? long : new Date().toISOString(), partnerId: shop },
        createdAt: new Date().toISOString(),
      }));
      // Sometimes a single delivery of the same member's enrolment races the batch.
      await Promise.all([
        prisma().$transaction((tx) => batch(tx, events as never)),
        concurrentOne ? applyEvents(enrolled(members[picks[0]!]!, shop)).catch(() => applyEvents(enrolled(members[picks[0]!]!, shop))) : Promise.resolve(),
      ]);
      for (const [i, m] of members.entries()) {
        const enrolledHere = picks.includes(i) || (concurrentOne && i === picks[0]);
        const due = enrolledHere && !(i === 3 && !(concurrentOne && picks[0] === 3));
        expect(await bonusCount(m)).toEqual({ welcome: due ? 1 : 0, birthday: 0 });
      }
    }),
    { numRuns: 12 },
  );
});
