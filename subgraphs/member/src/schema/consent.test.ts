import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { callInternal, expectNoGraphQLErrors } from "../../../../tests/support/subgraph.ts";
import { prisma } from "../db.ts";
import { resolveSettings } from "../config.ts";
import { audienceOverlap } from "../services/audience.ts";
import { DAY_MS } from "../services/domain.ts";
import { adminPrincipal, consentTo, enrolAt, linkAt, type MemberHarness, memberPrincipal, newPartnerId, partnerPrincipal, startMemberHarness } from "../testing/harness.ts";

let h: MemberHarness;
const shop = newPartnerId();
const fresh = newPartnerId();
const hotel = newPartnerId();

beforeAll(async () => {
  h = await startMemberHarness({ minCohort: 3, insightGranularity: 1, insightStabilityHours: 0 });
});
afterAll(() => h?.close());

const codes = (r: { errors?: { extensions?: Record<string, unknown> }[] }) => (r.errors ?? []).map((e) => e.extensions?.code);

const profile = `query Profile($id: ID!) { member(id: $id) { id joinedAt displayName email phone birthday lifecycle } }`;
type Profile = { member: Record<string, unknown> | null };

describe("field-level consent enforcement", () => {
  test("a partner without consent gets null + CONSENT_REQUIRED (with the category) per gated field; the rest answers", async () => {
    const m = await enrolAt(shop, { displayName: "Li Na", email: `li.na.${randomUUID().slice(0, 6)}@example.com` });
    await consentTo(m.id, shop, ["PROFILE_BASIC"], "ACCOUNT_SERVICING");
    const r = await h.as<Profile>(partnerPrincipal(shop, "ACCOUNT_SERVICING"), profile, { id: m.id });
    expect(r.data?.member).toEqual({ id: m.id, joinedAt: m.joinedAt.toISOString(), displayName: "Li Na", email: null, phone: null, birthday: "1990-04-01", lifecycle: null });
    const errs = (r.errors ?? []).map((e) => ({ path: e.path?.join("."), code: e.extensions?.code, category: e.extensions?.category })).sort((a, b) => a.path!.localeCompare(b.path!));
    expect(errs).toEqual([
      { path: "member.email", code: "CONSENT_REQUIRED", category: "PROFILE_CONTACT" },
      { path: "member.lifecycle", code: "CONSENT_REQUIRED", category: "SEGMENTS" },
      { path: "member.phone", code: "CONSENT_REQUIRED", category: "PROFILE_CONTACT" },
    ]);
  });

  test("grant PROFILE_CONTACT for OFFER_TARGETING (as the member, over GraphQL) → visible under that purpose only; revoke → hidden on the next request", async () => {
    const m = await enrolAt(shop);
    const q = `query($id: ID!) { member(id: $id) { email phone } }`;
    expect(codes(await h.as(partnerPrincipal(shop, "OFFER_TARGETING"), q, { id: m.id }))).toEqual(["CONSENT_REQUIRED", "CONSENT_REQUIRED"]);

    const grant = `mutation($input: GrantConsentInput!) { grantConsent(input: $input) { id status purpose categories partner { id } collectionMethod noticeVersion grantedAt expiresAt revokedAt } }`;
    const g = expectNoGraphQLErrors(
      await h.as<{ grantConsent: { id: string; status: string; collectionMethod: string } }>(memberPrincipal(m.id), grant, {
        input: { partnerId: shop, categories: ["PROFILE_CONTACT"], purpose: "OFFER_TARGETING", noticeVersion: "v3", jurisdiction: "cn", policyUrl: "https://shop.example/privacy" },
      }),
    );
    expect(g.grantConsent).toMatchObject({ status: "ACTIVE", collectionMethod: "MEMBER_APP", purpose: "OFFER_TARGETING", categories: ["PROFILE_CONTACT"], partner: { id: shop }, revokedAt: null });

    expect(expectNoGraphQLErrors(await h.as(partnerPrincipal(shop, "OFFER_TARGETING"), q, { id: m.id }))).toEqual({ member: { email: m.email, phone: m.phone } });
    expect(codes(await h.as(partnerPrincipal(shop, "ANALYTICS"), q, { id: m.id }))).toEqual(["CONSENT_REQUIRED", "CONSENT_REQUIRED"]);
    expect(codes(await h.as(partnerPrincipal(shop, "ACCOUNT_SERVICING"), q, { id: m.id }))).toEqual(["CONSENT_REQUIRED", "CONSENT_REQUIRED"]);
    // Consent given to one partner never opens the member to another (here: not even visible).
    await linkAt(hotel, m.email);
    expect(codes(await h.as(partnerPrincipal(hotel, "OFFER_TARGETING"), q, { id: m.id }))).toEqual(["CONSENT_REQUIRED", "CONSENT_REQUIRED"]);

    const revoke = `mutation($id: ID!) { revokeConsent(consentId: $id) { id status revokedAt } }`;
    const rv = expectNoGraphQLErrors(await h.as<{ revokeConsent: { status: string; revokedAt: string } }>(memberPrincipal(m.id), revoke, { id: g.grantConsent.id }));
    expect(rv.revokeConsent.status).toBe("REVOKED");
    const after = await h.as<{ member: { email: string | null } }>(partnerPrincipal(shop, "OFFER_TARGETING"), q, { id: m.id });
    expect(after.data?.member).toEqual({ email: null, phone: null });
    expect(codes(after)).toEqual(["CONSENT_REQUIRED", "CONSENT_REQUIRED"]);

    // Revoking again is a no-op: same receipt, one event only.
    const again = expectNoGraphQLErrors(await h.as<{ revokeConsent: { revokedAt: string } }>(memberPrincipal(m.id), revoke, { id: g.grantConsent.id }));
    expect(again.revokeConsent.revokedAt).toBe(rv.revokeConsent.revokedAt);
    const events = await prisma().memberOutboxEvent.findMany({ where: { type: "member.consent_revoked", payload: { path: ["consentId"], equals: g.grantConsent.id } } });
    expect(events).toHaveLength(1);
    expect(events[0]!.payload).toMatchObject({ consentId: g.grantConsent.id, memberId: m.id, partnerId: shop, purpose: "OFFER_TARGETING", categories: ["PROFILE_CONTACT"] });
  });

  test("an expired consent stops counting by itself and shows EXPIRED", async () => {
    const m = await enrolAt(shop);
    const past = new Date(Date.now() - 10 * DAY_MS);
    const c = await consentTo(m.id, shop, ["PROFILE_CONTACT"], "OFFER_TARGETING", { now: past, expiresAt: new Date(past.getTime() + DAY_MS) });
    const live = await consentTo(m.id, shop, ["PROFILE_BASIC"], "OFFER_TARGETING", { expiresAt: new Date(Date.now() + DAY_MS) });
    const r = await h.as<Profile>(partnerPrincipal(shop, "OFFER_TARGETING"), `query($id: ID!) { member(id: $id) { email displayName } }`, { id: m.id });
    expect(r.data?.member).toEqual({ email: null, displayName: m.displayName });
    expect(codes(r)).toEqual(["CONSENT_REQUIRED"]);
    const mine = expectNoGraphQLErrors(await h.as<{ me: { consents: { id: string; status: string }[] } }>(memberPrincipal(m.id), `{ me { consents { id status } } }`));
    expect(mine.me.consents).toEqual(
      expect.arrayContaining([
        { id: c.id, status: "EXPIRED" },
        { id: live.id, status: "ACTIVE" },
      ]),
    );
  });

  test("members read themselves and admins read anyone without consent", async () => {
    const m = await enrolAt(shop);
    const self = expectNoGraphQLErrors(await h.as<{ me: Record<string, unknown> }>(memberPrincipal(m.id), `{ me { email phone displayName birthday lifecycle } }`));
    expect(self.me).toEqual({ email: m.email, phone: m.phone, displayName: m.displayName, birthday: m.birthday, lifecycle: "NEW" });
    const admin = expectNoGraphQLErrors(await h.as<Profile>(adminPrincipal(), profile, { id: m.id }));
    expect(admin.member).toMatchObject({ email: m.email, phone: m.phone, lifecycle: "NEW" });
  });

  test("Member.consents: the member sees every receipt; a partner only those given to it", async () => {
    const m = await enrolAt(shop);
    await linkAt(hotel, m.email);
    const a = await consentTo(m.id, shop, ["TIER"], "OFFER_TARGETING");
    const b = await consentTo(m.id, hotel, ["TIER"], "OFFER_TARGETING");
    const q = `query($id: ID!) { member(id: $id) { consents { id partner { id } } } }`;
    const own = expectNoGraphQLErrors(await h.as<{ member: { consents: { id: string }[] } }>(memberPrincipal(m.id), q, { id: m.id }));
    expect(own.member.consents.map((c) => c.id).sort()).toEqual([a.id, b.id].sort());
    const asShop = expectNoGraphQLErrors(await h.as<{ member: { consents: { id: string }[] } }>(partnerPrincipal(shop), q, { id: m.id }));
    expect(asShop.member.consents.map((c) => c.id)).toEqual([a.id]);
  });

  test("grant/revoke rules: only the member, only linked partners, future expiry, at least one category; another member's receipt is NOT_FOUND", async () => {
    const m = await enrolAt(shop);
    const other = await enrolAt(shop);
    const grant = `mutation($input: GrantConsentInput!) { grantConsent(input: $input) { id } }`;
    const input = { partnerId: shop, categories: ["TIER"], purpose: "ANALYTICS", noticeVersion: "v1" };
    expect(codes(await h.as(partnerPrincipal(shop), grant, { input }))).toEqual(["FORBIDDEN"]);
    const notLinked = await h.as(memberPrincipal(m.id), grant, { input: { ...input, partnerId: fresh } });
    expect(codes(notLinked)).toEqual(["BAD_USER_INPUT"]);
    expect(notLinked.errors?.[0]?.extensions?.field).toBe("partnerId");
    expect(codes(await h.as(memberPrincipal(m.id), grant, { input: { ...input, categories: [] } }))).toEqual(["BAD_USER_INPUT"]);
    expect(codes(await h.as(memberPrincipal(m.id), grant, { input: { ...input, expiresAt: "2020-01-01T00:00:00Z" } }))).toEqual(["BAD_USER_INPUT"]);
    expect(codes(await h.as(memberPrincipal(m.id), grant, { input: { ...input, noticeVersion: " " } }))).toEqual(["BAD_USER_INPUT"]);
    expect(codes(await h.as(memberPrincipal(m.id), grant, { input: { ...input, policyUrl: "javascript:alert(1)" } }))).toEqual(["BAD_USER_INPUT"]);
    const c = await consentTo(m.id, shop, ["TIER"], "ANALYTICS");
    const revoke = `mutation($id: ID!) { revokeConsent(consentId: $id) { id } }`;
    expect(codes(await h.as(memberPrincipal(other.id), revoke, { id: c.id }))).toEqual(["NOT_FOUND"]);
    expect(codes(await h.as(memberPrincipal(m.id), revoke, { id: "not-a-uuid" }))).toEqual(["NOT_FOUND"]);
    expect(codes(await h.as(partnerPrincipal(shop), revoke, { id: c.id }))).toEqual(["FORBIDDEN"]);
  });
});

describe("data-access log", () => {
  test("lists exactly the reads made, written with one INSERT per request", async () => {
    const ms = [await enrolAt(shop), await enrolAt(shop), await enrolAt(shop)];
    for (const m of ms) await consentTo(m.id, shop, ["PROFILE_CONTACT", "PROFILE_BASIC"], "OFFER_TARGETING");
    // Only consented, gated fields that were actually selected count: c reads nothing gated, a.lifecycle is refused.
    const q = `query ShopCrmSync($a: ID!, $b: ID!, $c: ID!) {
      a: member(id: $a) { email displayName lifecycle }
      b: member(id: $b) { phone }
      c: member(id: $c) { joinedAt }
    }`;
    const before = h.accessLogInserts();
    const r = await h.as(partnerPrincipal(shop, "OFFER_TARGETING"), q, { a: ms[0]!.id, b: ms[1]!.id, c: ms[2]!.id });
    expect(codes(r)).toEqual(["CONSENT_REQUIRED"]); // a.lifecycle: SEGMENTS not consented
    // Written before the response was sent, in one INSERT.
    expect(h.accessLogInserts() - before).toBe(1);
    const rows = await prisma().dataAccessEvent.findMany({ where: { memberId: { in: ms.map((m) => m.id) } }, orderBy: { id: "asc" } });
    expect(rows.map((e) => ({ memberId: e.memberId, categories: e.categories }))).toEqual(
      expect.arrayContaining([
        { memberId: ms[0]!.id, categories: ["PROFILE_BASIC", "PROFILE_CONTACT"] },
        { memberId: ms[1]!.id, categories: ["PROFILE_CONTACT"] },
      ]),
    );
    expect(rows).toHaveLength(2); // joinedAt is not consent-scoped; a refused read discloses nothing
    expect(new Set(rows.map((e) => e.requestId)).size).toBe(1);
    for (const e of rows) expect(e).toMatchObject({ partnerId: shop, purpose: "OFFER_TARGETING", operationName: null, actorRole: "PARTNER" });

    // The member sees the log; the partner sees only its own reads; another partner nothing of the first's.
    const log = `query($first: Int, $after: String) { me { dataAccessLog(first: $first, after: $after) { edges { cursor node { partner { id } categories purpose operationName at } } pageInfo { hasNextPage endCursor } } } }`;
    const mine = expectNoGraphQLErrors(await h.as<{ me: { dataAccessLog: { edges: { node: { categories: string[] } }[] } } }>(memberPrincipal(ms[0]!.id), log));
    expect(mine.me.dataAccessLog.edges.map((e) => e.node)).toEqual([
      { partner: { id: shop }, categories: ["PROFILE_BASIC", "PROFILE_CONTACT"], purpose: "OFFER_TARGETING", operationName: null, at: rows[0]!.at.toISOString() },
    ]);
    // Nothing the member reads about itself is logged.
    expect(await prisma().dataAccessEvent.count({ where: { memberId: ms[0]!.id } })).toBe(1);
  });

  test("operation name, admin PII reads (logged, not listed as partner reads), points.data_accessed events, pagination", async () => {
    const m = await enrolAt(shop);
    await linkAt(hotel, m.email);
    await consentTo(m.id, shop, ["PROFILE_BASIC"], "ACCOUNT_SERVICING");
    const res = await fetch(h.url, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        "x-hub-identity": await (await import("../../../../lib/internal-auth.ts")).signIdentity((await import("../../../../tests/support/subgraph.ts")).testInternalKey, partnerPrincipal(shop, "ACCOUNT_SERVICING")),
        "x-hub-operation": "CheckoutGreeting",
        "x-request-id": "req-checkout-1",
      },
      body: JSON.stringify({ query: `query CheckoutGreeting($id: ID!) { member(id: $id) { displayName } }`, variables: { id: m.id } }),
    });
    expect(((await res.json()) as { data: unknown }).data).toEqual({ member: { displayName: m.displayName } });
    expectNoGraphQLErrors(await h.as(adminPrincipal("ops-alice"), `query($id: ID!) { member(id: $id) { email lifecycle } }`, { id: m.id }));

    // The points subgraph reports its own consent-scoped reads as events; redelivery is a no-op.
    const event = {
      id: randomUUID(),
      type: "points.data_accessed",
      payload: { memberId: m.id, partnerId: hotel, categories: ["POINTS_BALANCE", "TIER"], purpose: "OFFER_TARGETING", operationName: "Wallet", requestId: "req-w", at: new Date(Date.now() + 1000).toISOString() },
      createdAt: new Date().toISOString(),
    };
    expect((await callInternal(h.url, "events", { events: [event, event] })).status).toBe(200);
    await callInternal(h.url, "events", { events: [event] });

    const all = await prisma().dataAccessEvent.findMany({ where: { memberId: m.id }, orderBy: { id: "asc" } });
    expect(all.map((e) => [e.actorRole, e.actor, e.categories, e.operationName, e.requestId])).toEqual([
      ["PARTNER", `client-${shop}`, ["PROFILE_BASIC"], "CheckoutGreeting", "req-checkout-1"],
      ["ADMIN", "ops-alice", ["PROFILE_CONTACT"], null, expect.any(String)],
      ["PARTNER", `partner:${hotel}`, ["TIER", "POINTS_BALANCE"], "Wallet", "req-w"],
    ]);

    const log = `query($first: Int, $after: String) { me { dataAccessLog(first: $first, after: $after) { edges { cursor node { partner { id } operationName } } pageInfo { hasNextPage endCursor } } } }`;
    type Log = { me: { dataAccessLog: { edges: { cursor: string; node: { partner: { id: string }; operationName: string } }[]; pageInfo: { hasNextPage: boolean; endCursor: string } } } };
    const p1 = expectNoGraphQLErrors(await h.as<Log>(memberPrincipal(m.id), log, { first: 1 }));
    expect(p1.me.dataAccessLog.edges.map((e) => e.node.operationName)).toEqual(["Wallet"]);
    expect(p1.me.dataAccessLog.pageInfo.hasNextPage).toBe(true);
    const p2 = expectNoGraphQLErrors(await h.as<Log>(memberPrincipal(m.id), log, { first: 1, after: p1.me.dataAccessLog.pageInfo.endCursor }));
    expect(p2.me.dataAccessLog.edges.map((e) => e.node.operationName)).toEqual(["CheckoutGreeting"]);
    expect(p2.me.dataAccessLog.pageInfo.hasNextPage).toBe(false);
    expect(codes(await h.as(memberPrincipal(m.id), log, { first: 1000 }))).toEqual(["BAD_USER_INPUT"]);
    expect(codes(await h.as(memberPrincipal(m.id), log, { after: "garbage" }))).toEqual(["BAD_USER_INPUT"]);

    // A partner sees only its own reads in the member's log.
    const asHotel = expectNoGraphQLErrors(
      await h.as<{ member: Log["me"] }>(partnerPrincipal(hotel), `query($id: ID!) { member(id: $id) { dataAccessLog { edges { node { partner { id } operationName } } } } }`, { id: m.id }),
    );
    expect(asHotel.member.dataAccessLog.edges.map((e) => e.node)).toEqual([{ partner: { id: hotel }, operationName: "Wallet" }]);
  });
});

describe("lifecycle and RFM from points.activity", () => {
  test("NEW → DORMANT → ACTIVE as activity arrives; out-of-order and redelivered events change nothing twice", async () => {
    const m = await enrolAt(shop, { joinedAt: new Date(Date.now() - 45 * DAY_MS) });
    const seg = async () =>
      expectNoGraphQLErrors(
        await h.as<{ _entities: { segment: string; rfm: { recency: number; frequency: number; monetary: number; activities12m: number; earnedPoints12m: string } }[] }>(
          adminPrincipal(),
          `query($r: [_Any!]!) { _entities(representations: $r) { ... on Member { segment rfm { recency frequency monetary activities12m earnedPoints12m } } } }`,
          { r: [{ __typename: "Member", id: m.id }] },
        ),
      )._entities[0]!;
    expect((await seg()).segment).toBe("DORMANT"); // no activity in the 30 days after joining
    const ev = (daysAgo: number, kind: string, points: number) => ({
      id: randomUUID(),
      type: "points.activity",
      payload: { memberId: m.id, at: new Date(Date.now() - daysAgo * DAY_MS).toISOString(), kind, points, partnerId: shop },
      createdAt: new Date().toISOString(),
    });
    const recent = ev(2, "EARN", 1200);
    expect((await callInternal(h.url, "events", { events: [recent, ev(10, "EARN", 300), ev(5, "REDEEM", -100), recent] })).status).toBe(200);
    const s = await seg();
    expect(s.segment).toBe("ACTIVE");
    expect(s.rfm).toEqual({ recency: 5, frequency: 2, monetary: 3, activities12m: 3, earnedPoints12m: "1500" });
    const row = await prisma().member.findUniqueOrThrow({ where: { id: m.id } });
    expect(Math.round((Date.now() - row.lastActivityAt!.getTime()) / DAY_MS)).toBe(2);
  });

  test("thresholds: DORMANT after 90 quiet days, CHURNED after 180", async () => {
    const { lifecycleOf } = await import("../services/lifecycle.ts");
    const s = resolveSettings();
    const now = new Date();
    const ago = (d: number) => new Date(now.getTime() - d * DAY_MS);
    expect(lifecycleOf({ joinedAt: ago(10), lastActivityAt: null }, now, s)).toBe("NEW");
    expect(lifecycleOf({ joinedAt: ago(31), lastActivityAt: null }, now, s)).toBe("DORMANT");
    expect(lifecycleOf({ joinedAt: ago(300), lastActivityAt: ago(89) }, now, s)).toBe("ACTIVE");
    expect(lifecycleOf({ joinedAt: ago(300), lastActivityAt: ago(91) }, now, s)).toBe("DORMANT");
    expect(lifecycleOf({ joinedAt: ago(300), lastActivityAt: ago(181) }, now, s)).toBe("CHURNED");
    expect(lifecycleOf({ joinedAt: ago(200), lastActivityAt: null }, now, s)).toBe("CHURNED");
    expect(lifecycleOf({ joinedAt: ago(100), lastActivityAt: ago(40) }, now, { ...s, lifecycleDormantDays: 30 })).toBe("DORMANT");
  });
});

describe("audienceOverlap", () => {
  const q = `query($w: ID!) { audienceOverlap(withPartnerId: $w) { partner { id } withPartner { id } members suppressed minimumCohort granularity } }`;
  test("suppressed below the minimum cohort (3 here), shown at or above it; only members with ANALYTICS consent to both count", async () => {
    const a = newPartnerId();
    const b = newPartnerId();
    const both = async (n: number) => {
      for (let i = 0; i < n; i++) {
        const m = await enrolAt(a);
        await linkAt(b, m.email);
        await consentTo(m.id, a, ["SEGMENTS"], "ANALYTICS");
        await consentTo(m.id, b, ["PROFILE_BASIC"], "ANALYTICS");
      }
    };
    await both(2);
    // Noise that must not count: consent to one side only, another purpose, revoked, expired.
    const one = await enrolAt(a);
    await linkAt(b, one.email);
    await consentTo(one.id, a, ["SEGMENTS"], "ANALYTICS");
    await consentTo(one.id, b, ["SEGMENTS"], "OFFER_TARGETING");
    const past = new Date(Date.now() - 5 * DAY_MS);
    await consentTo(one.id, b, ["SEGMENTS"], "ANALYTICS", { now: past, expiresAt: new Date(past.getTime() + DAY_MS) });

    const small = expectNoGraphQLErrors(await h.as<{ audienceOverlap: unknown }>(partnerPrincipal(a, "ANALYTICS"), q, { w: b }));
    expect(small.audienceOverlap).toEqual({ partner: { id: a }, withPartner: { id: b }, members: null, suppressed: true, minimumCohort: 3, granularity: 1 });
    await both(2);
    const big = expectNoGraphQLErrors(await h.as<{ audienceOverlap: { members: number; suppressed: boolean } }>(partnerPrincipal(b, "ANALYTICS"), q, { w: a }));
    expect(big.audienceOverlap).toMatchObject({ members: 4, suppressed: false });
    // A partner without members looks like a small overlap; a malformed id, yourself, or an admin caller is refused.
    expect(expectNoGraphQLErrors(await h.as<{ audienceOverlap: { suppressed: boolean } }>(partnerPrincipal(a), q, { w: newPartnerId() })).audienceOverlap.suppressed).toBe(true);
    expect(codes(await h.as(partnerPrincipal(a), q, { w: "x" }))).toEqual(["BAD_USER_INPUT"]);
    expect(codes(await h.as(partnerPrincipal(a), q, { w: a }))).toEqual(["BAD_USER_INPUT"]);
    expect(codes(await h.as(adminPrincipal(), q, { w: a }))).toEqual(["FORBIDDEN"]);

    // Rounding (the differencing defence): with granularity 10 and cohort 3, 4 members publish as 3 (never below the cohort), 13 as 10.
    const coarse = { ...resolveSettings(), minCohort: 3, insightGranularity: 10, insightStabilityHours: 0 };
    expect((await audienceOverlap(partnerPrincipal(a), b, coarse)).members).toBe(3);
    await both(9);
    expect((await audienceOverlap(partnerPrincipal(a), b, coarse)).members).toBe(10);
    expect((await audienceOverlap(partnerPrincipal(a), b, { ...coarse, minCohort: 50 })).members).toBeNull();
    // Stability window: links and consents younger than it do not count yet (here: all of them).
    expect(await audienceOverlap(partnerPrincipal(a), b, { ...coarse, insightStabilityHours: 24 })).toMatchObject({ members: null, suppressed: true });
    expect((await audienceOverlap(partnerPrincipal(a), b, { ...coarse, insightStabilityHours: 24 }, new Date(Date.now() + 25 * 3_600_000))).members).toBe(10);
  });
});
