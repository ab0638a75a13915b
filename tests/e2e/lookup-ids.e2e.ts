import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// Issue 17 §6 groundwork for Relay's node(id:): the direct lookups by id (member, partner, offer,
// transaction, settlementRun) are what a node(id:) must answer exactly like. Proven here through the
// gateway: a malformed id is a clear code (never INTERNAL_SERVER_ERROR), and another partner's
// member/transaction answers exactly like an id that does not exist (no existence leak).
let hub: TestHub;
let admin: string;
const partners: { id: string; token: string }[] = [];
let memberA = "";
let txA = "";
let runId = "";

const LOOKUPS = {
  member: "query($id: ID!) { x: member(id: $id) { id } }",
  partner: "query($id: ID!) { x: partner(id: $id) { id } }",
  offer: "query($id: ID!) { x: offer(id: $id) { id } }",
  transaction: "query($id: ID!) { x: transaction(id: $id) { id } }",
  settlementRun: "query($id: ID!) { x: settlementRun(id: $id) { id } }",
} as const;
type Answer = { data?: { x: unknown } | null; errors?: { message: string; extensions?: { code?: string } }[] };
// What a client can compare: the data and each error's code and message with the id blanked.
const shape = (r: Answer, id: string) => ({ x: r.data?.x ?? null, errors: (r.errors ?? []).map((e) => ({ code: e.extensions?.code, message: e.message.replaceAll(id, "<id>") })) });

beforeAll(async () => {
  hub = await startTestHub();
  admin = await hub.adminToken();
  for (const name of ["Lookup A", "Lookup B"]) {
    const { registerPartner } = expectNoGraphQLErrors(
      await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name, category: "ECOMMERCE", issuePrice: "0.01", redemptionRate: "0.01" } }),
    );
    const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
    partners.push({ id: registerPartner.id, token: await hub.token(createApiClient.clientId, createApiClient.clientSecret) });
  }
  const a = partners[0]!;
  const { enrollMember } = expectNoGraphQLErrors(await hub.gql(a.token, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email: "lookup@example.com", externalRef: "L-1" } }));
  memberA = enrollMember.id;
  await hub.flushEvents();
  const { awardPoints } = expectNoGraphQLErrors(await hub.gql(a.token, "mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id } }", { i: { externalRef: "L-1", points: 10, idempotencyKey: randomUUID() } }));
  txA = awardPoints.id;
  const { createSettlementRun } = expectNoGraphQLErrors(
    await hub.gql(admin, "mutation($s: DateTime!, $e: DateTime!) { createSettlementRun(periodStart: $s, periodEnd: $e) { id } }", {
      s: new Date(Date.now() - 86_400_000).toISOString(),
      e: new Date(Date.now() - 3_600_000).toISOString(),
    }),
  );
  runId = createSettlementRun.id;
}, 120_000);
afterAll(() => hub?.close());

describe("direct lookups by id", () => {
  test("the owner sees its own member and transaction (the fixture is real)", async () => {
    const a = partners[0]!;
    expect(expectNoGraphQLErrors(await hub.gql(a.token, LOOKUPS.member, { id: memberA })).x).toEqual({ id: memberA });
    expect(expectNoGraphQLErrors(await hub.gql(a.token, LOOKUPS.transaction, { id: txA })).x).toEqual({ id: txA });
    expect(expectNoGraphQLErrors(await hub.gql(admin, LOOKUPS.settlementRun, { id: runId })).x).toEqual({ id: runId });
  });

  test("another partner's member and transaction answer exactly like an id that does not exist", async () => {
    const b = partners[1]!;
    for (const [field, id] of [
      ["member", memberA],
      ["transaction", txA],
    ] as const) {
      const other = (await hub.gql(b.token, LOOKUPS[field], { id })) as Answer;
      const missingId = randomUUID();
      const missing = (await hub.gql(b.token, LOOKUPS[field], { id: missingId })) as Answer;
      expect(shape(other, id), field).toEqual(shape(missing, missingId));
      expect(other.data?.x ?? null, field).toBeNull();
    }
  });

  test("a malformed id is a clear code on every lookup, never INTERNAL_SERVER_ERROR", async () => {
    const a = partners[0]!;
    for (const [field, query] of Object.entries(LOOKUPS)) {
      for (const id of ["not-an-id", "", `Member:${memberA}`, `${memberA}x`]) {
        for (const token of [a.token, admin]) {
          const r = (await hub.gql(token, query, { id })) as Answer;
          const codes = (r.errors ?? []).map((e) => e.extensions?.code);
          expect(r.data?.x ?? null, `${field}(${JSON.stringify(id)})`).toBeNull();
          expect(codes, `${field}(${JSON.stringify(id)})`).toHaveLength(1);
          expect(["NOT_FOUND", "BAD_USER_INPUT"], `${field}(${JSON.stringify(id)}): ${codes}`).toContain(codes[0]);
        }
      }
    }
  });
});
