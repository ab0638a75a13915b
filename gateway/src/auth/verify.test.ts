import { describe, expect, test } from "vitest";
import { TokenError, toVerified } from "./verify.ts";

// Claims → Principal for the authorities the subgraphs enforce (lib/authority.ts): what each token
// kind carries to them, and the combinations refused before planning.
const base = { sub: "x", jti: "j", exp: 2_000_000_000, iat: 1_900_000_000 };
const reason = (claims: Record<string, unknown>) => {
  try {
    toVerified({ ...base, ...claims });
    return null;
  } catch (e) {
    return e instanceof TokenError ? e.reason : String(e);
  }
};

describe("toVerified", () => {
  test("token exchange: a PARTNER principal bound to one member, with the client's purpose", () => {
    const { principal } = toVerified({
      ...base,
      sub: "shop-client",
      role: "PARTNER",
      partner_id: "p1",
      client_id: "shop-client",
      purpose: "ACCOUNT_SERVICING",
      authority: "PARTNER_VIEW",
      bound_member_id: "m1",
      scope: "hub:partner-view",
    });
    expect(principal).toMatchObject({ role: "PARTNER", partnerId: "p1", memberId: null, purpose: "ACCOUNT_SERVICING", authority: "PARTNER_VIEW", boundMemberId: "m1", clientId: "shop-client" });
    expect(reason({ role: "PARTNER", partner_id: "p1", authority: "PARTNER_VIEW" })).toBe("TOKEN_MALFORMED");
    expect(reason({ role: "MEMBER", authority: "PARTNER_VIEW", bound_member_id: "m1" })).toBe("TOKEN_MALFORMED");
  });

  test("a partner app for a member: DELEGATED with its partner, client, grant, scopes, daily limit and the grant's purpose", () => {
    const { principal } = toVerified({
      ...base,
      sub: "m1",
      role: "MEMBER",
      partner_id: "p1",
      client_id: "app-1",
      azp: "app-1",
      act: { sub: "app-1" },
      scope: "member:wallet member:redeem",
      authority: "DELEGATED",
      grant_id: "g1",
      redeem_daily_limit: 300,
      purpose: "OFFER_TARGETING",
    });
    expect(principal).toMatchObject({
      role: "MEMBER",
      memberId: "m1",
      partnerId: "p1",
      clientId: "app-1",
      grantId: "g1",
      scope: "member:wallet member:redeem",
      authority: "DELEGATED",
      redeemDailyLimit: 300,
      purpose: "OFFER_TARGETING",
    });
    expect(reason({ role: "MEMBER", client_id: "app-1", authority: "DELEGATED" })).toBe("TOKEN_MALFORMED");
  });

  test("a MEMBER token from the old token exchange (a partner, no authority) is refused; a member's own older token is a PERSON session", () => {
    expect(reason({ role: "MEMBER", partner_id: "p1", scope: "hub:member", client_id: "shop-client" })).toBe("TOKEN_MALFORMED");
    expect(toVerified({ ...base, sub: "m1", role: "MEMBER", scope: "member" }).principal).toMatchObject({ memberId: "m1", authority: "PERSON", partnerId: null, purpose: null });
  });
});
