import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// Settlement through the gateway: an admin runs and approves; each partner sees only its own
// statement (and only approved runs), disputes a line, and the admin resolves it; approving twice
// or recomputing an approved run is refused; members see nothing.
let hub: TestHub;
let admin: string;
const p: Record<"shop" | "fmcg", { id: string; token: string; clientId: string; secret: string }> = {} as never;
const gql = (token: string, query: string, variables: Record<string, unknown> = {}) => hub.gql(token, query, variables);
const codeOf = (r: { errors?: readonly { extensions?: { code?: unknown } }[] }) => r.errors?.[0]?.extensions?.code;

const PARTNER_RUN = `
  id status currency periodStart periodEnd approvedAt postingsSettled carriedInPostings
  statements { partner { id name } pointsIssued pointsRedeemed offerFundingPoints pointsReversed amountDue amountOwed netPosition liabilityPoints
    lines { id kind side points rate amount disputed } }
  flows { from { id } to { id } points }`;
const RUN = `
  id status currency periodStart periodEnd operatorMargin approvedAt postingsSettled carriedInPostings
  statements { partner { id name } pointsIssued pointsRedeemed offerFundingPoints pointsReversed amountDue amountOwed netPosition liabilityPoints
    lines { id kind side points rate amount disputed } }
  flows { from { id } to { id } points }`;

beforeAll(async () => {
  hub = await startTestHub();
  admin = await hub.adminToken();
  for (const [k, name, category, issuePrice, redemptionRate] of [
    ["shop", "ShopMall", "ECOMMERCE", "0.015", "0.01"],
    ["fmcg", "FreshCo", "FMCG", "0.02", "0.0125"],
  ] as const) {
    const { registerPartner } = expectNoGraphQLErrors(await gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name, category, issuePrice, redemptionRate } }));
    const { createApiClient } = expectNoGraphQLErrors(await gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
    p[k] = { id: registerPartner.id, clientId: createApiClient.clientId, secret: createApiClient.clientSecret, token: await hub.token(createApiClient.clientId, createApiClient.clientSecret) };
  }
  await hub.flushEvents();
}, 120_000);
afterAll(() => hub?.close());

test("an admin settles and approves; partners see only their own statement and dispute a line; the resolution lands in the next run", async () => {
  const periodStart = new Date(Date.now() - 3_600_000).toISOString();
  const ref = `settle-${randomUUID()}`;
  const { enrollMember } = expectNoGraphQLErrors(await gql(p.shop.token, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email: `${ref}@example.com`, externalRef: ref } }));
  await hub.flushEvents();
  const member = await hub.memberSession(`${ref}@example.com`, await hub.activateMember(p.shop.token, enrollMember.id, `${ref}@example.com`));
  expectNoGraphQLErrors(await gql(p.shop.token, "mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id } }", { i: { memberId: enrollMember.id, points: 1_000, idempotencyKey: randomUUID() } }));
  const { createRedemptionCode } = expectNoGraphQLErrors(await gql(member, "mutation($p: ID!) { createRedemptionCode(partnerId: $p, points: 401) { code } }", { p: p.fmcg.id }));
  expectNoGraphQLErrors(await gql(p.fmcg.token, "mutation($i: RedeemPointsInput!) { redeemPoints(input: $i) { id } }", { i: { redemptionCode: createRedemptionCode.code, points: 401, idempotencyKey: "r-1" } }));
  const periodEnd = new Date().toISOString();

  // Only an admin runs settlement.
  expect(codeOf(await gql(p.shop.token, "mutation($s: DateTime!, $e: DateTime!) { createSettlementRun(periodStart: $s, periodEnd: $e) { id } }", { s: periodStart, e: periodEnd }))).toBe("FORBIDDEN");
  expect(codeOf(await gql(admin, "mutation($s: DateTime!, $e: DateTime!) { createSettlementRun(periodStart: $s, periodEnd: $e) { id } }", { s: periodEnd, e: periodStart }))).toBe("BAD_USER_INPUT");
  const { createSettlementRun: draft } = expectNoGraphQLErrors(
    await gql(admin, `mutation($s: DateTime!, $e: DateTime!) { createSettlementRun(periodStart: $s, periodEnd: $e) { ${RUN} } }`, { s: periodStart, e: periodEnd }),
  );
  expect(draft.status).toBe("DRAFT");
  expect(draft.currency).toBe("CNY"); // HUB_CURRENCY unset: the default, the demo coalition's currency (lib/config.ts)
  const shop = draft.statements.find((s: { partner: { id: string } }) => s.partner.id === p.shop.id);
  const fmcg = draft.statements.find((s: { partner: { id: string } }) => s.partner.id === p.fmcg.id);
  expect(shop).toMatchObject({ partner: { name: "ShopMall" }, pointsIssued: 1000, amountDue: "15.00", amountOwed: "0.00", netPosition: "-15.00", liabilityPoints: 599 });
  // 401 × 0.0125 = 5.0125 → 5.01 (half-even, once per line).
  expect(fmcg).toMatchObject({ pointsRedeemed: 401, amountDue: "0.00", amountOwed: "5.01", netPosition: "5.01" });
  expect(draft.operatorMargin).toBe("9.99");
  expect(draft.flows).toEqual([{ from: { id: p.shop.id }, to: { id: p.fmcg.id }, points: 401 }]);

  // A DRAFT is invisible to partners.
  expect(codeOf(await gql(p.fmcg.token, "query($id: ID!) { settlementRun(id: $id) { id } }", { id: draft.id }))).toBe("NOT_FOUND");

  const { approveSettlementRun } = expectNoGraphQLErrors(await gql(admin, "mutation($id: ID!) { approveSettlementRun(id: $id) { status approvedAt } }", { id: draft.id }));
  expect(approveSettlementRun.status).toBe("APPROVED");
  expect(codeOf(await gql(admin, "mutation($id: ID!) { approveSettlementRun(id: $id) { status } }", { id: draft.id }))).toBe("PERIOD_CLOSED");
  expect(codeOf(await gql(admin, "mutation($id: ID!) { recomputeSettlementRun(id: $id) { status } }", { id: draft.id }))).toBe("PERIOD_CLOSED");

  // The FMCG brand sees the approved run with only its own statement and its own flows.
  const seen = expectNoGraphQLErrors(await gql(p.fmcg.token, `query($id: ID!) { settlementRun(id: $id) { ${PARTNER_RUN} } }`, { id: draft.id })).settlementRun;
  expect(seen.statements.map((s: { partner: { id: string } }) => s.partner.id)).toEqual([p.fmcg.id]);
  // Coalition-wide figures are the admin's: with its own position a partner could derive the others' from the margin.
  expect(seen.postingsSettled).toBeNull();
  expect(codeOf(await gql(p.fmcg.token, "query($id: ID!) { settlementRun(id: $id) { operatorMargin } }", { id: draft.id }))).toBe("FORBIDDEN");
  expect(seen.flows).toEqual([{ from: { id: p.shop.id }, to: { id: p.fmcg.id }, points: 401 }]);
  const list = expectNoGraphQLErrors(await gql(p.shop.token, "{ settlementRuns(first: 10) { edges { node { id statements { partner { id } } } } pageInfo { hasNextPage } } }")).settlementRuns;
  expect(list.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([draft.id]);
  expect(list.edges[0].node.statements).toEqual([{ partner: { id: p.shop.id } }]);
  const csv = expectNoGraphQLErrors(await gql(p.fmcg.token, "query($id: ID!) { settlementRun(id: $id) { export(format: CSV) } }", { id: draft.id })).settlementRun.export as string;
  expect(csv.trim().split("\n")).toHaveLength(2);
  expect(csv).toContain("REDEMPTION,REDEEM,401,1,0.0125,");
  expect(csv).not.toContain(p.shop.id);

  // Members see no settlement at all.
  expect(codeOf(await gql(member, "{ settlementRuns { edges { node { id } } } }"))).toBe("FORBIDDEN");

  // Disputes: only the statement's partner, with a reason; the admin resolves with an adjustment.
  const line = seen.statements[0].lines.find((l: { kind: string }) => l.kind === "REDEEM");
  expect(codeOf(await gql(p.shop.token, 'mutation($l: ID!) { disputeStatementLine(lineId: $l, reason: "x") { id } }', { l: line.id }))).toBe("NOT_FOUND");
  const { disputeStatementLine } = expectNoGraphQLErrors(
    await gql(p.fmcg.token, 'mutation($l: ID!) { disputeStatementLine(lineId: $l, reason: "order 7: 20 points redeemed twice at the till") { id disputed disputeReason } }', { l: line.id }),
  );
  expect(disputeStatementLine).toMatchObject({ disputed: true, disputeReason: "order 7: 20 points redeemed twice at the till" });
  const { resolveStatementDispute } = expectNoGraphQLErrors(
    await gql(admin, 'mutation($l: ID!) { resolveStatementDispute(lineId: $l, adjustmentPoints: 20, note: "confirmed") { resolvedAt adjustment { id kind } } }', { l: line.id }),
  );
  expect(resolveStatementDispute.adjustment.kind).toBe("ADJUSTMENT");

  // The next run (starting where the approved one ended) carries the adjustment: 20 × 0.0125 = 0.25.
  const { createSettlementRun: next } = expectNoGraphQLErrors(
    await gql(admin, `mutation($s: DateTime!, $e: DateTime!) { createSettlementRun(periodStart: $s, periodEnd: $e) { ${RUN} } }`, { s: periodEnd, e: new Date().toISOString() }),
  );
  const adj = next.statements.find((s: { partner: { id: string } }) => s.partner.id === p.fmcg.id);
  expect(adj.amountOwed).toBe("0.25");
  expect(adj.lines).toEqual([expect.objectContaining({ kind: "ADJUSTMENT", side: "REDEMPTION", points: 20, amount: "0.25" })]);
  // Overlapping the approved run is refused.
  expect(codeOf(await gql(admin, "mutation($s: DateTime!, $e: DateTime!) { createSettlementRun(periodStart: $s, periodEnd: $e) { id } }", { s: periodStart, e: new Date().toISOString() }))).toBe("PERIOD_CLOSED");
}, 120_000);
