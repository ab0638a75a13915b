import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { delegatedPrincipal, expectNoGraphQLErrors, partnerViewPrincipal } from "../../../../tests/support/subgraph.ts";
import { prisma } from "../db.ts";
import { enrollMembers } from "../services/members.ts";
import { consentTo, enrolAt, linkAt, type MemberHarness, memberPrincipal, newPartnerId, partnerPrincipal, startMemberHarness } from "../testing/harness.ts";

/**
 * Issue 13 in the member subgraph. The attack: a partner with only its own credentials and its own
 * reference for a member obtained (token exchange) a token with the member's full authority. Now:
 * - consents and links need the member's own authority (its session, or an app it granted exactly
 *   that scope); a partner token — its API client's or a partner-view one — never has it;
 * - an app acting for the member (DELEGATED) reads only what its scopes cover, and every read is
 *   in the member's access log under the app's partner;
 * - a partner-view token answers the member queries for its one member, exactly as the partner's
 *   own token would (consent-gated, access-logged), and nothing else.
 */
let h: MemberHarness;
beforeAll(async () => {
  h = await startMemberHarness({ minCohort: 2, insightGranularity: 1, insightStabilityHours: 0 });
});
afterAll(() => h?.close());

const errs = (r: { errors?: { path?: (string | number)[]; extensions?: Record<string, unknown> }[] }) =>
  (r.errors ?? []).map((e) => ({ path: e.path?.join("."), code: e.extensions?.code, scope: e.extensions?.scope })).sort((a, b) => String(a.path).localeCompare(String(b.path)));
const codes = (r: { errors?: { extensions?: Record<string, unknown> }[] }) => (r.errors ?? []).map((e) => e.extensions?.code);

const GRANT = `mutation($input: GrantConsentInput!) { grantConsent(input: $input) { id collectionMethod partner { id } } }`;
const REVOKE = `mutation($id: ID!) { revokeConsent(consentId: $id) { id status } }`;
const CONFIRM = `mutation($p: ID!) { confirmPartnerLink(partnerId: $p) { partner { id } confirmedAt } }`;
const DECLINE = `mutation($p: ID!) { declinePartnerLink(partnerId: $p) }`;
const LOG = `{ me { dataAccessLog(first: 50) { edges { node { partner { id } categories purpose } } } } }`;

type LogEntry = { partner: { id: string }; categories: string[]; purpose: string };
async function accessLog(memberId: string): Promise<LogEntry[]> {
  const r = expectNoGraphQLErrors(await h.as<{ me: { dataAccessLog: { edges: { node: LogEntry }[] } } }>(memberPrincipal(memberId), LOG));
  return r.me.dataAccessLog.edges.map((e) => e.node);
}

/** A member of `shop` with a pending link request from `other` (it enrolled the member's email). */
async function memberWithRequest(shop: string, other: string) {
  const m = await enrolAt(shop);
  const [r] = await enrollMembers(partnerPrincipal(other), [{ email: m.email, externalRef: `req-${randomUUID().slice(0, 8)}` }]);
  expect(r).toMatchObject({ error: { linkPending: true } });
  return m;
}

describe("consents and links need the member's own authority", () => {
  test("grantConsent / revokeConsent: a partner token, a partner-view token, an app without member:consents → FORBIDDEN, nothing written; the member and an app with the scope may", async () => {
    const shop = newPartnerId();
    const m = await enrolAt(shop);
    const input = { partnerId: shop, categories: ["PROFILE_BASIC", "PROFILE_CONTACT", "TIER", "POINTS_BALANCE", "ACTIVITY", "SEGMENTS"], purpose: "OFFER_TARGETING", noticeVersion: "v1" };
    const refused = [partnerPrincipal(shop), partnerViewPrincipal(shop, m.id), delegatedPrincipal(m.id, shop, ["member:profile", "member:wallet", "member:offers", "member:links", "member:redeem"])];
    for (const p of refused) {
      const r = await h.as(p, GRANT, { input });
      expect(codes(r), `${p.role}/${p.authority}`).toEqual(["FORBIDDEN"]);
    }
    const app = await h.as(refused[2]!, GRANT, { input });
    expect(app.errors?.[0]?.extensions?.scope).toBe("member:consents");
    expect(app.errors?.[0]?.message).toMatch(/member:consents.*did not grant this app/);
    expect(await prisma().consent.count({ where: { memberId: m.id } })).toBe(0);

    const viaApp = expectNoGraphQLErrors(await h.as<{ grantConsent: { id: string; collectionMethod: string } }>(delegatedPrincipal(m.id, shop, ["member:consents"]), GRANT, { input }));
    expect(viaApp.grantConsent.collectionMethod).toBe("PARTNER_APP");
    const own = expectNoGraphQLErrors(await h.as<{ grantConsent: { id: string; collectionMethod: string } }>(memberPrincipal(m.id), GRANT, { input }));
    expect(own.grantConsent.collectionMethod).toBe("MEMBER_APP");

    for (const p of refused) expect(codes(await h.as(p, REVOKE, { id: own.grantConsent.id })), `${p.role}/${p.authority}`).toEqual(["FORBIDDEN"]);
    expect((await prisma().consent.findUniqueOrThrow({ where: { id: own.grantConsent.id } })).revokedAt).toBeNull();
    expect(expectNoGraphQLErrors(await h.as<{ revokeConsent: { status: string } }>(delegatedPrincipal(m.id, shop, ["member:consents"]), REVOKE, { id: own.grantConsent.id })).revokeConsent.status).toBe("REVOKED");
    expect(expectNoGraphQLErrors(await h.as<{ revokeConsent: { status: string } }>(memberPrincipal(m.id), REVOKE, { id: viaApp.grantConsent.id })).revokeConsent.status).toBe("REVOKED");
  });

  test("confirmPartnerLink / declinePartnerLink: another partner's request cannot be confirmed by a partner's token or an app without member:links", async () => {
    const shop = newPartnerId();
    const other = newPartnerId();
    const m = await memberWithRequest(shop, other);
    for (const p of [partnerPrincipal(shop), partnerPrincipal(other), partnerViewPrincipal(shop, m.id), delegatedPrincipal(m.id, shop, ["member:profile", "member:consents", "member:redeem"])]) {
      expect(codes(await h.as(p, CONFIRM, { p: other })), `${p.role}/${p.authority}`).toEqual(["FORBIDDEN"]);
      expect(codes(await h.as(p, DECLINE, { p: other })), `${p.role}/${p.authority}`).toEqual(["FORBIDDEN"]);
    }
    const declined = await h.as(delegatedPrincipal(m.id, shop, ["member:profile"]), DECLINE, { p: other });
    expect(errs(declined)).toEqual([{ path: "declinePartnerLink", code: "FORBIDDEN", scope: "member:links" }]);
    expect((await prisma().linkedAccount.findUniqueOrThrow({ where: { memberId_partnerId: { memberId: m.id, partnerId: other } } })).confirmedAt).toBeNull();

    const ok = expectNoGraphQLErrors(await h.as<{ confirmPartnerLink: { confirmedAt: string | null } }>(delegatedPrincipal(m.id, shop, ["member:links"]), CONFIRM, { p: other }));
    expect(ok.confirmPartnerLink.confirmedAt).not.toBeNull();
    const third = newPartnerId();
    await enrollMembers(partnerPrincipal(third), [{ email: m.email, externalRef: "third-1" }]);
    expect(expectNoGraphQLErrors(await h.as<{ declinePartnerLink: boolean }>(memberPrincipal(m.id), DECLINE, { p: third })).declinePartnerLink).toBe(true);
  });
});

describe("an app acting for the member (DELEGATED) reads only within its scopes, and is access-logged", () => {
  const ME = `{ me { id joinedAt displayName email phone birthday lifecycle linkedAccounts { partner { id } } linkRequests { partner { id } } consents { id } dataAccessLog(first: 5) { edges { cursor } } } }`;

  test("without member:profile: profile fields and linked brands are null with FORBIDDEN (scope member:profile); segments, consents, link requests and the access log need the member's own session", async () => {
    const shop = newPartnerId();
    const m = await enrolAt(shop, { displayName: "Wang Fang" });
    const r = await h.as<{ me: Record<string, unknown> }>(delegatedPrincipal(m.id, shop, ["member:wallet", "member:offers"]), ME);
    expect(r.data?.me).toEqual({
      id: m.id,
      joinedAt: m.joinedAt.toISOString(),
      displayName: null,
      email: null,
      phone: null,
      birthday: null,
      lifecycle: null,
      linkedAccounts: null,
      linkRequests: null,
      consents: null,
      dataAccessLog: null,
    });
    expect(errs(r)).toEqual([
      { path: "me.birthday", code: "FORBIDDEN", scope: "member:profile" },
      { path: "me.consents", code: "FORBIDDEN", scope: "member" },
      { path: "me.dataAccessLog", code: "FORBIDDEN", scope: "member" },
      { path: "me.displayName", code: "FORBIDDEN", scope: "member:profile" },
      { path: "me.email", code: "FORBIDDEN", scope: "member:profile" },
      { path: "me.lifecycle", code: "FORBIDDEN", scope: "member" },
      { path: "me.linkedAccounts", code: "FORBIDDEN", scope: "member:profile" },
      { path: "me.linkRequests", code: "FORBIDDEN", scope: "member" },
      { path: "me.phone", code: "FORBIDDEN", scope: "member:profile" },
    ]);
    // Nothing was disclosed, so nothing is logged.
    expect(await accessLog(m.id)).toEqual([]);
  });

  test("with member:profile: the profile answers (no consent needed: the member granted the app) and the read is logged under the app's partner, ACCOUNT_SERVICING or the grant's purpose", async () => {
    const shop = newPartnerId();
    const hotel = newPartnerId();
    const m = await enrolAt(shop, { displayName: "Zhao Lei" });
    await linkAt(hotel, m.email);
    const app = delegatedPrincipal(m.id, shop, ["member:profile"]);
    const r = await h.as<{ me: Record<string, unknown> }>(app, `{ me { displayName email linkedAccounts { partner { id } } } }`);
    expect(r.data?.me).toEqual({ displayName: "Zhao Lei", email: m.email, linkedAccounts: [{ partner: { id: shop } }, { partner: { id: hotel } }] });
    expect(r.errors).toBeUndefined();
    expect(await accessLog(m.id)).toEqual([{ partner: { id: shop }, categories: ["PROFILE_BASIC", "PROFILE_CONTACT"], purpose: "ACCOUNT_SERVICING" }]);

    expectNoGraphQLErrors(await h.as(delegatedPrincipal(m.id, hotel, ["member:profile"], { purpose: "OFFER_TARGETING" }), `{ me { birthday } }`));
    expect((await accessLog(m.id))[0]).toEqual({ partner: { id: hotel }, categories: ["PROFILE_BASIC"], purpose: "OFFER_TARGETING" });
    const row = await prisma().dataAccessEvent.findFirstOrThrow({ where: { memberId: m.id, partnerId: hotel } });
    expect(row).toMatchObject({ actorRole: "PARTNER", actor: `app:app-${hotel}` });
    // The member's own reads are not logged.
    expectNoGraphQLErrors(await h.as(memberPrincipal(m.id), `{ me { displayName email } }`));
    expect(await accessLog(m.id)).toHaveLength(2);
  });
});

describe("a partner-view token (token exchange) is the partner's own view of its one member", () => {
  test("me is the bound member, consent-gated per field and purpose and access-logged, exactly as the partner's own token sees it", async () => {
    const shop = newPartnerId();
    const hotel = newPartnerId();
    const m = await enrolAt(shop, { displayName: "Liu Yang" });
    await linkAt(hotel, m.email);
    await consentTo(m.id, shop, ["PROFILE_BASIC"], "ACCOUNT_SERVICING");
    await consentTo(m.id, hotel, ["PROFILE_CONTACT"], "ACCOUNT_SERVICING");
    const Q = `{ me { id displayName email lifecycle linkedAccounts { partner { id } } consents { partner { id } } } }`;
    const view = await h.as<{ me: Record<string, unknown> }>(partnerViewPrincipal(shop, m.id), Q);
    expect(view.data?.me).toEqual({ id: m.id, displayName: "Liu Yang", email: null, lifecycle: null, linkedAccounts: [{ partner: { id: shop } }], consents: [{ partner: { id: shop } }] });
    expect(errs(view).map((e) => [e.path, e.code])).toEqual([
      ["me.email", "CONSENT_REQUIRED"],
      ["me.lifecycle", "CONSENT_REQUIRED"],
    ]);
    // The same as the partner's own token asking for that member.
    const own = await h.as<{ member: Record<string, unknown> }>(partnerPrincipal(shop), Q.replace("me {", "member(id: $id) {").replace("{ member", "query($id: ID!) { member"), { id: m.id });
    expect(own.data?.member).toEqual(view.data?.me);
    expect(await accessLog(m.id)).toEqual([
      { partner: { id: shop }, categories: ["PROFILE_BASIC"], purpose: "ACCOUNT_SERVICING" },
      { partner: { id: shop }, categories: ["PROFILE_BASIC"], purpose: "ACCOUNT_SERVICING" },
    ]);
    // The Coalition-Purpose of the request applies as for any partner token.
    const targeting = await h.as<{ me: Record<string, unknown> }>(partnerViewPrincipal(shop, m.id, "OFFER_TARGETING"), `{ me { displayName } }`);
    expect(codes(targeting)).toEqual(["CONSENT_REQUIRED"]);
  });

  test("member(id) and memberByPartnerRef answer only for the bound member (others NOT_FOUND, even linked ones)", async () => {
    const shop = newPartnerId();
    const bound = await enrolAt(shop, { externalRef: `B-${randomUUID().slice(0, 6)}` });
    const otherMember = await enrolAt(shop, { externalRef: `O-${randomUUID().slice(0, 6)}` });
    const view = partnerViewPrincipal(shop, bound.id);
    const BY_ID = `query($id: ID!) { member(id: $id) { id } }`;
    const BY_REF = `query($p: ID!, $r: String!) { memberByPartnerRef(partnerId: $p, externalRef: $r) { id } }`;
    const refOf = async (memberId: string) => (await prisma().linkedAccount.findUniqueOrThrow({ where: { memberId_partnerId: { memberId, partnerId: shop } } })).externalRef;
    expect(expectNoGraphQLErrors(await h.as<{ member: { id: string } }>(view, BY_ID, { id: bound.id })).member.id).toBe(bound.id);
    expect(codes(await h.as(view, BY_ID, { id: otherMember.id }))).toEqual(["NOT_FOUND"]);
    expect(expectNoGraphQLErrors(await h.as<{ memberByPartnerRef: { id: string } }>(view, BY_REF, { p: shop, r: await refOf(bound.id) })).memberByPartnerRef.id).toBe(bound.id);
    expect(codes(await h.as(view, BY_REF, { p: shop, r: await refOf(otherMember.id) }))).toEqual(["NOT_FOUND"]);
    // The partner's own API client still sees both.
    expectNoGraphQLErrors(await h.as(partnerPrincipal(shop), BY_ID, { id: otherMember.id }));
    // Entities from other subgraphs' plans resolve only for the bound member too.
    const ENT = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Member { id } } }`;
    const ent = expectNoGraphQLErrors(
      await h.as<{ _entities: unknown[] }>(view, ENT, {
        r: [
          { __typename: "Member", id: bound.id },
          { __typename: "Member", id: otherMember.id },
        ],
      }),
    );
    expect(ent._entities).toEqual([{ id: bound.id }, null]);
  });

  test("every mutation and every partner-level query is FORBIDDEN", async () => {
    const shop = newPartnerId();
    const other = newPartnerId();
    const m = await memberWithRequest(shop, other);
    const view = partnerViewPrincipal(shop, m.id);
    const refused: [string, Record<string, unknown>][] = [
      [`mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }`, { i: { email: `pv-${randomUUID().slice(0, 6)}@example.com`, externalRef: "PV-1" } }],
      [`mutation($m: ID!) { linkPartnerAccount(memberId: $m, externalRef: "PV-2") { externalRef } }`, { m: m.id }],
      [CONFIRM, { p: other }],
      [GRANT, { input: { partnerId: shop, categories: ["PROFILE_BASIC"], purpose: "ACCOUNT_SERVICING", noticeVersion: "v1" } }],
      [`query($p: ID!) { audienceOverlap(withPartnerId: $p) { suppressed } }`, { p: other }],
    ];
    for (const [q, v] of refused) {
      const r = await h.as(view, q, v);
      expect(codes(r), q).toEqual(["FORBIDDEN"]);
      expect(r.errors?.[0]?.message, q).toMatch(/partner-view token/);
    }
    // The partner's own API client may still run its partner-level query.
    expect(codes(await h.as(partnerPrincipal(shop), refused[4]![0], refused[4]![1]))).toEqual([]);
    expect(await prisma().consent.count({ where: { memberId: m.id } })).toBe(0);
    expect(await prisma().linkedAccount.count({ where: { memberId: m.id, confirmedAt: { not: null } } })).toBe(1);
  });
});
