import { describe, expect, test } from "vitest";
import { TokenError, toVerified } from "./verify.ts";

// The token contract of wave 2: claims → Principal. Combinations the authorization server never
// mints are malformed, so they never reach the subgraphs.
const base = { jti: "j", exp: 2_000_000_000, iat: 1_900_000_000 };
const reason = (claims: Record<string, unknown>) => {
  try {
    toVerified({ ...base, ...claims });
    return "accepted";
  } catch (e) {
    return e instanceof TokenError ? e.reason : String(e);
  }
};

describe("toVerified", () => {
  test("API client token: authority CLIENT (absent means CLIENT)", () => {
    const p = toVerified({ ...base, sub: "shop-1", role: "PARTNER", partner_id: "p1", scope: "hub:partner", client_id: "shop-1", purpose: "ANALYTICS" }).principal;
    expect(p).toMatchObject({ sub: "shop-1", role: "PARTNER", partnerId: "p1", memberId: null, authority: "CLIENT", clientId: "shop-1", purpose: "ANALYTICS", boundMemberId: null, grantId: null });
  });

  test("member session: PERSON with the grant", () => {
    const p = toVerified({ ...base, sub: "m1", role: "MEMBER", scope: "member", authority: "PERSON", client_id: "hub-member-app", grant_id: "g1" }).principal;
    expect(p).toMatchObject({ sub: "m1", role: "MEMBER", memberId: "m1", partnerId: null, authority: "PERSON", grantId: "g1", redeemDailyLimit: null });
  });

  test("delegated: the app's partner, client and the daily limit", () => {
    const p = toVerified({
      ...base,
      sub: "m1",
      role: "MEMBER",
      partner_id: "p1",
      client_id: "app",
      azp: "app",
      act: { sub: "app" },
      scope: "member:redeem",
      authority: "DELEGATED",
      grant_id: "g2",
      redeem_daily_limit: 300,
    }).principal;
    expect(p).toMatchObject({ memberId: "m1", partnerId: "p1", clientId: "app", authority: "DELEGATED", scope: "member:redeem", grantId: "g2", redeemDailyLimit: 300 });
  });

  test("partner view: PARTNER bound to one member", () => {
    const p = toVerified({ ...base, sub: "shop-1", role: "PARTNER", partner_id: "p1", client_id: "shop-1", authority: "PARTNER_VIEW", bound_member_id: "m1", purpose: "ACCOUNT_SERVICING" }).principal;
    expect(p).toMatchObject({ role: "PARTNER", memberId: null, boundMemberId: "m1", authority: "PARTNER_VIEW" });
  });

  test("person: admin or partner staff with person_role", () => {
    expect(toVerified({ ...base, sub: "x", role: "ADMIN", authority: "PERSON", person_role: "ADMIN", grant_id: "s" }).principal).toMatchObject({ personRole: "ADMIN", authority: "PERSON", grantId: "s" });
    expect(toVerified({ ...base, sub: "x", role: "PARTNER", partner_id: "p1", authority: "PERSON", person_role: "PARTNER_STAFF", grant_id: "s" }).principal).toMatchObject({
      personRole: "PARTNER_STAFF",
      partnerId: "p1",
    });
  });

  test("contradictions are malformed", () => {
    expect(reason({ sub: "m1", role: "MEMBER", authority: "PARTNER_VIEW", bound_member_id: "m1" })).toBe("TOKEN_MALFORMED");
    expect(reason({ sub: "c", role: "PARTNER", partner_id: "p1", authority: "PARTNER_VIEW" })).toBe("TOKEN_MALFORMED");
    expect(reason({ sub: "m1", role: "MEMBER", authority: "DELEGATED", scope: "member:wallet" })).toBe("TOKEN_MALFORMED");
    expect(reason({ sub: "m1", role: "MEMBER", authority: "CLIENT" })).toBe("TOKEN_MALFORMED");
    expect(reason({ sub: "x", role: "ADMIN", authority: "PERSON" })).toBe("TOKEN_MALFORMED");
    expect(reason({ sub: "x", role: "ADMIN", authority: "ROOT" })).toBe("TOKEN_MALFORMED");
    expect(reason({ sub: "x", role: "ADMIN", authority: "PERSON", person_role: "GOD" })).toBe("TOKEN_MALFORMED");
  });

  test("a daily limit or a bound member on the wrong kind of token is dropped", () => {
    const p = toVerified({ ...base, sub: "m1", role: "MEMBER", scope: "member", authority: "PERSON", redeem_daily_limit: 5, bound_member_id: "m2" }).principal;
    expect(p.redeemDailyLimit).toBeNull();
    expect(p.boundMemberId).toBeNull();
  });
});
