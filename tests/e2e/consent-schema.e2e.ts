import { buildSchema, type GraphQLField, type GraphQLNamedType, type GraphQLSchema, getNamedType, isLeafType, isNonNullType, isObjectType } from "graphql";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Principal } from "../../lib/principal.ts";
import { compose, readCheckedIn } from "../../scripts/schema-tools.ts";
import { type Category, EXPOSURE } from "../support/consent-table.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { callSubgraph, expectNoGraphQLErrors, type GraphQLResult } from "../support/subgraph.ts";

// Issue 14 §3: every field a partner can reach is classified (tests/support/consent-table.ts),
// and every consent-gated field is proven, through the gateway, to be null + CONSENT_REQUIRED
// naming its category for a partner whose consent lacks exactly that category.

const ALL: Category[] = ["PROFILE_BASIC", "PROFILE_CONTACT", "TIER", "POINTS_BALANCE", "ACTIVITY", "SEGMENTS"];
const publicSchema: GraphQLSchema = buildSchema(compose(readCheckedIn().subgraphs).publicSdl);

/** Every field of every object type reachable from Query and Mutation, as "Type.field". */
function reachableFields(schema: GraphQLSchema): Map<string, GraphQLField<unknown, unknown>> {
  const out = new Map<string, GraphQLField<unknown, unknown>>();
  const seen = new Set<string>();
  const queue: GraphQLNamedType[] = [schema.getQueryType()!, schema.getMutationType()!];
  while (queue.length) {
    const t = queue.shift()!;
    if (seen.has(t.name) || !isObjectType(t)) continue;
    seen.add(t.name);
    for (const f of Object.values(t.getFields())) {
      out.set(`${t.name}.${f.name}`, f);
      queue.push(getNamedType(f.type));
    }
  }
  return out;
}

/** The smallest selection of a field's type: nothing for a leaf, else its first leaf field without required arguments. */
function minimalSelection(t: GraphQLNamedType, depth = 0): string {
  if (isLeafType(t) || !isObjectType(t)) return "";
  if (depth > 4) throw new Error(`no leaf under ${t.name}`);
  const fields = Object.values(t.getFields()).filter((f) => !f.args.some((a) => isNonNullType(a.type) && a.defaultValue === undefined));
  const leaf = fields.find((f) => isLeafType(getNamedType(f.type)));
  if (leaf) return `{ ${leaf.name} }`;
  const f = fields[0]!;
  return `{ ${f.name} ${minimalSelection(getNamedType(f.type), depth + 1)} }`;
}

describe("the consent table covers the public schema", () => {
  const fields = reachableFields(publicSchema);

  test("every reachable field is classified, and the table lists no field that no longer exists", () => {
    const missing = [...fields.keys()].filter((k) => !(k in EXPOSURE));
    expect(missing, "classify these fields in tests/support/consent-table.ts").toEqual([]);
    const stale = Object.keys(EXPOSURE).filter((k) => !fields.has(k));
    expect(stale, "remove these entries from tests/support/consent-table.ts").toEqual([]);
  });

  test("a field classified `under` a category is reachable only through fields gated by (or under) that category", () => {
    for (const [key, exposure] of Object.entries(EXPOSURE)) {
      if (!("under" in exposure)) continue;
      const parentType = key.split(".")[0]!;
      const into = [...fields].filter(([, f]) => getNamedType(f.type).name === parentType).map(([k]) => k);
      expect(into.length, `${parentType} is reachable`).toBeGreaterThan(0);
      for (const k of into) {
        const e = EXPOSURE[k]!;
        const cat = "gate" in e ? e.gate : "under" in e ? e.under : null;
        expect(cat, `${k} leads to ${key}, which reveals ${exposure.under}`).toBe(exposure.under);
      }
    }
  });

  test("gated fields are nullable (a refusal is null + an error, the rest of the query answers)", () => {
    for (const [key, exposure] of Object.entries(EXPOSURE)) {
      if ("gate" in exposure) expect(isNonNullType(fields.get(key)!.type), key).toBe(false);
    }
  });
});

describe("every gated field, through the gateway", () => {
  let hub: TestHub;
  let partner: { id: string; token: string };
  let memberId: string;
  let txId: string;
  const memberSelf = (): Principal => ({ sub: memberId, role: "MEMBER", memberId, partnerId: null, scope: "member", purpose: null, authority: "PERSON" });

  /** The member grants (through its own subgraph, as its app would) and returns the receipt id. */
  async function grant(categories: Category[], purpose = "ACCOUNT_SERVICING"): Promise<string> {
    const r = await callSubgraph<{ grantConsent: { id: string } }>(hub.subgraphs.member.url, memberSelf(), "mutation($i: GrantConsentInput!) { grantConsent(input: $i) { id } }", {
      i: { partnerId: partner.id, categories, purpose, noticeVersion: "2026-12" },
    });
    return expectNoGraphQLErrors(r).grantConsent.id;
  }
  async function revoke(id: string) {
    expectNoGraphQLErrors(await callSubgraph(hub.subgraphs.member.url, memberSelf(), "mutation($id: ID!) { revokeConsent(consentId: $id) { id } }", { id }));
  }

  /** Entry points that reach a parent type of a gated field, with the variables they need. */
  const entry = (type: string, inner: string): { query: string; path: string[]; variables: Record<string, string> } => {
    if (type === "Member") return { query: `query($m: ID!) { member(id: $m) { id ${inner} } }`, path: ["member"], variables: { m: memberId } };
    if (type === "PointsTransaction") return { query: `query($t: ID!) { transaction(id: $t) { id ${inner} } }`, path: ["transaction"], variables: { t: txId } };
    throw new Error(`the test has no entry point to ${type}: add one so the gate on it is proven`);
  };
  const gatedFields = Object.entries(EXPOSURE).flatMap(([key, e]) => ("gate" in e ? [{ key, category: e.gate }] : []));
  const readGated = async (key: string) => {
    const [type, field] = key.split(".") as [string, string];
    const f = reachableFields(publicSchema).get(key)!;
    const { query, path, variables } = entry(type, `${field} ${minimalSelection(getNamedType(f.type))}`);
    const r = await hub.gql(partner.token, query, variables);
    const parent = path.reduce<any>((o, k) => o?.[k], r.data);
    return { r, parent, field };
  };
  const errorAt = (r: GraphQLResult, field: string) => r.errors?.find((e) => e.path?.at(-1) === field);

  beforeAll(async () => {
    hub = await startTestHub();
    const admin = await hub.adminToken();
    const { registerPartner } = expectNoGraphQLErrors(await hub.gql(admin, 'mutation { registerPartner(input: { name: "Gamma Goods", category: "ECOMMERCE", issuePrice: "0.015", redemptionRate: "0.010" }) { id } }'));
    const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
    partner = { id: registerPartner.id, token: await hub.token(createApiClient.clientId, createApiClient.clientSecret) };
    memberId = expectNoGraphQLErrors(
      await hub.gql(partner.token, 'mutation { enrollMember(input: { email: "gated@example.com", displayName: "Gated", phone: "+8613800138000", birthday: "1990-01-02", externalRef: "G-1" }) { id } }'),
    ).enrollMember.id;
    await hub.flushEvents();
    txId = expectNoGraphQLErrors(await hub.gql(partner.token, 'mutation($m: ID!) { awardPoints(input: { memberId: $m, idempotencyKey: "gate-1", points: 700 }) { id } }', { m: memberId })).awardPoints.id;
    await hub.flushEvents();
  }, 120_000);
  afterAll(() => hub?.close());

  test("with every category granted, every gated field answers", async () => {
    const id = await grant(ALL);
    try {
      expect(gatedFields.length).toBeGreaterThan(0);
      for (const { key } of gatedFields) {
        const { r, parent, field } = await readGated(key);
        expect(r.errors, key).toBeUndefined();
        expect(parent?.id, key).toEqual(expect.any(String));
        expect(parent?.[field] ?? null, key).not.toBeNull();
      }
    } finally {
      await revoke(id);
    }
  });

  test("with every category but one, each field of that category is null + CONSENT_REQUIRED naming it; the rest of the query answers", async () => {
    for (const missing of ALL) {
      const fields = gatedFields.filter((g) => g.category === missing);
      if (!fields.length) continue;
      const id = await grant(ALL.filter((c) => c !== missing));
      try {
        for (const { key } of fields) {
          const { r, parent, field } = await readGated(key);
          expect(parent?.id, `${key}: the rest answers`).toEqual(expect.any(String));
          expect(parent?.[field] ?? null, key).toBeNull();
          expect(errorAt(r, field)?.extensions, key).toMatchObject({ code: "CONSENT_REQUIRED", category: missing });
          expect(r.errors, `${key}: no other error`).toHaveLength(1);
        }
      } finally {
        await revoke(id);
      }
    }
  });

  test("balanceAfter is gated on every way to a transaction: activity, awardPoints, awardPointsBatch", async () => {
    const id = await grant(["ACTIVITY"]);
    try {
      const act = await hub.gql(partner.token, "query($m: ID!) { member(id: $m) { activity { edges { node { id points balanceAfter } } } } }", { m: memberId });
      const node = act.data?.member?.activity?.edges?.[0]?.node;
      expect(node?.points).toBe(700); // ACTIVITY was granted: the movement is visible
      expect(node?.balanceAfter ?? null).toBeNull();
      expect(errorAt(act, "balanceAfter")?.extensions).toMatchObject({ code: "CONSENT_REQUIRED", category: "POINTS_BALANCE" });

      const award = await hub.gql(partner.token, 'mutation($m: ID!) { awardPoints(input: { memberId: $m, idempotencyKey: "gate-2", points: 5 }) { id points balanceAfter } }', { m: memberId });
      expect(award.data?.awardPoints?.points).toBe(5);
      expect(award.data?.awardPoints?.balanceAfter ?? null).toBeNull();
      expect(errorAt(award, "balanceAfter")?.extensions).toMatchObject({ code: "CONSENT_REQUIRED", category: "POINTS_BALANCE" });

      const batch = await hub.gql(partner.token, 'mutation($m: ID!) { awardPointsBatch(inputs: [{ memberId: $m, idempotencyKey: "gate-3", points: 6 }]) { accepted transactions { id balanceAfter } } }', { m: memberId });
      expect(batch.data?.awardPointsBatch?.accepted).toBe(1);
      expect(batch.data?.awardPointsBatch?.transactions?.[0]?.balanceAfter ?? null).toBeNull();
      expect(errorAt(batch, "balanceAfter")?.extensions).toMatchObject({ code: "CONSENT_REQUIRED", category: "POINTS_BALANCE" });
    } finally {
      await revoke(id);
    }

    // With POINTS_BALANCE the same reads answer, and the member's log names the category.
    const withBalance = await grant(["ACTIVITY", "POINTS_BALANCE"]);
    const again = expectNoGraphQLErrors(await hub.gql(partner.token, "query($m: ID!) { member(id: $m) { activity { edges { node { balanceAfter } } } } }", { m: memberId }));
    expect(again.member.activity.edges[0].node.balanceAfter).toBe(711);
    const replay = expectNoGraphQLErrors(await hub.gql(partner.token, 'mutation($m: ID!) { awardPoints(input: { memberId: $m, idempotencyKey: "gate-2", points: 5 }) { balanceAfter } }', { m: memberId }));
    expect(replay.awardPoints.balanceAfter).toBe(705);
    await revoke(withBalance);
  });
});
