import { randomUUID } from "node:crypto";
import fc from "fast-check";
import { afterAll, afterEach, beforeAll, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { HubError } from "../../../../lib/errors.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { memberPrincipal, partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { useSettings } from "../config.ts";
import { prisma, usePrisma } from "../db.ts";
import { awardPoints } from "../earning/award.ts";
import type { LedgerTransactionRow } from "../ledger/ledger.ts";
import "../testing/verify-after-each.ts";
import { applyEvents, enrolled, registered } from "../testing/harness.ts";
import { redeemPointsBatch } from "./batch.ts";
import { authorizeRedemption, createRedemptionCode, redeemPoints } from "./redeem.ts";

// A batch of redemptions leaves what redeeming its items one by one leaves. Two worlds with the same
// members' histories (earns at the same instants, so the same lots and expiries, and pending holds),
// each with its own partner: world A redeems the items one by one with redeemPoints, world B sends
// them in one redeemPointsBatch (after the same single redemptions before it, which its items may
// replay). Items: valid codes, codes for another amount, used twice, expired, for another member,
// bad input, repeated keys with the same or another body, amounts past the wallet; at each item's
// own instant. Compared: each item's outcome, each transaction, every wallet, every lot and what each
// transaction took from which lot, the codes used, the activity events, the partner's redemption account.
let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
});
afterAll(() => db?.close());
afterEach(() => useSettings({}));

const MIN = 60_000;
const DAY = 86_400_000;
const MEMBERS = 3;

type Variant = "ok" | "otherAmount" | "reuseCode" | "expired" | "otherMember" | "badInput" | "sameKey" | "otherBodyKey";
interface ItemSpec {
  m: number;
  points: number;
  variant: Variant;
  /** For reuseCode / sameKey / otherBodyKey: which earlier item. */
  of: number;
  minutes: number;
}
const itemArb: fc.Arbitrary<ItemSpec> = fc.record({
  m: fc.nat(MEMBERS - 1),
  // Mostly amounts a wallet covers, some that drain it (the items after them then do not fit).
  points: fc.oneof({ arbitrary: fc.integer({ min: 1, max: 150 }), weight: 3 }, { arbitrary: fc.integer({ min: 1, max: 1500 }), weight: 1 }),
  variant: fc.oneof({ arbitrary: fc.constant<Variant>("ok"), weight: 6 }, { arbitrary: fc.constantFrom<Variant>("otherAmount", "reuseCode", "expired", "otherMember", "badInput", "sameKey", "otherBodyKey"), weight: 3 }),
  of: fc.nat(20),
  minutes: fc.integer({ min: 0, max: 90 }),
});
const worldArb = fc.record({
  policy: fc.constantFrom("months_after_earning", "inactivity_months"),
  earns: fc.array(fc.array(fc.record({ points: fc.integer({ min: 1, max: 800 }), daysAgo: fc.integer({ min: 1, max: 400 }) }), { minLength: 1, maxLength: 4 }), {
    minLength: MEMBERS,
    maxLength: MEMBERS,
  }),
  holds: fc.array(fc.nat(150), { minLength: MEMBERS, maxLength: MEMBERS }),
  singlesBefore: fc.nat(3),
  items: fc.array(itemArb, { minLength: 1, maxLength: 14 }),
});

type Outcome = { tx: string; replayOf?: number } | { code: string };

test("a batch of redemptions leaves what redeeming its items one by one leaves", async () => {
  await fc.assert(
    fc.asyncProperty(worldArb, async (w) => {
      useSettings({ expiryPolicy: { kind: w.policy as "months_after_earning" | "inactivity_months", months: 12 } });
      const t0 = new Date(Date.UTC(2027, 2, 1, 12));
      const worlds = await Promise.all(["A", "B"].map(async () => ({ partner: randomUUID(), members: Array.from({ length: MEMBERS }, () => randomUUID()) })));
      for (const x of worlds) {
        await applyEvents(registered(x.partner), ...x.members.map((m) => enrolled(m, x.partner)));
        for (const [i, m] of x.members.entries()) {
          for (const e of w.earns[i]!) {
            const at = new Date(t0.getTime() - e.daysAgo * DAY);
            await awardPoints(partnerPrincipal(x.partner), { memberId: m, points: e.points, idempotencyKey: randomUUID() }, { now: at, postedAt: at });
          }
          const held = w.holds[i]!;
          if (held > 0) {
            try {
              const c = await createRedemptionCode(memberPrincipal(m), { partnerId: x.partner, points: held }, { now: t0 });
              await authorizeRedemption(partnerPrincipal(x.partner), { redemptionCode: c.code, points: held, idempotencyKey: randomUUID() }, { now: t0 });
            } catch (e) {
              if (!(e instanceof HubError)) throw e;
            }
          }
        }
      }
      // The items, the same in both worlds but for the codes (a code names its world's partner and member).
      const keys = w.items.map(() => randomUUID());
      const refs = w.items.map((_, k) => (k % 3 === 0 ? null : `REF-${k}`));
      const times = w.items.map((s, k) => new Date(t0.getTime() + (k + 1) * MIN + s.minutes * 1000));
      const inputsOf = async (x: (typeof worlds)[number]): Promise<Record<string, unknown>[]> => {
        const inputs: Record<string, unknown>[] = [];
        for (const [k, s] of w.items.entries()) {
          const earlier = inputs.length ? s.of % inputs.length : -1;
          const at = times[k]!;
          const codeAt = s.variant === "expired" ? new Date(at.getTime() - 11 * MIN) : new Date(at.getTime() - MIN);
          let code: string;
          if (s.variant === "reuseCode" && earlier >= 0 && typeof inputs[earlier]!.redemptionCode === "string") code = inputs[earlier]!.redemptionCode as string;
          else {
            try {
              code = (await createRedemptionCode(memberPrincipal(x.members[s.m]!), { partnerId: x.partner, points: s.points }, { now: codeAt })).code;
            } catch (e) {
              if (!(e instanceof HubError)) throw e;
              code = "not-a-code"; // the wallet could not cover it when the code was asked for
            }
          }
          const input: Record<string, unknown> = { redemptionCode: code, points: s.variant === "otherAmount" ? s.points + 1 : s.points, idempotencyKey: keys[k], reference: refs[k] };
          if (s.variant === "otherMember") input.memberId = x.members[(s.m + 1) % MEMBERS];
          if (s.variant === "badInput") input.points = 0;
          if ((s.variant === "sameKey" || s.variant === "otherBodyKey") && earlier >= 0) {
            Object.assign(input, inputs[earlier], s.variant === "otherBodyKey" ? { reference: `OTHER-${k}` } : {});
          }
          inputs.push(input);
        }
        return inputs;
      };
      const [inputsA, inputsB] = [await inputsOf(worlds[0]!), await inputsOf(worlds[1]!)];
      const single = async (partner: string, input: Record<string, unknown>, at: Date): Promise<{ tx: LedgerTransactionRow } | { code: string }> => {
        try {
          return { tx: await redeemPoints(partnerPrincipal(partner), input, { now: at }) };
        } catch (e) {
          if (!(e instanceof HubError)) throw e;
          return { code: String(e.extensions.code) };
        }
      };
      // World A: one by one. World B: the first few one by one too, then the rest in one batch.
      const txsA: (LedgerTransactionRow | null)[] = [];
      const outA: Outcome[] = [];
      for (const [k, input] of inputsA.entries()) {
        const r = await single(worlds[0]!.partner, input, times[k]!);
        txsA.push("tx" in r ? r.tx : null);
        outA.push("tx" in r ? outcomeOf(r.tx, txsA) : r);
      }
      const before = Math.min(w.singlesBefore, inputsB.length);
      const txsB: (LedgerTransactionRow | null)[] = [];
      const outB: Outcome[] = [];
      for (const [k, input] of inputsB.slice(0, before).entries()) {
        const r = await single(worlds[1]!.partner, input, times[k]!);
        txsB.push("tx" in r ? r.tx : null);
        outB.push("tx" in r ? outcomeOf(r.tx, txsB) : r);
      }
      const batch = await redeemPointsBatch(partnerPrincipal(worlds[1]!.partner), inputsB.slice(before), { itemNow: times.slice(before) });
      const rejected = new Map(batch.rejected.map((r) => [r.index + before, r.code]));
      let next = 0;
      for (let k = before; k < inputsB.length; k++) {
        const code = rejected.get(k);
        const t = code ? null : batch.transactions[next++]!;
        txsB.push(t);
        outB.push(t ? outcomeOf(t, txsB) : { code: code! });
      }
      expect(next).toBe(batch.transactions.length);
      expect(batch.accepted + batch.replayed + batch.rejected.length).toBe(inputsB.length - before);

      expect(outB).toEqual(outA);
      const [a, b] = [await stateOf(worlds[0]!), await stateOf(worlds[1]!)];
      expect(b).toEqual(a);
    }),
    { numRuns: 30 },
  );
}, 240_000);

/** An item's outcome: its transaction's shape, or which earlier item's transaction it replayed. */
function outcomeOf(t: LedgerTransactionRow, txs: (LedgerTransactionRow | null)[]): Outcome {
  const first = txs.findIndex((x) => x?.id === t.id);
  return first < txs.length - 1 ? { tx: "replay", replayOf: first } : { tx: `${t.kind} ${t.memberPoints} ${t.balanceAfter} ${t.reference} ${t.postedAt.toISOString()} ${t.idempotencyKey}` };
}

/** Everything the redemptions wrote, with the world's ids replaced by positions. */
async function stateOf(x: { partner: string; members: string[] }) {
  const idx = (m: string | null) => (m ? x.members.indexOf(m) : null);
  const wallets = await prisma().ledgerAccount.findMany({ where: { code: { in: x.members.map((m) => `wallet:${m}`) } } });
  const lots = await prisma().lot.findMany({ where: { memberId: { in: x.members } }, orderBy: [{ earnedAt: "asc" }, { id: "asc" }] });
  const lotNo = new Map(lots.map((l, i) => [l.id, i]));
  const txs = await prisma().ledgerTransaction.findMany({ where: { memberId: { in: x.members }, kind: "REDEEM" }, orderBy: { idempotencyKey: "asc" } });
  const takes = await prisma().lotConsumption.findMany({ where: { transactionId: { in: txs.map((t) => t.id) } } });
  const postings = await prisma().posting.findMany({ where: { transactionId: { in: txs.map((t) => t.id) } }, include: { account: true } });
  const codes = await prisma().pointsRedemptionCode.findMany({ where: { memberId: { in: x.members } } });
  const events = await prisma().$queryRaw<{ payload: { memberId: string; at: string; kind: string; points: number; partnerId: string } }[]>`
    SELECT payload FROM "points"."OutboxEvent" WHERE type = 'points.activity' AND payload->>'kind' = 'REDEEM' AND payload->>'memberId' = ANY(${x.members}::text[])`;
  const redemption = await prisma().ledgerAccount.findUnique({ where: { code: `redemption:${x.partner}` } });
  const sorted = <T>(xs: T[]) => xs.map((v) => JSON.stringify(v)).sort();
  return {
    wallets: x.members.map((m) => {
      const a = wallets.find((v) => v.code === `wallet:${m}`);
      return a ? { balance: a.balance, held: a.held, lifetimeEarned: a.lifetimeEarned } : null;
    }),
    lots: lots.map((l) => ({ m: idx(l.memberId), points: l.points, remaining: l.remaining, earnedAt: l.earnedAt, expiresAt: l.expiresAt })),
    transactions: txs.map((t) => ({
      key: t.idempotencyKey,
      m: idx(t.memberId),
      points: t.memberPoints,
      balanceAfter: t.balanceAfter,
      reference: t.reference,
      postedAt: t.postedAt,
      createdBy: t.createdBy.replace(x.partner, "P"),
      takes: sorted(takes.filter((c) => c.transactionId === t.id).map((c) => [lotNo.get(c.lotId), c.points.toString()])),
      postings: sorted(postings.filter((p) => p.transactionId === t.id).map((p) => [p.account.kind, p.amount.toString()])),
    })),
    codes: sorted(codes.map((c) => [idx(c.memberId), c.points, c.createdAt.toISOString(), c.usedAt?.toISOString() ?? null])),
    events: sorted(events.map((e) => [idx(e.payload.memberId), e.payload.at, e.payload.points, e.payload.partnerId === x.partner])),
    redemptionBalance: redemption?.balance ?? 0n,
  };
}
