import { randomUUID } from "node:crypto";
import type { Principal } from "../../../lib/principal.ts";
import { awardPoints } from "./earning/award.ts";
import { awardPointsBatch } from "./earning/bulk.ts";
import { runPointsExpiry, runTierReview } from "./jobs.ts";
import { redeemPointsBatch } from "./redemption/batch.ts";
import { authorizeRedemption, captureHold, createRedemptionCode, reverseTransaction, voidHold } from "./redemption/redeem.ts";

/**
 * Demo history through the ledger's own functions (never around them): for each member, earns at
 * its linked partners spread over the period, posted in weekly batches per partner (back-dated
 * postedAt, the only use of it), some redemptions with member-created codes, a few holds (captured
 * or voided), a few reversals; then the expiry and tier jobs at `now`. Deterministic given `random`.
 */
export interface SeedHistoryInput {
  now: Date;
  from: Date;
  random: () => number;
  partners: { id: string; earnRate: number }[];
  members: { id: string; joinedAt: Date; partnerIds: string[] }[];
}

const partnerActor = (partnerId: string): Principal => ({ sub: `seed-${partnerId}`, role: "PARTNER", partnerId, memberId: null, scope: "hub:partner", purpose: "ACCOUNT_SERVICING" });
const WEEK_MS = 7 * 86_400_000;
const memberActor = (memberId: string): Principal => ({ sub: memberId, role: "MEMBER", partnerId: null, memberId, scope: "hub:member", purpose: null });

export async function seedPointsHistory(input: SeedHistoryInput): Promise<{ earns: number; redemptions: number }> {
  const { random, now } = input;
  const span = now.getTime() - input.from.getTime();
  // Earns in one batch per (partner, week), as partners send weekly purchase files: the history is
  // written set-based in ~80 chunk transactions (one per (partner, day) made ~520, 11 s of a first
  // start). The batch is posted at its latest purchase's time, so never before any of its members joined.
  const byWeek = new Map<string, { partnerId: string; at: number; items: { memberId: string; idempotencyKey: string; purchaseAmount: string; reference: string }[] }>();
  const wallet = new Map<string, number>();
  for (const m of input.members) {
    if (!m.partnerIds.length) continue;
    const start = Math.max(input.from.getTime(), m.joinedAt.getTime());
    const n = 2 + Math.floor(random() * 14);
    for (let i = 0; i < n; i++) {
      const partnerId = m.partnerIds[Math.floor(random() * m.partnerIds.length)]!;
      const t = start + random() * Math.max(0, now.getTime() - 86_400_000 - start);
      const key = `${partnerId}/${Math.floor(t / WEEK_MS)}`;
      const batch = byWeek.get(key) ?? { partnerId, at: 0, items: [] };
      byWeek.set(key, batch);
      batch.at = Math.max(batch.at, t);
      const amount = (20 + Math.floor(random() * 480)).toFixed(2);
      batch.items.push({ memberId: m.id, idempotencyKey: `seed-${randomUUID()}`, purchaseAmount: amount, reference: `ORD-${Math.floor(random() * 1e8)}` });
    }
  }
  let earns = 0;
  for (const { partnerId, at, items } of [...byWeek.values()].sort((a, b) => a.at - b.at)) {
    const r = await awardPointsBatch(partnerActor(partnerId), items, { postedAt: new Date(at) });
    earns += r.accepted;
    for (const t of r.transactions) wallet.set(t.memberId!, t.balanceAfter == null ? 0 : Number(t.balanceAfter)); // demo amounts: small
  }
  // Redemptions with member-created codes (recent ones so codes are valid), a few holds and reversals.
  // Each member's code is created at its redemption's instant; the redemptions are then posted in one
  // batch per partner (redeemPointsBatch: each item at its own instant, as if one by one; one by one
  // they were ~200 transactions of ~15 statements, the bulk of this step's time), the holds one by
  // one. A member redeems at most once, so the order between members changes no balance.
  const batches = new Map<string, { inputs: { redemptionCode: string; points: number; idempotencyKey: string; reference: string }[]; at: Date[] }>();
  const holds: { partnerId: string; code: string; points: number; at: Date; capture: boolean }[] = [];
  let redemptions = 0;
  for (const m of input.members) {
    const balance = wallet.get(m.id) ?? 0;
    if (balance < 200 || random() > 0.5 || !m.partnerIds.length) continue;
    const partnerId = m.partnerIds[Math.floor(random() * m.partnerIds.length)]!;
    const points = 100 * (1 + Math.floor(random() * Math.min(5, Math.floor(balance / 200))));
    const at = new Date(now.getTime() - Math.floor(random() * 0.2 * span));
    const code = await createRedemptionCode(memberActor(m.id), { partnerId, points }, { now: at });
    if (random() < 0.8) {
      const batch = batches.get(partnerId) ?? { inputs: [], at: [] };
      batches.set(partnerId, batch);
      batch.inputs.push({ redemptionCode: code.code, points, idempotencyKey: `seed-${randomUUID()}`, reference: `RDM-${Math.floor(random() * 1e8)}` });
      batch.at.push(at);
    } else {
      holds.push({ partnerId, code: code.code, points, at, capture: random() < 0.5 });
    }
    redemptions++;
  }
  for (const [partnerId, { inputs, at }] of batches) {
    const r = await redeemPointsBatch(partnerActor(partnerId), inputs, { itemNow: at });
    // Every code was made for its member's available points just now: a rejection is a seed bug.
    if (r.rejected.length) throw new Error(`seed: redemptions rejected: ${JSON.stringify(r.rejected.slice(0, 3))}`);
  }
  for (const h of holds) {
    const hold = await authorizeRedemption(partnerActor(h.partnerId), { redemptionCode: h.code, points: h.points, idempotencyKey: `seed-${randomUUID()}` }, { now: h.at });
    if (h.capture) await captureHold(partnerActor(h.partnerId), hold.id, h.points, `seed-${randomUUID()}`, { now: h.at });
    else await voidHold(partnerActor(h.partnerId), hold.id, { now: h.at });
  }
  // A handful of partial reversals of earns (returned goods).
  let reversals = 0;
  for (const m of input.members) {
    if (reversals >= 10 || random() > 0.05 || !m.partnerIds.length) continue;
    const partnerId = m.partnerIds[0]!;
    try {
      const t = await awardPoints(partnerActor(partnerId), { memberId: m.id, points: 50, idempotencyKey: `seed-${randomUUID()}`, reference: "RET-DEMO" }, { now });
      await reverseTransaction(partnerActor(partnerId), { transactionId: t.id, points: 20, idempotencyKey: `seed-${randomUUID()}`, reason: "goods returned" }, { now });
      reversals++;
    } catch {
      // not linked any more etc.: skip
    }
  }
  await runPointsExpiry(now);
  await runTierReview(now);
  return { earns, redemptions };
}
