import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { expectNoGraphQLErrors } from "../../../../tests/support/subgraph.ts";
import { prisma } from "../db.ts";
import { adminPrincipal, enrolled, memberPrincipal, partnerPrincipal, type PointsHarness, registered, startPointsHarness } from "../testing/harness.ts";

let h: PointsHarness;
const shop = randomUUID();
const hotel = randomUUID();
beforeAll(async () => {
  h = await startPointsHarness();
  await h.deliver(registered(shop, "2"), registered(hotel));
});
afterAll(() => h?.close());

const codes = (r: { errors?: { extensions?: Record<string, unknown> }[] }) => (r.errors ?? []).map((e) => e.extensions?.code);
const AWARD = `mutation($input: AwardPointsInput!) { awardPoints(input: $input) { id kind points partner { id } memberId } }`;
const ENTITY = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Member { id wallet { balance available held lifetimeEarned expiring(withinDays: 1200) { points } } tier { tier qualifyingPoints nextTier pointsToNextTier earnMultiplier } activity(first: 2) { edges { node { kind points balanceAfter } } pageInfo { hasNextPage endCursor } } } } }`;

/**
 * balanceAfter of a transaction as the gateway resolves it for a partner: an entity fetch whose
 * representation carries the member's sharedScopes (@requires), here with POINTS_BALANCE granted.
 */
async function balanceAfter(principal: ReturnType<typeof partnerPrincipal>, id: string, sharedScopes = ["POINTS_BALANCE"]) {
  const r = await h.as<{ _entities: { balanceAfter: number | null }[] }>(principal, `query($r: [_Any!]!) { _entities(representations: $r) { ... on PointsTransaction { balanceAfter } } }`, {
    r: [{ __typename: "PointsTransaction", id, member: { sharedScopes } }],
  });
  return expectNoGraphQLErrors(r)._entities[0]!.balanceAfter;
}

async function newMember(partnerId = shop) {
  const id = randomUUID();
  await h.deliver(enrolled(id, partnerId));
  return id;
}

describe("earning and reading", () => {
  test("awardPoints: explicit and purchase-based (earn rate × tier multiplier); idempotent; unlinked member NOT_FOUND", async () => {
    const m = await newMember();
    const a = expectNoGraphQLErrors(await h.as(partnerPrincipal(shop), AWARD, { input: { memberId: m, points: 300, idempotencyKey: "a1" } }));
    expect(a.awardPoints).toMatchObject({ kind: "EARN", points: 300, partner: { id: shop }, memberId: m });
    expect(await balanceAfter(partnerPrincipal(shop), (a.awardPoints as { id: string }).id)).toBe(300);
    const again = expectNoGraphQLErrors(await h.as(partnerPrincipal(shop), AWARD, { input: { memberId: m, points: 300, idempotencyKey: "a1" } }));
    expect((again.awardPoints as { id: string }).id).toBe((a.awardPoints as { id: string }).id);
    expect(codes(await h.as(partnerPrincipal(shop), AWARD, { input: { memberId: m, points: 301, idempotencyKey: "a1" } }))).toEqual(["IDEMPOTENCY_CONFLICT"]);
    const b = expectNoGraphQLErrors(await h.as(partnerPrincipal(shop), AWARD, { input: { memberId: m, purchaseAmount: "10.99", idempotencyKey: "a2" } }));
    expect(b.awardPoints).toMatchObject({ points: 21 }); // 10.99 × 2 × 1 rounded down
    expect(codes(await h.as(partnerPrincipal(hotel), AWARD, { input: { memberId: m, points: 5, idempotencyKey: "h1" } }))).toEqual(["NOT_FOUND"]);
    for (const bad of [{ points: 0 }, { points: -5 }, { points: 1.5 }, { points: 1e12 }, {}, { points: 5, purchaseAmount: "1" }, { points: 5, reference: "x".repeat(200) }]) {
      const r = await h.as(partnerPrincipal(shop), AWARD, { input: { memberId: m, idempotencyKey: randomUUID(), ...bad } });
      expect(codes(r)[0]).toMatch(/BAD_USER_INPUT|GRAPHQL_VALIDATION_FAILED/);
    }
    expect(codes(await h.as(memberPrincipal(m), AWARD, { input: { memberId: m, points: 5, idempotencyKey: "x" } }))).toEqual(["FORBIDDEN"]);
  });

  test("enrol, then award at once: the award waits briefly for the member link still on its way (member.enrolled)", async () => {
    const m = randomUUID();
    const award = h.as(partnerPrincipal(shop), AWARD, { input: { memberId: m, points: 42, idempotencyKey: randomUUID() } });
    await new Promise((r) => setTimeout(r, 150));
    await h.deliver(enrolled(m, shop));
    const awarded = expectNoGraphQLErrors(await award).awardPoints as { id: string };
    expect(awarded).toMatchObject({ points: 42 });
    expect(await balanceAfter(partnerPrincipal(shop), awarded.id)).toBe(42);
  });

  test("wallet/tier/activity: partner without the category gets CONSENT_REQUIRED; with it, one points.data_accessed per member", async () => {
    const m = await newMember();
    await h.as(partnerPrincipal(shop), AWARD, { input: { memberId: m, points: 1200, idempotencyKey: randomUUID() } });
    const denied = await h.as(partnerPrincipal(shop), ENTITY, { r: [{ __typename: "Member", id: m, sharedScopes: ["TIER"] }] });
    expect(codes(denied).sort()).toEqual(["CONSENT_REQUIRED", "CONSENT_REQUIRED"]);
    expect(denied.errors?.map((e) => e.extensions?.category).sort()).toEqual(["ACTIVITY", "POINTS_BALANCE"]);
    const before = await prisma().pointsOutboxEvent.count({ where: { type: "points.data_accessed" } });
    const ok = expectNoGraphQLErrors(await h.as(partnerPrincipal(shop), ENTITY, { r: [{ __typename: "Member", id: m, sharedScopes: ["TIER", "POINTS_BALANCE", "ACTIVITY"] }] }));
    expect(ok._entities).toEqual([
      {
        id: m,
        wallet: { balance: 1200, available: 1200, held: 0, lifetimeEarned: 1200, expiring: [{ points: 1200 }] },
        tier: { tier: "SILVER", qualifyingPoints: 1200, nextTier: "GOLD", pointsToNextTier: 3800, earnMultiplier: "2" }, // classic: silver earns 2 per unit, base 1
        activity: { edges: [{ node: { kind: "EARN", points: 1200, balanceAfter: 1200 } }], pageInfo: { hasNextPage: false, endCursor: expect.any(String) } },
      },
    ]);
    const events = await prisma().pointsOutboxEvent.findMany({ where: { type: "points.data_accessed" }, orderBy: { createdAt: "asc" } });
    expect(events.length).toBe(before + 1);
    expect(events.at(-1)!.payload).toMatchObject({ memberId: m, partnerId: shop, categories: ["TIER", "POINTS_BALANCE", "ACTIVITY"], purpose: "ACCOUNT_SERVICING" });
    const badCursor = await h.as(memberPrincipal(m), `query($r: [_Any!]!) { _entities(representations: $r) { ... on Member { activity(first: 1, after: "bm90LWEtY3Vyc29y") { pageInfo { hasNextPage } } } } }`, {
      r: [{ __typename: "Member", id: m, sharedScopes: [] }],
    });
    expect(codes(badCursor)).toEqual(["BAD_USER_INPUT"]);
    // The member itself and admins are not gated and not logged.
    expectNoGraphQLErrors(await h.as(memberPrincipal(m), ENTITY, { r: [{ __typename: "Member", id: m, sharedScopes: [] }] }));
    expectNoGraphQLErrors(await h.as(adminPrincipal(), ENTITY, { r: [{ __typename: "Member", id: m }] }));
    expect(await prisma().pointsOutboxEvent.count({ where: { type: "points.data_accessed" } })).toBe(before + 1);
    // Another member's token is not "self": gated like a partner without the categories.
    const other = await h.as(memberPrincipal(randomUUID()), ENTITY, { r: [{ __typename: "Member", id: m, sharedScopes: [] }] });
    expect(codes(other).sort()).toEqual(["CONSENT_REQUIRED", "CONSENT_REQUIRED", "CONSENT_REQUIRED"]);
  });

  test("transaction(id): admin all, partner own, member own, else NOT_FOUND", async () => {
    const m = await newMember();
    const t = expectNoGraphQLErrors(await h.as(partnerPrincipal(shop), AWARD, { input: { memberId: m, points: 10, idempotencyKey: randomUUID() } }));
    const id = (t.awardPoints as { id: string }).id;
    const q = `query($id: ID!) { transaction(id: $id) { id kind } }`;
    expect(expectNoGraphQLErrors(await h.as(adminPrincipal(), q, { id })).transaction).toEqual({ id, kind: "EARN" });
    expect(expectNoGraphQLErrors(await h.as(partnerPrincipal(shop), q, { id })).transaction).toEqual({ id, kind: "EARN" });
    expect(expectNoGraphQLErrors(await h.as(memberPrincipal(m), q, { id })).transaction).toEqual({ id, kind: "EARN" });
    expect(codes(await h.as(partnerPrincipal(hotel), q, { id }))).toEqual(["NOT_FOUND"]);
    expect(codes(await h.as(memberPrincipal(randomUUID()), q, { id }))).toEqual(["NOT_FOUND"]);
    expect(codes(await h.as(adminPrincipal(), q, { id: "nope" }))).toEqual(["NOT_FOUND"]);
  });
});

describe("spending", () => {
  const CODE = `mutation($p: ID!, $n: Int!) { createRedemptionCode(partnerId: $p, points: $n) { code points partner { id } expiresAt } }`;
  const REDEEM = `mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) { id kind points } }`;
  const AUTH = `mutation($input: RedeemPointsInput!) { authorizeRedemption(input: $input) { id points status capturedPoints } }`;
  const CAPTURE = `mutation($id: ID!, $n: Int, $k: String!) { captureHold(holdId: $id, points: $n, idempotencyKey: $k) { id kind points } }`;
  const VOID = `mutation($id: ID!) { voidHold(holdId: $id) { id status } }`;
  const REVERSE = `mutation($id: ID!, $n: Int, $k: String!) { reverseTransaction(transactionId: $id, points: $n, idempotencyKey: $k, reason: "returned") { id kind points reverses { id } } }`;

  test("redemption codes: single use, bound to partner and points; partner cannot redeem without one; admin manual redemption", async () => {
    const m = await newMember();
    await h.as(partnerPrincipal(shop), AWARD, { input: { memberId: m, points: 1000, idempotencyKey: randomUUID() } });
    const code = (expectNoGraphQLErrors(await h.as(memberPrincipal(m), CODE, { p: hotel, n: 100 })).createRedemptionCode as { code: string }).code;
    expect(codes(await h.as(partnerPrincipal(shop), REDEEM, { input: { redemptionCode: code, points: 100, idempotencyKey: randomUUID() } }))).toEqual(["REDEMPTION_CODE_INVALID"]);
    expect(codes(await h.as(partnerPrincipal(hotel), REDEEM, { input: { redemptionCode: code, points: 99, idempotencyKey: randomUUID() } }))).toEqual(["REDEMPTION_CODE_INVALID"]);
    expect(codes(await h.as(partnerPrincipal(hotel), REDEEM, { input: { redemptionCode: `${code}x`, points: 100, idempotencyKey: randomUUID() } }))).toEqual(["REDEMPTION_CODE_INVALID"]);
    const r = expectNoGraphQLErrors(await h.as(partnerPrincipal(hotel), REDEEM, { input: { redemptionCode: code, points: 100, idempotencyKey: "r1" } }));
    expect(r.redeemPoints).toMatchObject({ kind: "REDEEM", points: -100 });
    expect(await balanceAfter(partnerPrincipal(hotel), (r.redeemPoints as { id: string }).id)).toBe(900);
    // Replay of the same key returns the original; the code cannot be reused under another key.
    expect(expectNoGraphQLErrors(await h.as(partnerPrincipal(hotel), REDEEM, { input: { redemptionCode: code, points: 100, idempotencyKey: "r1" } })).redeemPoints).toEqual(r.redeemPoints);
    expect(codes(await h.as(partnerPrincipal(hotel), REDEEM, { input: { redemptionCode: code, points: 100, idempotencyKey: "r2" } }))).toEqual(["REDEMPTION_CODE_INVALID"]);
    expect(codes(await h.as(partnerPrincipal(shop), REDEEM, { input: { memberId: m, points: 100, idempotencyKey: randomUUID() } }))).toEqual(["REDEMPTION_CODE_INVALID"]);
    const manual = expectNoGraphQLErrors(await h.as(adminPrincipal("ops-1"), REDEEM, { input: { memberId: m, points: 50, idempotencyKey: randomUUID() } }));
    expect(manual.redeemPoints).toMatchObject({ points: -50 });
    expect(await balanceAfter(adminPrincipal(), (manual.redeemPoints as { id: string }).id, [])).toBe(850);
    // A code for more than the available points is refused at once; one that was covered when
    // created but no longer is fails at the till, and stays unused.
    expect(codes(await h.as(memberPrincipal(m), CODE, { p: hotel, n: 5000 }))).toEqual(["INSUFFICIENT_POINTS"]);
    const big = (expectNoGraphQLErrors(await h.as(memberPrincipal(m), CODE, { p: hotel, n: 800 })).createRedemptionCode as { code: string }).code;
    expectNoGraphQLErrors(await h.as(adminPrincipal("ops-1"), REDEEM, { input: { memberId: m, points: 100, idempotencyKey: randomUUID() } }));
    expect(codes(await h.as(partnerPrincipal(hotel), REDEEM, { input: { redemptionCode: big, points: 800, idempotencyKey: randomUUID() } }))).toEqual(["INSUFFICIENT_POINTS"]);
  });

  test("holds: authorize reserves, partial capture releases the rest, resolve once; reversal never beyond the remainder", async () => {
    const m = await newMember();
    const earn = expectNoGraphQLErrors(await h.as(partnerPrincipal(shop), AWARD, { input: { memberId: m, points: 1000, idempotencyKey: randomUUID() } }));
    const code = (expectNoGraphQLErrors(await h.as(memberPrincipal(m), CODE, { p: hotel, n: 400 })).createRedemptionCode as { code: string }).code;
    const hold = expectNoGraphQLErrors(await h.as(partnerPrincipal(hotel), AUTH, { input: { redemptionCode: code, points: 400, idempotencyKey: randomUUID() } })).authorizeRedemption as { id: string };
    const w = async () => (await prisma().ledgerAccount.findUniqueOrThrow({ where: { code: `wallet:${m}` } })) as { balance: bigint; held: bigint };
    expect(await w()).toMatchObject({ balance: 1000n, held: 400n });
    expect(codes(await h.as(partnerPrincipal(shop), VOID, { id: hold.id }))).toEqual(["NOT_FOUND"]);
    const cap = expectNoGraphQLErrors(await h.as(partnerPrincipal(hotel), CAPTURE, { id: hold.id, n: 150, k: "c1" }));
    expect(cap.captureHold).toMatchObject({ kind: "REDEEM", points: -150 });
    expect(await balanceAfter(partnerPrincipal(hotel), (cap.captureHold as { id: string }).id)).toBe(850);
    expect(await w()).toMatchObject({ balance: 850n, held: 0n });
    expect(codes(await h.as(partnerPrincipal(hotel), VOID, { id: hold.id }))).toEqual(["HOLD_ALREADY_RESOLVED"]);
    expect(codes(await h.as(partnerPrincipal(hotel), CAPTURE, { id: hold.id, n: 10, k: "c2" }))).toEqual(["HOLD_ALREADY_RESOLVED"]);
    // Reverse the redemption partly, then the rest; a third time is refused.
    const capId = (cap.captureHold as { id: string }).id;
    const v1 = expectNoGraphQLErrors(await h.as(partnerPrincipal(hotel), REVERSE, { id: capId, n: 100, k: "v1" })).reverseTransaction as { id: string };
    expect(v1).toMatchObject({ kind: "REVERSAL", points: 100 });
    expect(await balanceAfter(partnerPrincipal(hotel), v1.id)).toBe(950);
    expect(codes(await h.as(partnerPrincipal(hotel), REVERSE, { id: capId, n: 51, k: "v2" }))).toEqual(["BAD_USER_INPUT"]);
    const v3 = expectNoGraphQLErrors(await h.as(partnerPrincipal(hotel), REVERSE, { id: capId, k: "v3" })).reverseTransaction as { id: string };
    expect(v3).toMatchObject({ points: 50 });
    expect(await balanceAfter(partnerPrincipal(hotel), v3.id)).toBe(1000);
    expect(codes(await h.as(partnerPrincipal(shop), REVERSE, { id: capId, k: "v4" }))).toEqual(["NOT_FOUND"]);
    // Earn reversal by its partner.
    const earnId = (earn.awardPoints as { id: string }).id;
    const v5 = expectNoGraphQLErrors(await h.as(partnerPrincipal(shop), REVERSE, { id: earnId, n: 300, k: "v5" })).reverseTransaction as { id: string };
    expect(v5).toMatchObject({ points: -300, reverses: { id: earnId } });
    expect(await balanceAfter(partnerPrincipal(shop), v5.id)).toBe(700);
    const lots = await prisma().lot.findMany({ where: { memberId: m } });
    expect(lots.reduce((s, l) => s + l.remaining, 0n)).toBe(700n);
  });

  test("adjustPoints (admin, reason) and awardPointsBatch (rejections by index, per-item idempotency)", async () => {
    const m = await newMember();
    const adj = await h.as(adminPrincipal(), `mutation($m: ID!) { adjustPoints(memberId: $m, points: 25, reason: "goodwill", idempotencyKey: "adj-1") { kind points balanceAfter } }`, { m });
    expect(expectNoGraphQLErrors(adj).adjustPoints).toEqual({ kind: "ADJUSTMENT", points: 25, balanceAfter: 25 });
    expect(codes(await h.as(partnerPrincipal(shop), `mutation($m: ID!) { adjustPoints(memberId: $m, points: 25, reason: "x", idempotencyKey: "a") { kind } }`, { m }))).toEqual(["FORBIDDEN"]);
    const BATCH = `mutation($inputs: [AwardPointsInput!]!) { awardPointsBatch(inputs: $inputs) { accepted replayed rejected { index code } transactions { id points } } }`;
    const inputs = [
      { memberId: m, points: 10, idempotencyKey: "b1" },
      { memberId: randomUUID(), points: 10, idempotencyKey: "b2" },
      { memberId: m, points: 0, idempotencyKey: "b3" },
      { memberId: m, purchaseAmount: "5", idempotencyKey: "b4" },
      { memberId: m, points: 10, idempotencyKey: "b1" },
    ];
    const r = expectNoGraphQLErrors(await h.as(partnerPrincipal(shop), BATCH, { inputs }));
    expect(r.awardPointsBatch).toEqual({
      accepted: 2,
      replayed: 1,
      rejected: [
        { index: 1, code: "NOT_FOUND" },
        { index: 2, code: "BAD_USER_INPUT" },
      ],
      transactions: [
        { id: expect.any(String), points: 10 },
        { id: expect.any(String), points: 10 },
        { id: expect.any(String), points: 10 },
      ],
    });
    const txs = (r.awardPointsBatch as { transactions: { id: string }[] }).transactions;
    expect(await Promise.all(txs.map((t) => balanceAfter(partnerPrincipal(shop), t.id)))).toEqual([35, 45, 35]);
    // Without the planner's sharedScopes (or without POINTS_BALANCE in them) a partner gets no balance: fail closed.
    const direct = await h.as(partnerPrincipal(shop), `query($id: ID!) { transaction(id: $id) { id balanceAfter } }`, { id: txs[0]!.id });
    expect(direct.data).toEqual({ transaction: { id: txs[0]!.id, balanceAfter: null } });
    expect(direct.errors?.map((e) => e.extensions)).toMatchObject([{ code: "CONSENT_REQUIRED", category: "POINTS_BALANCE" }]);
    await expect(balanceAfter(partnerPrincipal(shop), txs[0]!.id, ["ACTIVITY"])).rejects.toThrow(/CONSENT_REQUIRED/);
    const again = expectNoGraphQLErrors(await h.as(partnerPrincipal(shop), BATCH, { inputs: [inputs[0], inputs[3]] }));
    expect(again.awardPointsBatch).toMatchObject({ accepted: 0, replayed: 2 });
  });

  test("offers: funding in shares, bonus from the budget, per-member limit, return of the unused budget (nothing created or lost)", async () => {
    const m = await newMember();
    const offerId = randomUUID();
    const now = Date.now();
    await h.deliver({
      type: "partner.offer_activated",
      payload: {
        offerId,
        kind: "BONUS_POINTS",
        bonusPoints: 200,
        multiplier: null,
        budgetPoints: 1001,
        perMemberLimit: 1,
        startsAt: new Date(now - 1000).toISOString(),
        endsAt: new Date(now + 86_400_000).toISOString(),
        minTier: null,
        redeemableAtPartnerIds: [shop],
        fundings: [
          { partnerId: shop, shareBps: 5000 },
          { partnerId: hotel, shareBps: 5000 },
        ],
      },
    });
    // Not claimed yet: no bonus.
    expect(codes(await h.as(partnerPrincipal(shop), AWARD, { input: { memberId: m, points: 10, offerId, idempotencyKey: randomUUID() } }))).toEqual(["FORBIDDEN"]);
    await h.deliver({ type: "partner.offer_claimed", payload: { offerId, memberId: m, claimedAt: new Date().toISOString() } });
    const q = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Offer { remainingBudgetPoints } } }`;
    expect(expectNoGraphQLErrors(await h.as(adminPrincipal(), q, { r: [{ __typename: "Offer", id: offerId }] }))._entities).toEqual([{ remainingBudgetPoints: 1001 }]);
    expect(codes(await h.as(partnerPrincipal(shop), AWARD, { input: { memberId: m, points: 10, offerId: randomUUID(), idempotencyKey: randomUUID() } }))).toEqual(["OFFER_NOT_ACTIVE"]);
    const r = expectNoGraphQLErrors(await h.as(partnerPrincipal(shop), AWARD, { input: { memberId: m, points: 10, offerId, idempotencyKey: randomUUID() } }));
    expect(r.awardPoints).toMatchObject({ points: 10 });
    expect(codes(await h.as(partnerPrincipal(shop), AWARD, { input: { memberId: m, points: 10, offerId, idempotencyKey: randomUUID() } }))).toEqual(["OFFER_LIMIT_REACHED"]);
    const wallet = await prisma().ledgerAccount.findUniqueOrThrow({ where: { code: `wallet:${m}` } });
    expect(wallet.balance).toBe(210n);
    await h.deliver({ type: "partner.offer_ended", payload: { offerId } });
    const accts = await prisma().ledgerAccount.findMany({ where: { code: { in: [`budget:${offerId}`] } } });
    expect(accts[0]!.balance).toBe(0n);
    const sum = await prisma().ledgerAccount.aggregate({ _sum: { balance: true } });
    expect(sum._sum.balance).toBe(0n);
  });

  test("owners' changes arrive as events: offer paused/resumed, partner deactivated, earn rule changed", async () => {
    const m = await newMember();
    const offerId = randomUUID();
    const now = Date.now();
    await h.deliver(
      {
        type: "partner.offer_activated",
        payload: {
          offerId,
          kind: "BONUS_POINTS",
          bonusPoints: 5,
          multiplier: null,
          budgetPoints: 100,
          perMemberLimit: 5,
          startsAt: new Date(now - 1000).toISOString(),
          endsAt: new Date(now + 86_400_000).toISOString(),
          minTier: null,
          redeemableAtPartnerIds: [shop],
          fundings: [{ partnerId: shop, shareBps: 10_000 }],
        },
      },
      { type: "partner.offer_claimed", payload: { offerId, memberId: m, claimedAt: new Date().toISOString() } },
      { type: "partner.offer_paused", payload: { offerId } },
    );
    const withOffer = () => h.as(partnerPrincipal(shop), AWARD, { input: { memberId: m, points: 10, offerId, idempotencyKey: randomUUID() } });
    expect(codes(await withOffer())).toEqual(["OFFER_NOT_ACTIVE"]);
    await h.deliver({ type: "partner.offer_resumed", payload: { offerId } });
    expect(codes(await withOffer())).toEqual([]);
    expect((await prisma().ledgerAccount.findUniqueOrThrow({ where: { code: `wallet:${m}` } })).balance).toBe(15n);

    const p = randomUUID();
    const m2 = await newMember(p);
    await h.deliver(registered(p, "1"), { type: "partner.earn_rule_changed", payload: { partnerId: p, earnRate: "3" } });
    const earn = expectNoGraphQLErrors(await h.as(partnerPrincipal(p), AWARD, { input: { memberId: m2, purchaseAmount: "10", idempotencyKey: randomUUID() } }));
    expect(earn.awardPoints).toMatchObject({ points: 30 });
    await h.deliver({ type: "partner.status_changed", payload: { partnerId: p, active: false } });
    expect(codes(await h.as(partnerPrincipal(p), AWARD, { input: { memberId: m2, points: 1, idempotencyKey: randomUUID() } }))).toEqual(["BAD_USER_INPUT"]);
    await h.deliver({ type: "partner.status_changed", payload: { partnerId: p, active: true } });
    expect(codes(await h.as(partnerPrincipal(p), AWARD, { input: { memberId: m2, points: 1, idempotencyKey: randomUUID() } }))).toEqual([]);
  });
});
