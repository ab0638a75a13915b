import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// Concurrent callers never share an answer. The gateway's subgraph requests differ per caller only
// in the signed identity header, so any deduplication or batching keyed on the request body would
// hand one member's data to another (the HTTP executor's in-flight deduplication did exactly that:
// gateway/src/gateway.ts turns it off).
let hub: TestHub;
const members: { id: string; token: string; points: number }[] = [];

beforeAll(async () => {
  hub = await startTestHub();
  const admin = await hub.adminToken();
  const { registerPartner } = expectNoGraphQLErrors(
    await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name: "Gamma Hotels", category: "ECOMMERCE", issuePrice: "0.015", redemptionRate: "0.010" } }),
  );
  const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
  const partner = await hub.token(createApiClient.clientId, createApiClient.clientSecret);
  for (let i = 0; i < 6; i++) {
    const ref = `C-${i}`;
    const { enrollMember } = expectNoGraphQLErrors(
      await hub.gql(partner, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email: `c${i}@example.com`, displayName: `Concurrent ${i}`, externalRef: ref } }),
    );
    members.push({ id: enrollMember.id, token: "", points: 100 * (i + 1) });
  }
  await hub.flushEvents();
  for (const [i, m] of members.entries()) {
    expectNoGraphQLErrors(await hub.gql(partner, "mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id } }", { i: { memberId: m.id, idempotencyKey: `conc-${i}`, points: m.points } }));
    m.token = await hub.memberSession(`c${i}@example.com`, await hub.activateMember(partner, m.id, `c${i}@example.com`));
  }
  await hub.flushEvents();
}, 120_000);
afterAll(() => hub?.close());

test("48 concurrent `me` wallet queries of 6 members: each caller gets its own member and balance", async () => {
  const calls = Array.from({ length: 48 }, (_, k) => members[k % members.length]!);
  const answers = await Promise.all(calls.map((m) => hub.gql(m.token, "query Wallet { me { id displayName wallet { balance } } }")));
  for (const [k, a] of answers.entries()) {
    const me = expectNoGraphQLErrors(a).me;
    expect(me.id).toBe(calls[k]!.id);
    expect(me.wallet.balance).toBe(calls[k]!.points);
  }
}, 60_000);
