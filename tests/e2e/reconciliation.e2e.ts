import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// Reconciliation (issue 17 §5) and awards by the partner's reference (§6), through the gateway:
// partnerTransactions by range, kind and status in both paging directions; totals equal to the
// approved settlement statement of the same period; the streamed CSV/JSON export (many rows, paged
// reads, bounded memory: bench/export.ts measures it); and the attacks: another partner's
// transactions, huge ranges and pages, NUL, bad cursors.
let hub: TestHub;
let admin: string;
const p: Record<"shop" | "fmcg", { id: string; token: string }> = {} as never;
const members: { id: string; ref: string; session: string }[] = [];
const start = new Date(Date.now() - 60_000).toISOString();
let end = "";
const codeOf = (r: { errors?: readonly { extensions?: { code?: unknown } }[] }) => r.errors?.[0]?.extensions?.code;
const fieldOf = (r: { errors?: readonly { extensions?: { field?: unknown } }[] }) => r.errors?.[0]?.extensions?.field;

const LIST = `query($p: ID, $f: PartnerTransactionFilter!, $first: Int, $after: String, $last: Int, $before: String) {
  partnerTransactions(partnerId: $p, filter: $f, first: $first, after: $after, last: $last, before: $before) {
    edges { cursor status reversedPoints memberRef node { id kind points64 reference partner { id } reverses { id } } }
    pageInfo { hasNextPage hasPreviousPage startCursor endCursor }
  } }`;
const TOTALS = `query($p: ID, $f: PartnerTransactionFilter!) { partnerTransactions(partnerId: $p, filter: $f, first: 1) { totals { pointsIssued pointsRedeemed pointsReversed pointsAdjusted transactions } } }`;
const AWARD = "mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id points64 member { id } } }";

async function exportFile(token: string | null, query: string, headers: Record<string, string> = {}) {
  return fetch(`${hub.baseUrl}/exports/partner-transactions?${query}`, { headers: { ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers } });
}

beforeAll(async () => {
  hub = await startTestHub();
  admin = await hub.adminToken();
  for (const [k, name, category] of [
    ["shop", "ReconShop", "ECOMMERCE"],
    ["fmcg", "ReconFresh", "FMCG"],
  ] as const) {
    const { registerPartner } = expectNoGraphQLErrors(
      await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name, category, issuePrice: "0.015", redemptionRate: "0.01" } }),
    );
    const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
    p[k] = { id: registerPartner.id, token: await hub.token(createApiClient.clientId, createApiClient.clientSecret) };
  }
  await hub.flushEvents();
  for (let i = 0; i < 3; i++) {
    const ref = `POS-${i}-${randomUUID().slice(0, 8)}`;
    const m = await hub.memberWithPassword(p.shop.token, { email: `${ref.toLowerCase()}@example.com`, externalRef: ref });
    members.push({ id: m.memberId, ref, session: await hub.memberSession(m.login, m.password) });
  }
  await hub.flushEvents();
}, 180_000);
afterAll(() => hub?.close());

describe("awardPoints by the partner's reference (§6)", () => {
  test("externalRef instead of memberId: the same member, idempotent either way; both, neither or unknown are refused and nothing is written", async () => {
    const key = `by-ref-${randomUUID()}`;
    const byRef = expectNoGraphQLErrors(await hub.gql(p.shop.token, AWARD, { i: { externalRef: members[0]!.ref, points: 500, idempotencyKey: key, reference: "order-1" } })).awardPoints;
    expect(byRef.member.id).toBe(members[0]!.id);
    // The same key naming the member by id is the same request: a replay, not a second award.
    const byId = expectNoGraphQLErrors(await hub.gql(p.shop.token, AWARD, { i: { memberId: members[0]!.id, points: 500, idempotencyKey: key, reference: "order-1" } })).awardPoints;
    expect(byId.id).toBe(byRef.id);
    const both = await hub.gql(p.shop.token, AWARD, { i: { memberId: members[0]!.id, externalRef: members[0]!.ref, points: 1, idempotencyKey: randomUUID() } });
    expect([codeOf(both), fieldOf(both)]).toEqual(["BAD_USER_INPUT", "externalRef"]);
    const neither = await hub.gql(p.shop.token, AWARD, { i: { points: 1, idempotencyKey: randomUUID() } });
    expect([codeOf(neither), fieldOf(neither)]).toEqual(["BAD_USER_INPUT", "memberId"]);
    const before = await hub.db.client().ledgerTransaction.count();
    expect(codeOf(await hub.gql(p.shop.token, AWARD, { i: { externalRef: "NO-SUCH-REF", points: 1, idempotencyKey: randomUUID() } }))).toBe("NOT_FOUND");
    // Another partner's reference for the same member means nothing at fmcg.
    expect(codeOf(await hub.gql(p.fmcg.token, AWARD, { i: { externalRef: members[0]!.ref, points: 1, idempotencyKey: randomUUID() } }))).toBe("NOT_FOUND");
    expect(await hub.db.client().ledgerTransaction.count()).toBe(before);
  }, 60_000);

  test("awardPointsBatch: references resolved per item; an unknown one is a NOT_FOUND rejection at its index (ErrorCode enum)", async () => {
    const { awardPointsBatch } = expectNoGraphQLErrors(
      await hub.gql(p.shop.token, "mutation($in: [AwardPointsInput!]!) { awardPointsBatch(inputs: $in) { accepted rejected { index code message } transactions { member { id } } } }", {
        in: [
          { externalRef: members[1]!.ref, points: 300, idempotencyKey: randomUUID() },
          { externalRef: "UNKNOWN", points: 1, idempotencyKey: randomUUID() },
          { memberId: members[2]!.id, points: 200, idempotencyKey: randomUUID() },
          { memberId: members[2]!.id, externalRef: members[2]!.ref, points: 1, idempotencyKey: randomUUID() },
        ],
      }),
    );
    expect(awardPointsBatch.accepted).toBe(2);
    expect(awardPointsBatch.rejected.map((r: { index: number; code: string }) => [r.index, r.code])).toEqual([
      [1, "NOT_FOUND"],
      [3, "BAD_USER_INPUT"],
    ]);
    expect(awardPointsBatch.transactions.map((t: { member: { id: string } }) => t.member.id)).toEqual([members[1]!.id, members[2]!.id]);
  }, 60_000);
});

describe("partnerTransactions (§5)", () => {
  let reversedId = "";
  beforeAll(async () => {
    // A partial reversal, a whole one, and a redemption at the shop.
    const a = expectNoGraphQLErrors(await hub.gql(p.shop.token, AWARD, { i: { externalRef: members[1]!.ref, points: 1_000, idempotencyKey: randomUUID(), reference: "order-rev" } })).awardPoints;
    reversedId = a.id;
    expectNoGraphQLErrors(
      await hub.gql(p.shop.token, 'mutation($t: ID!, $k: String!) { reverseTransaction(transactionId: $t, points: 400, idempotencyKey: $k, reason: "part returned") { id } }', { t: a.id, k: randomUUID() }),
    );
    const b = expectNoGraphQLErrors(await hub.gql(p.shop.token, AWARD, { i: { externalRef: members[2]!.ref, points: 250, idempotencyKey: randomUUID() } })).awardPoints;
    expectNoGraphQLErrors(await hub.gql(p.shop.token, 'mutation($t: ID!, $k: String!) { reverseTransaction(transactionId: $t, idempotencyKey: $k, reason: "cancelled") { id } }', { t: b.id, k: randomUUID() }));
    const { createRedemptionCode } = expectNoGraphQLErrors(await hub.gql(members[0]!.session, "mutation($p: ID!) { createRedemptionCode(partnerId: $p, points: 120) { code } }", { p: p.shop.id }));
    expectNoGraphQLErrors(
      await hub.gql(p.shop.token, "mutation($i: RedeemPointsInput!) { redeemPoints(input: $i) { id } }", { i: { redemptionCode: createRedemptionCode.code, points: 120, idempotencyKey: randomUUID() } }),
    );
    // Something at the other partner, which the shop must never see.
    expectNoGraphQLErrors(await hub.gql(admin, 'mutation($m: ID!, $k: String!) { adjustPoints(memberId: $m, points: 5, reason: "goodwill", idempotencyKey: $k) { id } }', { m: members[0]!.id, k: randomUUID() }));
    await new Promise((r) => setTimeout(r, 10));
    end = new Date().toISOString();
  }, 60_000);

  test("the partner's own transactions, newest first, with status, reversed points and its member reference; kinds and statuses filter", async () => {
    const { partnerTransactions: all } = expectNoGraphQLErrors(await hub.gql(p.shop.token, LIST, { f: { from: start, to: end }, first: 100 }));
    const kinds = all.edges.map((e: { node: { kind: string } }) => e.node.kind);
    expect(kinds.filter((k: string) => k === "EARN")).toHaveLength(5);
    expect(kinds.filter((k: string) => k === "REVERSAL")).toHaveLength(2);
    expect(kinds.filter((k: string) => k === "REDEEM")).toHaveLength(1);
    expect(kinds).not.toContain("ADJUSTMENT"); // an admin's adjustment is no partner's transaction
    for (const e of all.edges) expect(e.node.partner.id).toBe(p.shop.id);
    const partial = all.edges.find((e: { node: { id: string } }) => e.node.id === reversedId);
    expect(partial).toMatchObject({ status: "PARTIALLY_REVERSED", reversedPoints: "400", memberRef: members[1]!.ref });
    expect(all.edges.filter((e: { status: string }) => e.status === "REVERSED")).toHaveLength(1);
    expect(all.pageInfo).toMatchObject({ hasNextPage: false, hasPreviousPage: false });

    const reversed = expectNoGraphQLErrors(await hub.gql(p.shop.token, LIST, { f: { from: start, to: end, kinds: ["EARN"], statuses: ["REVERSED", "PARTIALLY_REVERSED"] } })).partnerTransactions;
    expect(reversed.edges.map((e: { status: string }) => e.status).sort()).toEqual(["PARTIALLY_REVERSED", "REVERSED"]);
    const fmcg = expectNoGraphQLErrors(await hub.gql(p.fmcg.token, LIST, { f: { from: start, to: end } })).partnerTransactions;
    expect(fmcg.edges).toEqual([]);
  });

  test("forward and backward paging meet: first/after pages, then last/before from the end, the same rows in the same order", async () => {
    const forward: string[] = [];
    let after: string | null = null;
    let pages = 0;
    for (;;) {
      const page: any = expectNoGraphQLErrors(await hub.gql(p.shop.token, LIST, { f: { from: start, to: end }, first: 3, after })).partnerTransactions;
      expect(page.pageInfo.hasPreviousPage).toBe(pages > 0);
      forward.push(...page.edges.map((e: { node: { id: string } }) => e.node.id));
      pages++;
      if (!page.pageInfo.hasNextPage) break;
      after = page.pageInfo.endCursor;
    }
    expect(new Set(forward).size).toBe(forward.length);
    const backward: string[] = [];
    let before: string | null = null;
    for (;;) {
      const page: any = expectNoGraphQLErrors(await hub.gql(p.shop.token, LIST, { f: { from: start, to: end }, last: 3, before })).partnerTransactions;
      backward.unshift(...page.edges.map((e: { node: { id: string } }) => e.node.id));
      expect(page.pageInfo.hasNextPage).toBe(before !== null);
      if (!page.pageInfo.hasPreviousPage) break;
      before = page.pageInfo.startCursor;
    }
    expect(backward).toEqual(forward);
  });

  test("totals equal the approved settlement statement of the same period", async () => {
    // A fresh hub: the first run covers every posting before its end, so the statement and a range
    // from long before to the run's end count the same postings.
    const periodEnd = end;
    const from = new Date(Date.parse(periodEnd) - 365 * 86_400_000).toISOString();
    const { createSettlementRun } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($s: DateTime!, $e: DateTime!) { createSettlementRun(periodStart: $s, periodEnd: $e) { id } }", { s: start, e: periodEnd }));
    const { approveSettlementRun } = expectNoGraphQLErrors(
      await hub.gql(admin, "mutation($id: ID!) { approveSettlementRun(id: $id) { statements { partner { id } pointsIssued64 pointsRedeemed64 pointsReversed64 pointsAdjusted64 } } }", {
        id: createSettlementRun.id,
      }),
    );
    const statement = approveSettlementRun.statements.find((s: { partner: { id: string } }) => s.partner.id === p.shop.id);
    const { partnerTransactions } = expectNoGraphQLErrors(await hub.gql(p.shop.token, TOTALS, { f: { from, to: periodEnd } }));
    expect(partnerTransactions.totals).toMatchObject({
      pointsIssued: statement.pointsIssued64,
      pointsRedeemed: statement.pointsRedeemed64,
      pointsReversed: statement.pointsReversed64,
      pointsAdjusted: statement.pointsAdjusted64,
    });
    expect(partnerTransactions.totals).toMatchObject({ pointsIssued: "2250", pointsRedeemed: "120", pointsReversed: "650", transactions: "8" });
    // The admin reads the same totals by naming the partner.
    expect(expectNoGraphQLErrors(await hub.gql(admin, TOTALS, { p: p.shop.id, f: { from, to: periodEnd } })).partnerTransactions.totals).toEqual(partnerTransactions.totals);
  }, 60_000);

  test("attacks: another partner's transactions, no partner as admin, members, huge ranges and pages, both directions, bad cursors, NUL", async () => {
    const f = { from: start, to: end };
    expect(codeOf(await hub.gql(p.fmcg.token, LIST, { p: p.shop.id, f }))).toBe("FORBIDDEN");
    expect(codeOf(await hub.gql(admin, LIST, { f }))).toBe("BAD_USER_INPUT");
    expect(codeOf(await hub.gql(members[0]!.session, LIST, { f }))).toBe("FORBIDDEN");
    expect(codeOf(await hub.gql(admin, LIST, { p: "not-a-uuid", f }))).toBe("BAD_USER_INPUT");
    const huge = await hub.gql(p.shop.token, LIST, { f: { from: "2000-01-01T00:00:00Z", to: "2030-01-01T00:00:00Z" } });
    expect([codeOf(huge), fieldOf(huge)]).toEqual(["BAD_USER_INPUT", "filter.to"]);
    expect(codeOf(await hub.gql(p.shop.token, LIST, { f: { from: end, to: start } }))).toBe("BAD_USER_INPUT");
    for (const args of [{ first: 100_000 }, { last: 100_000 }, { first: 0 }, { first: -1 }, { first: 2, last: 2 }, { after: "garbage" }, { before: "Zm9vfGJhcg" }, { after: "a".repeat(5000) }]) {
      const r = await hub.gql(p.shop.token, LIST, { f, ...args });
      expect(codeOf(r), JSON.stringify(args).slice(0, 80)).toBe("BAD_USER_INPUT");
    }
    // A cursor of another list (a forged time|id) only moves the window within the caller's own rows.
    const forged = Buffer.from(`${new Date().toISOString()}|${randomUUID()}`).toString("base64url");
    expect(expectNoGraphQLErrors(await hub.gql(p.fmcg.token, LIST, { f, after: forged })).partnerTransactions.edges).toEqual([]);
    expect(codeOf(await hub.gql(p.shop.token, LIST, { f, after: "abc\u0000def" }))).toBe("BAD_USER_INPUT");
    expect(codeOf(await hub.gql(p.shop.token, LIST, { f: { from: "2026-12-01T00:00:00\u0000Z", to: end } }))).toBe("BAD_USER_INPUT");
    expect(codeOf(await hub.gql(p.shop.token, LIST, { f: { ...f, kinds: ["EARN\u0000"] } }))).toBeTruthy();
  });
});

describe("export (§5): GET /exports/partner-transactions, streamed", () => {
  test("CSV and JSON: the rows of the list, totals in headers (and the JSON body), errors in GraphQL's shape", async () => {
    const q = `from=${encodeURIComponent(start)}&to=${encodeURIComponent(end)}`;
    const csv = await exportFile(p.shop.token, q);
    expect(csv.status).toBe(200);
    expect(csv.headers.get("content-type")).toMatch(/^text\/csv/);
    expect(csv.headers.get("content-disposition")).toMatch(/^attachment; filename="transactions-/);
    const lines = (await csv.text()).trimEnd().split("\n");
    expect(lines[0]).toBe("transaction_id,posted_at,kind,status,points,reversed_points,member_id,member_ref,reference,reverses_id,reason");
    expect(lines).toHaveLength(1 + 8);
    const earned = lines
      .slice(1)
      .map((l) => l.split(","))
      .filter((c) => c[2] === "EARN")
      .reduce((s, c) => s + Number(c[4]), 0);
    expect(String(earned)).toBe(csv.headers.get("x-total-points-issued"));

    const json = await exportFile(p.shop.token, `${q}&format=json&kinds=EARN,REVERSAL`);
    expect(json.status).toBe(200);
    const body = (await json.json()) as { totals: Record<string, string>; transactions: { kind: string; memberRef: string | null }[] };
    expect(body.totals.pointsIssued).toBe(csv.headers.get("x-total-points-issued"));
    expect(body.transactions.map((t) => t.kind).sort()).toEqual(["EARN", "EARN", "EARN", "EARN", "EARN", "REVERSAL", "REVERSAL"]);
    expect(body.transactions.every((t) => t.memberRef)).toBe(true);

    // Admin: a partner by id; nobody else's rows leak into the other partner's file.
    const adminCsv = await exportFile(admin, `${q}&partnerId=${p.shop.id}`);
    expect((await adminCsv.text()).trimEnd().split("\n")).toHaveLength(9);
    expect((await (await exportFile(p.fmcg.token, q)).text()).trimEnd().split("\n")).toHaveLength(1);

    const cases: [string | null, string, number, string][] = [
      [null, q, 401, "UNAUTHENTICATED"],
      ["forged.token.value", q, 401, "UNAUTHENTICATED"],
      [p.fmcg.token, `${q}&partnerId=${p.shop.id}`, 403, "FORBIDDEN"],
      [members[0]!.session, q, 403, "FORBIDDEN"],
      [admin, q, 400, "BAD_USER_INPUT"],
      [p.shop.token, `from=yesterday&to=${encodeURIComponent(end)}`, 400, "BAD_USER_INPUT"],
      [p.shop.token, `${q}&format=xml`, 400, "BAD_USER_INPUT"],
      [p.shop.token, `${q}&kinds=EARN%00`, 400, "BAD_USER_INPUT"],
      [p.shop.token, `${q}&kinds=BOGUS`, 400, "BAD_USER_INPUT"],
      [p.shop.token, `${q}&from=${encodeURIComponent(start)}`, 400, "BAD_USER_INPUT"],
      [p.shop.token, `from=2000-01-01T00:00:00Z&to=2030-01-01T00:00:00Z`, 400, "BAD_USER_INPUT"],
      [p.shop.token, `${q}&evil=1`, 400, "BAD_USER_INPUT"],
    ];
    for (const [token, query, status, code] of cases) {
      const r = await exportFile(token, query, { accept: "application/graphql-response+json, application/json;q=0.9" });
      expect([r.status, ((await r.json()) as { errors: { extensions: { code: string } }[] }).errors[0]!.extensions.code], query.slice(-60)).toEqual([status, code]);
    }
    expect((await fetch(`${hub.baseUrl}/exports/partner-transactions?${q}`, { method: "POST", headers: { authorization: `Bearer ${p.shop.token}` } })).status).toBe(405);
    expect((await fetch(`${hub.baseUrl}/exports/nope`, { headers: { authorization: `Bearer ${p.shop.token}` } })).status).toBe(404);
  }, 60_000);

  test("many rows: 15,000 transactions stream out whole, read from the ledger one keyset page (1,000 rows) at a time", async () => {
    const from = new Date().toISOString();
    for (let b = 0; b < 3; b++) {
      const inputs = Array.from({ length: 5_000 }, (_, i) => ({ memberId: members[i % 3]!.id, points: 1 + (i % 7), idempotencyKey: `bulk-${b}-${i}`, reference: `r,"${i}"` }));
      const r = expectNoGraphQLErrors(await hub.gql(p.shop.token, "mutation($in: [AwardPointsInput!]!) { awardPointsBatch(inputs: $in) { accepted } }", { in: inputs }));
      expect(r.awardPointsBatch.accepted).toBe(5_000);
    }
    const to = new Date(Date.now() + 1).toISOString();
    const queriesBefore = hub.queryCount("points");
    const res = await exportFile(p.shop.token, `from=${encodeURIComponent(from)}&to=${encodeURIComponent(to)}`);
    expect(res.headers.get("x-total-transactions")).toBe("15000");
    // Read as a stream, line by line, as a partner's importer would.
    const decoder = new TextDecoder();
    let rest = "";
    let rows = -1; // the header
    let points = 0;
    for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
      const text = rest + decoder.decode(chunk, { stream: true });
      const parts = text.split("\n");
      rest = parts.pop()!;
      for (const line of parts) {
        rows++;
        if (rows > 0) points += Number(line.split(",")[4]);
      }
    }
    expect(rows).toBe(15_000);
    expect(String(points)).toBe(res.headers.get("x-total-points-issued"));
    // 16 keyset pages (15 full, the last empty) + the totals: the file is never loaded whole.
    expect(hub.queryCount("points") - queriesBefore).toBeGreaterThanOrEqual(16);
    expect(hub.queryCount("points") - queriesBefore).toBeLessThanOrEqual(16 + 3);
  }, 240_000);
});
