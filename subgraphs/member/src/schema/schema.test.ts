import { afterAll, beforeAll, expect, test } from "vitest";
import { expectNoGraphQLErrors } from "../../../../tests/support/subgraph.ts";
import { consentTo, enrolAt, type MemberHarness, newPartnerId, partnerPrincipal, startMemberHarness } from "../testing/harness.ts";
import { schema } from "./index.ts";

test("every type, field, argument and enum value of the member subgraph has a description", () => {
  const missing: string[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    // Federation and introspection plumbing is not ours to describe.
    if (type.name.startsWith("_") || ["String", "Boolean", "Int", "Float", "ID", "link__Import", "link__Purpose"].includes(type.name)) continue;
    if (!type.description) missing.push(type.name);
    // Duck-typed: vitest may load graphql twice (ESM and CJS), which breaks graphql's instanceof checks.
    if ("getFields" in type) {
      for (const f of Object.values(type.getFields()) as { name: string; description?: string | null; args?: { name: string; description?: string | null }[] }[]) {
        if (f.name.startsWith("_")) continue;
        if (!f.description) missing.push(`${type.name}.${f.name}`);
        for (const a of f.args ?? []) if (!a.description) missing.push(`${type.name}.${f.name}(${a.name})`);
      }
    }
    if ("getValues" in type) for (const v of type.getValues()) if (!v.description) missing.push(`${type.name}.${v.name}`);
  }
  expect(missing).toEqual([]);
});

let h: MemberHarness;
beforeAll(async () => {
  h = await startMemberHarness();
});
afterAll(() => h?.close());

test("N+1 guard: a partner reading every member field of 3 or 30 members issues the same number of queries", async () => {
  const shop = newPartnerId();
  const members: Awaited<ReturnType<typeof enrolAt>>[] = [];
  for (let i = 0; i < 30; i++) {
    const m = await enrolAt(shop);
    await consentTo(m.id, shop, ["PROFILE_BASIC", "PROFILE_CONTACT", "SEGMENTS"], "OFFER_TARGETING");
    members.push(m);
  }
  const q = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Member {
    id displayName email phone birthday joinedAt lifecycle sharedScopes segment rfm { recency }
    linkedAccounts { externalRef partner { id } } consents { id status } dataAccessLog(first: 5) { edges { node { at } } }
  } } }`;
  const run = async (n: number) => {
    const before = h.queries();
    const r = expectNoGraphQLErrors(await h.as<{ _entities: unknown[] }>(partnerPrincipal(shop, "OFFER_TARGETING"), q, { r: members.slice(0, n).map((m) => ({ __typename: "Member", id: m.id })) }));
    expect(r._entities).toHaveLength(n);
    return h.queries() - before;
  };
  const small = await run(3);
  const large = await run(30);
  expect(large).toBe(small);
  expect(small).toBeLessThanOrEqual(8); // members, scopes, links, consents, activity, access log page, access-log insert
});
