import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// setPartnerEarnRate: the producer of partner.earn_rule_changed; the points subgraph applies the new
// rate to purchase-based earns once the event arrives, and posted earns keep their points.
const SET = "mutation($p: ID!, $r: Decimal!) { setPartnerEarnRate(partnerId: $p, earnRate: $r) { id earnRate } }";
const AWARD = "mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id points } }";
let hub: TestHub;
let admin: string;
let partner: { id: string; token: string };
let memberId: string;

beforeAll(async () => {
  hub = await startTestHub();
  admin = await hub.adminToken();
  const { registerPartner } = expectNoGraphQLErrors(
    await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name: "Fresh Co", category: "FMCG", issuePrice: "0.01", redemptionRate: "0.01" } }),
  );
  const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
  partner = { id: registerPartner.id, token: await hub.token(createApiClient.clientId, createApiClient.clientSecret) };
  const { enrollMember } = expectNoGraphQLErrors(await hub.gql(partner.token, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email: "rate@example.com", externalRef: "r-1" } }));
  memberId = enrollMember.id;
  await hub.flushEvents();
});
afterAll(() => hub?.close());

describe("setPartnerEarnRate", () => {
  test("an admin changes the rate; the next purchase-based earn uses it, the earlier one keeps its points", async () => {
    const before = expectNoGraphQLErrors(await hub.gql(partner.token, AWARD, { i: { memberId, purchaseAmount: "10", idempotencyKey: randomUUID() } }));
    expect(before.awardPoints.points).toBe(10);
    const set = expectNoGraphQLErrors(await hub.gql(admin, SET, { p: partner.id, r: "2.50" }));
    expect(set.setPartnerEarnRate).toEqual({ id: partner.id, earnRate: "2.5" });
    await hub.flushEvents();
    const after = expectNoGraphQLErrors(await hub.gql(partner.token, AWARD, { i: { memberId, purchaseAmount: "10", idempotencyKey: randomUUID() } }));
    expect(after.awardPoints.points).toBe(25);
    const again = expectNoGraphQLErrors(await hub.gql(admin, "query($id: ID!) { transaction(id: $id) { points } }", { id: before.awardPoints.id }));
    expect(again.transaction.points).toBe(10);
  });

  test("only admins; bad rates are BAD_USER_INPUT naming earnRate; an unknown partner is NOT_FOUND; nothing changes", async () => {
    expect((await hub.gql(partner.token, SET, { p: partner.id, r: "9" })).errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    for (const r of ["0", "-1", "1.23456", "abc"]) {
      const res = await hub.gql(admin, SET, { p: partner.id, r });
      expect(res.errors?.[0]?.extensions?.code, r).toBe("BAD_USER_INPUT");
    }
    expect((await hub.gql(admin, SET, { p: randomUUID(), r: "2" })).errors?.[0]?.extensions?.code).toBe("NOT_FOUND");
    const now = expectNoGraphQLErrors(await hub.gql(admin, "query($id: ID!) { partner(id: $id) { earnRate } }", { id: partner.id }));
    expect(now.partner.earnRate).toBe("2.5");
  });
});
