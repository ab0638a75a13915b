import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { callInternal, expectNoGraphQLErrors } from "../../../../tests/support/subgraph.ts";
import { prisma } from "../db.ts";
import { adminPrincipal, consentTo, enrolAt, linkAt, type MemberHarness, memberPrincipal, newPartnerId, partnerPrincipal, startMemberHarness } from "../testing/harness.ts";

let h: MemberHarness;
const shop = newPartnerId();
const fresh = newPartnerId();
const hotel = newPartnerId();

beforeAll(async () => {
  h = await startMemberHarness();
});
afterAll(() => h?.close());

const codes = (r: { errors?: { extensions?: Record<string, unknown> }[] }) => (r.errors ?? []).map((e) => e.extensions?.code);

describe("visibility: a partner sees only members linked to it", () => {
  test("member(id): linked → found; unlinked → NOT_FOUND (never FORBIDDEN); admin sees all; a member only itself", async () => {
    const m = await enrolAt(shop);
    const q = `query($id: ID!) { member(id: $id) { id joinedAt } }`;
    expect(expectNoGraphQLErrors(await h.as(partnerPrincipal(shop), q, { id: m.id }))).toEqual({ member: { id: m.id, joinedAt: m.joinedAt.toISOString() } });
    const other = await h.as(partnerPrincipal(fresh), q, { id: m.id });
    expect(other.data?.member).toBeNull();
    expect(codes(other)).toEqual(["NOT_FOUND"]);
    expect(expectNoGraphQLErrors(await h.as(adminPrincipal(), q, { id: m.id }))).toEqual({ member: { id: m.id, joinedAt: m.joinedAt.toISOString() } });
    expect(expectNoGraphQLErrors(await h.as(memberPrincipal(m.id), q, { id: m.id }))).toEqual({ member: { id: m.id, joinedAt: m.joinedAt.toISOString() } });
    const m2 = await enrolAt(shop);
    expect(codes(await h.as(memberPrincipal(m2.id), q, { id: m.id }))).toEqual(["NOT_FOUND"]);
    // A non-uuid id is simply not found (and never reaches the uuid column).
    expect(codes(await h.as(partnerPrincipal(shop), q, { id: "nope" }))).toEqual(["NOT_FOUND"]);
    // Unknown and unlinked look the same.
    const unknown = await h.as(partnerPrincipal(fresh), q, { id: crypto.randomUUID() });
    expect(unknown.errors?.[0]?.message.replace(/[0-9a-f-]{36}/, "ID")).toBe(other.errors?.[0]?.message.replace(/[0-9a-f-]{36}/, "ID"));
  });

  test("memberByPartnerRef: own partnerId only; another partner's ref is NOT_FOUND even if the member is shared", async () => {
    const m = await enrolAt(shop, { externalRef: "SHOP-42" });
    await linkAt(fresh, m.email, "FRESH-42");
    const q = `query($p: ID!, $r: String!) { memberByPartnerRef(partnerId: $p, externalRef: $r) { id } }`;
    expect(expectNoGraphQLErrors(await h.as(partnerPrincipal(shop), q, { p: shop, r: "SHOP-42" }))).toEqual({ memberByPartnerRef: { id: m.id } });
    expect(codes(await h.as(partnerPrincipal(fresh), q, { p: shop, r: "SHOP-42" }))).toEqual(["NOT_FOUND"]);
    expect(codes(await h.as(partnerPrincipal(hotel), q, { p: shop, r: "SHOP-42" }))).toEqual(["NOT_FOUND"]);
    expect(codes(await h.as(partnerPrincipal(shop), q, { p: shop, r: "SHOP-404" }))).toEqual(["NOT_FOUND"]);
    expect(expectNoGraphQLErrors(await h.as(adminPrincipal(), q, { p: fresh, r: "FRESH-42" }))).toEqual({ memberByPartnerRef: { id: m.id } });
  });

  test("_entities: a partner resolving an unlinked member's reference gets null, in one batch with linked ones", async () => {
    const a = await enrolAt(shop);
    const b = await enrolAt(hotel);
    const q = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Member { id sharedScopes segment } } }`;
    const reps = [a, b].map((m) => ({ __typename: "Member", id: m.id }));
    const r = expectNoGraphQLErrors(await h.as<{ _entities: unknown[] }>(partnerPrincipal(shop, "OFFER_TARGETING"), q, { r: reps }));
    expect(r._entities).toEqual([{ id: a.id, sharedScopes: [], segment: "NEW" }, null]);
    const admin = expectNoGraphQLErrors(await h.as<{ _entities: { id: string }[] }>(adminPrincipal(), q, { r: reps }));
    expect(admin._entities.map((e) => e.id)).toEqual([a.id, b.id]);
  });

  test("linkedAccounts: a partner sees only its own link; the member sees all", async () => {
    const m = await enrolAt(shop, { externalRef: "S-LA" });
    await linkAt(hotel, m.email, "H-LA");
    const q = `query($id: ID!) { member(id: $id) { linkedAccounts { partner { id } externalRef } } }`;
    expect(expectNoGraphQLErrors(await h.as(partnerPrincipal(hotel), q, { id: m.id }))).toEqual({
      member: { linkedAccounts: [{ partner: { id: hotel }, externalRef: "H-LA" }] },
    });
    const me = expectNoGraphQLErrors(await h.as(memberPrincipal(m.id), `{ me { linkedAccounts { partner { id } externalRef } } }`));
    expect(me).toEqual({
      me: {
        linkedAccounts: [
          { partner: { id: shop }, externalRef: "S-LA" },
          { partner: { id: hotel }, externalRef: "H-LA" },
        ],
      },
    });
  });
});

describe("sharedScopes", () => {
  test("member itself and admins: all six; partner: categories of active consents for its purpose only; another partner's consents never count", async () => {
    const m = await enrolAt(shop);
    await linkAt(hotel, m.email);
    await consentTo(m.id, shop, ["PROFILE_CONTACT", "TIER"], "OFFER_TARGETING");
    await consentTo(m.id, shop, ["POINTS_BALANCE"], "OFFER_TARGETING");
    await consentTo(m.id, shop, ["ACTIVITY"], "ANALYTICS");
    await consentTo(m.id, hotel, ["SEGMENTS"], "OFFER_TARGETING");
    const revoked = await consentTo(m.id, shop, ["SEGMENTS"], "OFFER_TARGETING");
    await h.as(memberPrincipal(m.id), `mutation($id: ID!) { revokeConsent(consentId: $id) { status } }`, { id: revoked.id });
    const q = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Member { sharedScopes } } }`;
    const scopes = async (p: Parameters<MemberHarness["as"]>[0]) =>
      expectNoGraphQLErrors(await h.as<{ _entities: ({ sharedScopes: string[] } | null)[] }>(p, q, { r: [{ __typename: "Member", id: m.id }] }))._entities[0]?.sharedScopes;
    const all = ["PROFILE_BASIC", "PROFILE_CONTACT", "TIER", "POINTS_BALANCE", "ACTIVITY", "SEGMENTS"];
    expect(await scopes(memberPrincipal(m.id))).toEqual(all);
    expect(await scopes(adminPrincipal())).toEqual(all);
    expect(await scopes(partnerPrincipal(shop, "OFFER_TARGETING"))).toEqual(["PROFILE_CONTACT", "TIER", "POINTS_BALANCE"]);
    expect(await scopes(partnerPrincipal(shop, "ANALYTICS"))).toEqual(["ACTIVITY"]);
    expect(await scopes(partnerPrincipal(shop, "ACCOUNT_SERVICING"))).toEqual([]);
    expect(await scopes(partnerPrincipal(shop, null))).toEqual([]);
    expect(await scopes(partnerPrincipal(hotel, "OFFER_TARGETING"))).toEqual(["SEGMENTS"]);
  });
});

describe("enrollMember / linkPartnerAccount", () => {
  const enrol = `mutation($input: EnrollMemberInput!) { enrollMember(input: $input) { id joinedAt linkedAccounts { partner { id } externalRef } } }`;

  test("a partner enrols and links; email is lower-cased; member.enrolled and member.linked are emitted", async () => {
    const r = expectNoGraphQLErrors(
      await h.as<{ enrollMember: { id: string; linkedAccounts: unknown[] } }>(partnerPrincipal(shop), enrol, {
        input: { email: "  New.Person@Example.COM ", displayName: "New Person", phone: "+86 138-0013-8000", birthday: "1988-02-29", externalRef: "SHOP-NEW-1" },
      }),
    );
    expect(r.enrollMember.linkedAccounts).toEqual([{ partner: { id: shop }, externalRef: "SHOP-NEW-1" }]);
    const row = await prisma().member.findUniqueOrThrow({ where: { id: r.enrollMember.id } });
    expect(row).toMatchObject({ email: "new.person@example.com", phone: "+8613800138000", birthday: "1988-02-29" });
    const events = await prisma().memberOutboxEvent.findMany({ where: { payload: { path: ["memberId"], equals: row.id } }, orderBy: { createdAt: "asc" } });
    expect(events.map((e) => e.type).sort()).toEqual(["member.enrolled", "member.linked"]);
    expect(events.find((e) => e.type === "member.enrolled")!.payload).toMatchObject({ memberId: row.id, email: row.email, partnerId: shop });
    expect(events.find((e) => e.type === "member.linked")!.payload).toMatchObject({ memberId: row.id, partnerId: shop, externalRef: "SHOP-NEW-1" });
  });

  test("enrolling an existing email as another partner only requests a link: invisible until the member confirms (no takeover by a known email)", async () => {
    const m = await enrolAt(shop, { email: "shared@example.com", displayName: "Original" });
    const input = { email: "SHARED@example.com", displayName: "Overwrite attempt", externalRef: "HOTEL-S" };
    const asked = await h.as(partnerPrincipal(hotel), enrol, { input });
    expect(asked.data).toBeNull();
    expect(asked.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "email", linkPending: true });
    // Until the member confirms, the partner sees nothing and the token service finds nothing.
    expect(codes(await h.as(partnerPrincipal(hotel), `query($id: ID!) { member(id: $id) { id } }`, { id: m.id }))).toEqual(["NOT_FOUND"]);
    expect(codes(await h.as(partnerPrincipal(hotel), `{ memberByPartnerRef(partnerId: "${hotel}", externalRef: "HOTEL-S") { id } }`))).toEqual(["NOT_FOUND"]);
    expect((await callInternal(h.url, "members/by-partner-ref", { partnerId: hotel, externalRef: "HOTEL-S" })).status).toBe(404);
    expect(codes(await h.as(memberPrincipal(m.id), `mutation { grantConsent(input: { partnerId: "${hotel}", categories: [TIER], purpose: ANALYTICS, noticeVersion: "v1" }) { id } }`))).toEqual(["BAD_USER_INPUT"]);
    // Asking again is the same answer; another ref while the request is pending is refused.
    expect((await h.as(partnerPrincipal(hotel), enrol, { input })).errors?.[0]?.extensions).toMatchObject({ linkPending: true });
    expect((await h.as(partnerPrincipal(hotel), enrol, { input: { ...input, externalRef: "HOTEL-OTHER" } })).errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "externalRef" });
    expect(await prisma().memberOutboxEvent.count({ where: { type: "member.link_requested", payload: { path: ["memberId"], equals: m.id } } })).toBe(1);

    // The member sees the request and confirms it; then the partner sees the member.
    const requests = expectNoGraphQLErrors(
      await h.as<{ me: { linkRequests: unknown[]; linkedAccounts: unknown[] } }>(memberPrincipal(m.id), `{ me { linkRequests { partner { id } externalRef confirmedAt } linkedAccounts { partner { id } } } }`),
    );
    expect(requests.me).toEqual({ linkRequests: [{ partner: { id: hotel }, externalRef: "HOTEL-S", confirmedAt: null }], linkedAccounts: [{ partner: { id: shop } }] });
    expect(codes(await h.as(partnerPrincipal(fresh), `mutation { confirmPartnerLink(partnerId: "${hotel}") { externalRef } }`))).toEqual(["FORBIDDEN"]);
    const confirmed = expectNoGraphQLErrors(
      await h.as<{ confirmPartnerLink: { externalRef: string; confirmedAt: string } }>(memberPrincipal(m.id), `mutation { confirmPartnerLink(partnerId: "${hotel}") { externalRef confirmedAt } }`),
    );
    expect(confirmed.confirmPartnerLink.externalRef).toBe("HOTEL-S");
    expect(confirmed.confirmPartnerLink.confirmedAt).not.toBeNull();
    expect(expectNoGraphQLErrors(await h.as(partnerPrincipal(hotel), `query($id: ID!) { member(id: $id) { id } }`, { id: m.id }))).toEqual({ member: { id: m.id } });
    expect(await callInternal(h.url, "members/by-partner-ref", { partnerId: hotel, externalRef: "HOTEL-S" })).toEqual({ status: 200, body: { memberId: m.id } });
    // Now enrolling again is the idempotent success; the profile was never touched.
    expect(expectNoGraphQLErrors(await h.as<{ enrollMember: { id: string } }>(partnerPrincipal(hotel), enrol, { input })).enrollMember.id).toBe(m.id);
    expect((await prisma().member.findUniqueOrThrow({ where: { id: m.id } })).displayName).toBe("Original");
    expect(await prisma().memberOutboxEvent.count({ where: { type: "member.enrolled", payload: { path: ["memberId"], equals: m.id } } })).toBe(1);
    expect(await prisma().memberOutboxEvent.count({ where: { type: "member.linked", payload: { path: ["memberId"], equals: m.id } } })).toBe(2);
    // A ref of another member is refused.
    expect(codes(await h.as(partnerPrincipal(hotel), enrol, { input: { email: "someone-else@example.com", externalRef: "HOTEL-S" } }))).toEqual(["BAD_USER_INPUT"]);
    // Declining removes a request; confirming without one is NOT_FOUND.
    await h.as(partnerPrincipal(fresh), enrol, { input: { email: "shared@example.com", externalRef: "F-1" } });
    expect(expectNoGraphQLErrors(await h.as(memberPrincipal(m.id), `mutation { declinePartnerLink(partnerId: "${fresh}") }`))).toEqual({ declinePartnerLink: true });
    expect(codes(await h.as(memberPrincipal(m.id), `mutation { confirmPartnerLink(partnerId: "${fresh}") { externalRef } }`))).toEqual(["NOT_FOUND"]);
  });

  test("an admin enrols without a link; an existing email or an externalRef is BAD_USER_INPUT; a member may not enrol", async () => {
    const r = expectNoGraphQLErrors(await h.as<{ enrollMember: { linkedAccounts: unknown[] } }>(adminPrincipal(), enrol, { input: { email: "admin-made@example.com" } }));
    expect(r.enrollMember.linkedAccounts).toEqual([]);
    expect(codes(await h.as(adminPrincipal(), enrol, { input: { email: "admin-made@example.com" } }))).toEqual(["BAD_USER_INPUT"]);
    expect(codes(await h.as(adminPrincipal(), enrol, { input: { email: "x@example.com", externalRef: "R" } }))).toEqual(["BAD_USER_INPUT"]);
    const m = await enrolAt(shop);
    expect(codes(await h.as(memberPrincipal(m.id), enrol, { input: { email: "y@example.com" } }))).toEqual(["FORBIDDEN"]);
  });

  test.each([
    [{ email: "not-an-email", externalRef: "R1" }, "email"],
    [{ email: "ok1@example.com" }, "externalRef"],
    [{ email: "ok2@example.com", externalRef: "has space" }, "externalRef"],
    [{ email: "ok3@example.com", externalRef: "R3", phone: "12345" }, "phone"],
    [{ email: "ok4@example.com", externalRef: "R4", birthday: "1990-02-30" }, "birthday"],
    [{ email: "ok5@example.com", externalRef: "R5", birthday: "2999-01-01" }, "birthday"],
    [{ email: "ok6@example.com", externalRef: "R6", displayName: "" }, "displayName"],
  ])("invalid input %j → BAD_USER_INPUT on %s, nothing written", async (input, field) => {
    const before = await prisma().member.count();
    const r = await h.as(partnerPrincipal(shop), enrol, { input });
    expect(codes(r)).toEqual(["BAD_USER_INPUT"]);
    expect(r.errors?.[0]?.extensions?.field).toBe(field);
    expect(await prisma().member.count()).toBe(before);
  });

  test("linkPartnerAccount re-keys a linked member; an unlinked member is NOT_FOUND; a taken ref is BAD_USER_INPUT", async () => {
    const m = await enrolAt(shop, { externalRef: "OLD-REF" });
    const other = await enrolAt(shop, { externalRef: "TAKEN-REF" });
    const link = `mutation($m: ID!, $r: String!) { linkPartnerAccount(memberId: $m, externalRef: $r) { partner { id } externalRef linkedAt } }`;
    const r = expectNoGraphQLErrors(await h.as<{ linkPartnerAccount: { externalRef: string } }>(partnerPrincipal(shop), link, { m: m.id, r: "NEW-REF" }));
    expect(r.linkPartnerAccount.externalRef).toBe("NEW-REF");
    expect(codes(await h.as(partnerPrincipal(shop), link, { m: m.id, r: "TAKEN-REF" }))).toEqual(["BAD_USER_INPUT"]);
    expect(codes(await h.as(partnerPrincipal(hotel), link, { m: m.id, r: "H-1" }))).toEqual(["NOT_FOUND"]);
    expect(codes(await h.as(adminPrincipal(), link, { m: m.id, r: "H-1" }))).toEqual(["FORBIDDEN"]);
    const byRef = await callInternal(h.url, "members/by-partner-ref", { partnerId: shop, externalRef: "NEW-REF" });
    expect(byRef).toEqual({ status: 200, body: { memberId: m.id } });
    expect((await callInternal(h.url, "members/by-partner-ref", { partnerId: shop, externalRef: "OLD-REF" })).status).toBe(404);
    expect(other.id).not.toBe(m.id);
  });
});

describe("internal: POST /internal/members/by-partner-ref", () => {
  test("200 with the member id, 404 not_found otherwise, 400 for a malformed body, 401 without the service identity", async () => {
    const m = await enrolAt(hotel, { externalRef: "GS-1001" });
    expect(await callInternal(h.url, "members/by-partner-ref", { partnerId: hotel, externalRef: "GS-1001" })).toEqual({ status: 200, body: { memberId: m.id } });
    expect(await callInternal(h.url, "members/by-partner-ref", { partnerId: shop, externalRef: "GS-1001" })).toEqual({ status: 404, body: { error: "not_found" } });
    expect(await callInternal(h.url, "members/by-partner-ref", { partnerId: "x", externalRef: "GS-1001" })).toEqual({ status: 404, body: { error: "not_found" } });
    expect((await callInternal(h.url, "members/by-partner-ref", { partnerId: hotel })).status).toBe(400);
    const res = await fetch(new URL("/internal/members/by-partner-ref", h.url), { method: "POST", body: JSON.stringify({ partnerId: hotel, externalRef: "GS-1001" }) });
    expect(res.status).toBe(401);
  });
});
