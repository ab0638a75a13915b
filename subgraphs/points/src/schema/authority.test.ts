import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { onPostgres } from "../../../../tests/support/db.ts";
import { delegatedPrincipal, expectNoGraphQLErrors, partnerViewPrincipal } from "../../../../tests/support/subgraph.ts";
import { prisma } from "../db.ts";
import { settings, useSettings } from "../config.ts";
import { createRedemptionCode } from "../redemption/redeem.ts";
import { adminPrincipal, enrolled, memberPrincipal, partnerPrincipal, type PointsHarness, registered, startPointsHarness } from "../testing/harness.ts";

/**
 * Issue 13 in the points subgraph: the exchanged token that created a redemption code for its
 * partner and spent the member's whole balance. Now a redemption code needs the member's own
 * authority (member:redeem); an app may create codes only for its own partner and within the
 * member's daily limit for it; an app reads wallet, tier and activity only with member:wallet
 * (logged as points.data_accessed under its partner); a partner-view token only reads its member's
 * consented fields and changes nothing.
 */
let h: PointsHarness;
const shop = randomUUID();
const hotel = randomUUID();
beforeAll(async () => {
  h = await startPointsHarness();
  await h.deliver(registered(shop), registered(hotel));
});
afterAll(() => h?.close());
afterEach(() => useSettings({}));

const codes = (r: { errors?: { extensions?: Record<string, unknown> }[] }) => (r.errors ?? []).map((e) => e.extensions?.code);
const AWARD = `mutation($input: AwardPointsInput!) { awardPoints(input: $input) { id } }`;
const CODE = `mutation($p: ID!, $n: Int!) { createRedemptionCode(partnerId: $p, points: $n) { code points partner { id } } }`;
const REDEEM = `mutation($input: RedeemPointsInput!) { redeemPoints(input: $input) { id points } }`;
const ENTITY = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Member { id wallet { balance } tier { tier } activity(first: 1) { edges { node { kind } } } } } }`;

async function memberWith(points: number) {
  const m = randomUUID();
  await h.deliver(enrolled(m, shop));
  expectNoGraphQLErrors(await h.as(partnerPrincipal(shop), AWARD, { input: { memberId: m, points, idempotencyKey: randomUUID() } }));
  return m;
}
const dataAccessed = (memberId: string) => prisma().pointsOutboxEvent.findMany({ where: { type: "points.data_accessed", payload: { path: ["memberId"], equals: memberId } } });

describe("createRedemptionCode needs the member's own authority", () => {
  test("a partner token, a partner-view token (the attack) and an app without member:redeem are FORBIDDEN; nothing is created or spent", async () => {
    const m = await memberWith(1000);
    const refused = [partnerPrincipal(shop), partnerViewPrincipal(shop, m), delegatedPrincipal(m, shop, ["member:wallet", "member:offers", "member:consents"], { redeemDailyLimit: 5000 })];
    for (const p of refused) {
      const r = await h.as(p, CODE, { p: shop, n: 1000 });
      expect(codes(r), `${p.role}/${p.authority}`).toEqual(["FORBIDDEN"]);
      // The partner-view token is stopped before the field (it may not change anything at all).
      if (p.authority !== "PARTNER_VIEW") expect(r.errors?.[0]?.extensions?.scope).toBe("member:redeem");
      else expect(r.errors?.[0]?.message).toMatch(/partner-view token/);
    }
    expect(await prisma().pointsRedemptionCode.count({ where: { memberId: m } })).toBe(0);
    // And the partner cannot spend without a code, exchanged token or not.
    for (const p of [partnerPrincipal(shop), partnerViewPrincipal(shop, m)]) {
      const r = await h.as(p, REDEEM, { input: { memberId: m, points: 1000, idempotencyKey: randomUUID() } });
      expect(codes(r)[0]).toMatch(/REDEMPTION_CODE_INVALID|FORBIDDEN/);
    }
    expect(codes(await h.as(partnerViewPrincipal(shop, m), REDEEM, { input: { memberId: m, points: 1000, idempotencyKey: randomUUID() } }))).toEqual(["FORBIDDEN"]);
  });

  test("an app with member:redeem: only for its own partner, at most its daily limit; the member's own session has no cap", async () => {
    const m = await memberWith(5000);
    const app = delegatedPrincipal(m, shop, ["member:redeem"], { redeemDailyLimit: 300 });
    const other = await h.as(app, CODE, { p: hotel, n: 10 });
    expect(codes(other)).toEqual(["FORBIDDEN"]);
    expect(other.errors?.[0]?.message).toMatch(/its own partner/);

    const first = expectNoGraphQLErrors(await h.as<{ createRedemptionCode: { code: string; points: number } }>(app, CODE, { p: shop, n: 200 }));
    expect(first.createRedemptionCode.points).toBe(200);
    const over = await h.as(app, CODE, { p: shop, n: 101 });
    expect(codes(over)).toEqual(["FORBIDDEN"]);
    expect(over.errors?.[0]?.extensions).toMatchObject({ scope: "member:redeem", dailyLimitPoints: 300, remainingPoints: 100 });
    expectNoGraphQLErrors(await h.as(app, CODE, { p: shop, n: 100 }));
    expect(codes(await h.as(app, CODE, { p: shop, n: 1 }))).toEqual(["FORBIDDEN"]);
    // Another grant of the same app counts against the same day; the member's session is not capped.
    expect(codes(await h.as(delegatedPrincipal(m, shop, ["member:redeem"], { redeemDailyLimit: 300, grantId: "a-new-grant" }), CODE, { p: shop, n: 1 }))).toEqual(["FORBIDDEN"]);
    expectNoGraphQLErrors(await h.as(memberPrincipal(m), CODE, { p: shop, n: 3000 }));
    // The code the app created is spent by the partner as any code is.
    const spent = expectNoGraphQLErrors(
      await h.as<{ redeemPoints: { points: number } }>(partnerPrincipal(shop), REDEEM, { input: { redemptionCode: first.createRedemptionCode.code, points: 200, idempotencyKey: randomUUID() } }),
    );
    expect(spent.redeemPoints.points).toBe(-200);
    expect(await prisma().pointsRedemptionCode.count({ where: { memberId: m, clientId: app.clientId } })).toBe(2);
  });

  test("not enough points: an app without member:wallet learns only that, not the balance; the member's session sees it", async () => {
    const m = await memberWith(70);
    const app = await h.as(delegatedPrincipal(m, shop, ["member:redeem"], { redeemDailyLimit: 1000 }), CODE, { p: shop, n: 100 });
    expect(codes(app)).toEqual(["INSUFFICIENT_POINTS"]);
    expect(app.errors?.[0]?.extensions).not.toHaveProperty("available");
    const own = await h.as(memberPrincipal(m), CODE, { p: shop, n: 100 });
    expect(own.errors?.[0]?.extensions).toMatchObject({ code: "INSUFFICIENT_POINTS", points: 100, available: 70 });
  });

  test("a grant without a daily limit creates no codes (fail closed)", async () => {
    const m = await memberWith(100);
    const r = await h.as(delegatedPrincipal(m, shop, ["member:redeem"]), CODE, { p: shop, n: 1 });
    expect(codes(r)).toEqual(["FORBIDDEN"]);
    expect(r.errors?.[0]?.message).toMatch(/daily redemption limit/);
  });

  test("the day is the coalition's (HUB_TIME_ZONE): codes of the previous local day and codes that expired unused do not count", async () => {
    useSettings({ timeZone: "Asia/Shanghai" });
    const m = await memberWith(5000);
    const app = delegatedPrincipal(m, shop, ["member:redeem"], { redeemDailyLimit: 100 });
    const ttlMs = settings().redemptionCodeTtlSeconds * 1000;
    // 30 s before and after a Shanghai midnight (16:00 UTC): two local days, though the first code is still valid after it.
    const shanghaiMidnight = (d: Date) => {
      const local = new Date(d.getTime() + 8 * 3600_000);
      return new Date(Date.UTC(local.getUTCFullYear(), local.getUTCMonth(), local.getUTCDate()) - 8 * 3600_000);
    };
    const midnight = shanghaiMidnight(new Date(Date.now() + 86_400_000)); // the next Shanghai midnight
    const before = new Date(midnight.getTime() - 30_000);
    const after = new Date(midnight.getTime() + 30_000);
    await createRedemptionCode(app, { partnerId: shop, points: 100 }, { now: before });
    await expect(createRedemptionCode(app, { partnerId: shop, points: 1 }, { now: new Date(before.getTime() + 10_000) })).rejects.toMatchObject({ extensions: { code: "FORBIDDEN" } });
    // The new local day starts at 16:00 UTC: the limit is available again even though that code is still valid.
    await createRedemptionCode(app, { partnerId: shop, points: 100 }, { now: after });
    await expect(createRedemptionCode(app, { partnerId: shop, points: 1 }, { now: after })).rejects.toMatchObject({ extensions: { code: "FORBIDDEN", remainingPoints: 0 } });
    // A code that expired unused gives its points back to the day's allowance.
    expect(after.getTime() + ttlMs + 1000 < midnight.getTime() + 86_400_000).toBe(true);
    await createRedemptionCode(app, { partnerId: shop, points: 100 }, { now: new Date(after.getTime() + ttlMs + 1000) });
  });

  test("concurrent codes of one app never exceed the daily limit together", async () => {
    const m = await memberWith(10_000);
    const app = delegatedPrincipal(m, shop, ["member:redeem"], { redeemDailyLimit: 1000 });
    const n = onPostgres() ? 12 : 6;
    const results = await Promise.allSettled(Array.from({ length: n }, () => createRedemptionCode(app, { partnerId: shop, points: 400 })));
    expect(results.filter((r) => r.status === "fulfilled")).toHaveLength(2);
    for (const r of results) if (r.status === "rejected") expect(r.reason).toMatchObject({ extensions: { code: "FORBIDDEN" } });
    expect((await prisma().pointsRedemptionCode.aggregate({ where: { memberId: m }, _sum: { points: true } }))._sum.points).toBe(800);
  });
});

describe("an app reads wallet, tier and activity only with member:wallet, and is access-logged", () => {
  test("without the scope: null with FORBIDDEN (scope member:wallet), nothing logged; with it: answered, one points.data_accessed under the app's partner", async () => {
    const m = await memberWith(1500);
    const without = await h.as<{ _entities: Record<string, unknown>[] }>(delegatedPrincipal(m, shop, ["member:profile", "member:offers"]), ENTITY, {
      r: [{ __typename: "Member", id: m, sharedScopes: ["TIER", "POINTS_BALANCE", "ACTIVITY"] }],
    });
    expect(without.data?._entities).toEqual([{ id: m, wallet: null, tier: null, activity: null }]);
    expect((without.errors ?? []).map((e) => [e.extensions?.code, e.extensions?.scope])).toEqual([
      ["FORBIDDEN", "member:wallet"],
      ["FORBIDDEN", "member:wallet"],
      ["FORBIDDEN", "member:wallet"],
    ]);
    expect(await dataAccessed(m)).toHaveLength(0);

    const ok = expectNoGraphQLErrors(
      await h.as<{ _entities: { wallet: { balance: number }; tier: { tier: string } }[] }>(delegatedPrincipal(m, hotel, ["member:wallet"]), ENTITY, {
        r: [{ __typename: "Member", id: m, sharedScopes: ["TIER", "POINTS_BALANCE", "ACTIVITY", "PROFILE_BASIC", "PROFILE_CONTACT", "SEGMENTS"] }],
      }),
    );
    expect(ok._entities[0]).toMatchObject({ wallet: { balance: 1500 }, tier: { tier: "SILVER" } });
    const events = await dataAccessed(m);
    expect(events).toHaveLength(1);
    expect(events[0]!.payload).toMatchObject({ memberId: m, partnerId: hotel, categories: ["TIER", "POINTS_BALANCE", "ACTIVITY"], purpose: "ACCOUNT_SERVICING" });
    // The member's own session is neither gated nor logged.
    expectNoGraphQLErrors(await h.as(memberPrincipal(m), ENTITY, { r: [{ __typename: "Member", id: m, sharedScopes: [] }] }));
    expect(await dataAccessed(m)).toHaveLength(1);
  });

  test("transaction(id) shows a balance: an app needs member:wallet", async () => {
    const m = randomUUID();
    await h.deliver(enrolled(m, shop));
    const t = expectNoGraphQLErrors(await h.as<{ awardPoints: { id: string } }>(partnerPrincipal(shop), AWARD, { input: { memberId: m, points: 10, idempotencyKey: randomUUID() } }));
    const q = `query($id: ID!) { transaction(id: $id) { id balanceAfter } }`;
    const r = await h.as(delegatedPrincipal(m, shop, ["member:profile"]), q, { id: t.awardPoints.id });
    expect(r.errors?.map((e) => [e.extensions?.code, e.extensions?.scope])).toEqual([["FORBIDDEN", "member:wallet"]]);
    expect(expectNoGraphQLErrors(await h.as<{ transaction: { balanceAfter: number } }>(delegatedPrincipal(m, shop, ["member:wallet"]), q, { id: t.awardPoints.id })).transaction.balanceAfter).toBe(10);
  });
});

describe("a partner-view token reads its member as the partner does and changes nothing", () => {
  test("wallet/tier/activity consent-gated and logged like the partner's own reads; transactions by id, settlement and every mutation FORBIDDEN", async () => {
    const m = await memberWith(700);
    const view = partnerViewPrincipal(shop, m);
    const denied = await h.as(view, ENTITY, { r: [{ __typename: "Member", id: m, sharedScopes: ["TIER"] }] });
    expect(codes(denied).sort()).toEqual(["CONSENT_REQUIRED", "CONSENT_REQUIRED"]);
    expect((await dataAccessed(m)).map((e) => e.payload)).toEqual([expect.objectContaining({ partnerId: shop, categories: ["TIER"], purpose: "ACCOUNT_SERVICING" })]);

    const t = expectNoGraphQLErrors(await h.as<{ awardPoints: { id: string } }>(partnerPrincipal(shop), AWARD, { input: { memberId: m, points: 5, idempotencyKey: randomUUID() } }));
    const refused: [string, Record<string, unknown>][] = [
      [`query($id: ID!) { transaction(id: $id) { id } }`, { id: t.awardPoints.id }],
      [`{ settlementRuns(first: 1) { edges { node { id } } } }`, {}],
      [AWARD, { input: { memberId: m, points: 5, idempotencyKey: randomUUID() } }],
      [`mutation($id: ID!) { reverseTransaction(transactionId: $id, idempotencyKey: "r1", reason: "x") { id } }`, { id: t.awardPoints.id }],
    ];
    for (const [q, v] of refused) expect(codes(await h.as(view, q, v)), q).toEqual(["FORBIDDEN"]);
    expect(codes(await h.as(partnerPrincipal(shop), refused[0]![0], refused[0]![1]))).toEqual([]);
    expect(codes(await h.as(adminPrincipal(), refused[1]![0], {}))).toEqual([]);
  });
});

describe("a PointsTransaction reference answers only where transaction(id:) would", () => {
  test("an app acting for the member without member:wallet gets null with FORBIDDEN (scope member:wallet); with it, or the member itself, the transaction", async () => {
    const m = randomUUID();
    await h.deliver(enrolled(m, shop));
    const { awardPoints } = expectNoGraphQLErrors(await h.as<{ awardPoints: { id: string } }>(partnerPrincipal(shop), AWARD, { input: { memberId: m, points: 10, idempotencyKey: randomUUID() } }));
    const REF = `query($r: [_Any!]!) { _entities(representations: $r) { ... on PointsTransaction { id points } } }`;
    const r = { r: [{ __typename: "PointsTransaction", id: awardPoints.id }] };
    const without = await h.as<{ _entities: unknown[] }>(delegatedPrincipal(m, shop, ["member:offers", "member:profile"]), REF, r);
    expect(without.data?._entities).toEqual([null]);
    expect((without.errors ?? []).map((e) => [e.extensions?.code, e.extensions?.scope])).toEqual([["FORBIDDEN", "member:wallet"]]);
    expect(expectNoGraphQLErrors(await h.as<{ _entities: unknown[] }>(delegatedPrincipal(m, shop, ["member:wallet"]), REF, r))._entities).toEqual([{ id: awardPoints.id, points: 10 }]);
    expect(expectNoGraphQLErrors(await h.as<{ _entities: unknown[] }>(memberPrincipal(m), REF, r))._entities).toEqual([{ id: awardPoints.id, points: 10 }]);
  });
});
