import { readFileSync } from "node:fs";
import path from "node:path";
import { getIntrospectionQuery, parse } from "graphql";
import { describe, expect, test } from "vitest";
import { partnerLoop } from "../../tests/e2e/query-gen.ts";
import { estimateCost, LIST_SIZES, PAGE_DEFAULT } from "./cost.ts";
import { apiSchema, DEFAULT_LIMITS } from "./limits.ts";

const schema = apiSchema(readFileSync(path.resolve(import.meta.dirname, "../../schema/supergraph.graphql"), "utf8"));
const cost = (q: string, variables?: Record<string, unknown>, operationName?: string) => estimateCost(schema, parse(q), operationName, variables);

describe("estimateCost", () => {
  test("objects times the sizes of the lists above them; scalars and __typename are free", () => {
    // partners: 100 objects; apiClients: 100 × 10.
    expect(cost("{ partners { id name apiClients { clientId __typename } } }").data).toBe(LIST_SIZES["Query.partners"]! * (1 + LIST_SIZES["Partner.apiClients"]!));
    expect(cost("{ me { id displayName } }").data).toBe(1);
  });

  test("first sets a connection's size (literal or variable), else the default page; edges do not count twice", () => {
    // me 1 + activity 1 + edges n + node n.
    expect(cost("{ me { activity(first: 5) { edges { node { id } } } } }").data).toBe(1 + 1 + 5 + 5);
    expect(cost("query($n: Int) { me { activity(first: $n) { edges { node { id } } } } }", { n: 50 }).data).toBe(1 + 1 + 50 + 50);
    expect(cost("{ me { activity { edges { node { id } } } } }").data).toBe(1 + 1 + 2 * PAGE_DEFAULT);
    // Out of range counts as the largest page (the subgraph refuses it anyway).
    expect(cost("{ me { activity(first: 100000) { edges { node { id } } } } }").data).toBe(1 + 1 + 200);
  });

  test("last (backward paging) sets the size as first does: a last: 100 page is not counted as the default page", () => {
    expect(cost("{ me { activity(last: 100) { edges { node { id } } } } }").data).toBe(1 + 1 + 200);
    expect(cost('query($n: Int) { me { activity(last: $n, before: "c") { edges { node { id } } } } }', { n: 50 }).data).toBe(1 + 1 + 50 + 50);
    expect(cost("{ me { activity(last: 100000) { edges { node { id } } } } }").data).toBe(1 + 1 + 200);
  });

  test("nodes(ids:) costs as many objects as ids asked (literal list or variable), at most its 100", () => {
    const ids = (n: number) => Array.from({ length: n }, (_v, i) => `id${i}`);
    // nodes: n objects, each with its fields' objects (scalars free).
    expect(cost('{ nodes(ids: ["a", "b", "c"]) { nodeId } }').data).toBe(3);
    expect(cost("query($ids: [ID!]!) { nodes(ids: $ids) { nodeId ... on Partner { apiClients { clientId } } } }", { ids: ids(40) }).data).toBe(40 * (1 + LIST_SIZES["Partner.apiClients"]!));
    expect(cost("query($ids: [ID!]!) { nodes(ids: $ids) { nodeId } }", { ids: ids(5_000) }).data).toBe(100);
    expect(cost('{ node(id: "a") { nodeId } }').data).toBe(1);
  });

  test("the issue's partner loop: six and seven levels are far above every role's maximum, one level is not", () => {
    const max = Math.max(...Object.values(DEFAULT_LIMITS.maxCost));
    expect(cost(partnerLoop(6)).data).toBeGreaterThan(max * 1000);
    expect(cost(partnerLoop(7)).data).toBeGreaterThan(cost(partnerLoop(6)).data);
    expect(cost(partnerLoop(1)).data).toBeLessThanOrEqual(DEFAULT_LIMITS.maxCost.PARTNER);
  });

  test("fragments and aliases count every time they are used; the chosen operation only", () => {
    const once = cost("{ partners { id } }").data;
    expect(cost("{ a: partners { ...P } b: partners { ...P } } fragment P on Partner { id }").data).toBe(2 * once);
    expect(cost("query A { partners { id } } query B { me { id } }", undefined, "B").data).toBe(1);
    expect(cost("mutation { __typename }").data).toBe(10);
  });

  test("introspection is costed on its own: the standard query fits its cap, nested type amplification does not", () => {
    const standard = cost(getIntrospectionQuery());
    expect(standard.data).toBe(0);
    expect(standard.introspection).toBeLessThanOrEqual(DEFAULT_LIMITS.maxIntrospectionCost);
    const nested = cost("{ __schema { types { fields { type { fields { type { fields { type { fields { name } } } } } } } } } }");
    expect(nested.introspection).toBeGreaterThan(DEFAULT_LIMITS.maxIntrospectionCost);
  });

  test("the wallet query of the benches costs a few hundred, well inside a member's maximum", () => {
    const wallet = cost("{ me { id displayName wallet { balance } tier { tier } eligibleOffers { coIssuers { shareBps partner { id name } } } activity(first: 20) { edges { node { id partner { id name } } } } } }");
    expect(wallet.data).toBeLessThan(DEFAULT_LIMITS.maxCost.MEMBER / 4);
  });
});

test("the queries the limits tests rely on sit where they say", () => {
  const perRole = cost("{ partners { id apiClients { clientId partner { id apiClients { clientId } rateHistory { issuePrice } } } } }").data;
  expect(perRole).toBeGreaterThan(DEFAULT_LIMITS.maxCost.PARTNER);
  expect(perRole).toBeLessThanOrEqual(DEFAULT_LIMITS.maxCost.ADMIN);
  // A partner's full view of a settlement run (tests/e2e/settlement.e2e.ts) is allowed.
  expect(cost('{ settlementRun(id: "x") { id statements { partner { id name } lines { id } } flows { from { id } to { id } } } }').data).toBeLessThanOrEqual(DEFAULT_LIMITS.maxCost.PARTNER);
});
