import { afterAll, beforeAll, expect, test } from "vitest";
import { onPostgres } from "../../../../tests/support/db.ts";
import { expectNoGraphQLErrors } from "../../../../tests/support/subgraph.ts";
import { prisma } from "../db.ts";
import { forgetLiveOffers } from "../services/offers/catalog.ts";
import { submitOffer } from "../services/offers/lifecycle.ts";
import { createOffer } from "../services/offers/terms.ts";
import { memberPrincipal, newPartner, type PartnerHarness, partnerPrincipal, startPartnerHarness } from "../testing/harness.ts";
import { schema } from "./index.ts";

test("every type, field, argument and enum value of the partner subgraph has a description", () => {
  const missing: string[] = [];
  for (const type of Object.values(schema.getTypeMap())) {
    if (type.name.startsWith("_") || ["String", "Boolean", "Int", "Float", "ID", "link__Import", "link__Purpose"].includes(type.name)) continue;
    if (!type.description) missing.push(type.name);
    if ("getFields" in type) {
      for (const f of Object.values(type.getFields()) as { name: string; description?: string | null; args?: { name: string; description?: string | null }[]; astNode?: unknown }[]) {
        if (f.name.startsWith("_")) continue;
        // @external fields are described by their owning subgraph.
        if (type.name === "Member" && ["tierLevel", "segment", "sharedScopes"].includes(f.name)) continue;
        if (!f.description) missing.push(`${type.name}.${f.name}`);
        for (const a of f.args ?? []) if (!a.description) missing.push(`${type.name}.${f.name}(${a.name})`);
      }
    }
    if ("getValues" in type) for (const v of type.getValues()) if (!v.description) missing.push(`${type.name}.${v.name}`);
  }
  expect(missing).toEqual([]);
});

let h: PartnerHarness;
beforeAll(async () => {
  h = await startPartnerHarness();
});
afterAll(() => h?.close());

const DAY = 86_400_000;
async function offerOf(issuers: string[]) {
  const share = Math.floor(10_000 / issuers.length);
  return createOffer(partnerPrincipal(issuers[0]!), {
    title: "t",
    kind: "BONUS_POINTS",
    bonusPoints: 10,
    coIssuers: issuers.map((partnerId, i) => ({ partnerId, shareBps: i === 0 ? 10_000 - share * (issuers.length - 1) : share })),
    redeemableAtPartnerIds: issuers,
    startsAt: new Date(Date.now() - 1000),
    endsAt: new Date(Date.now() + 30 * DAY),
    budgetPoints: 1000,
    perMemberLimit: 1,
  });
}

test("co-issuers approving at the same moment activate the offer exactly once", async () => {
  const partners = await Promise.all(Array.from({ length: 4 }, () => newPartner()));
  const ids = partners.map((p) => p.id);
  for (let round = 0; round < (onPostgres() ? 5 : 1); round++) {
    const o = await offerOf(ids);
    await submitOffer(partnerPrincipal(ids[0]!), o.id);
    const rs = await Promise.all(ids.map((p) => h.as(partnerPrincipal(p), `mutation($o: ID!) { approveOffer(offerId: $o) { status } }`, { o: o.id })));
    for (const r of rs) expectNoGraphQLErrors(r);
    expect((await prisma().offer.findUniqueOrThrow({ where: { id: o.id } })).status).toBe("ACTIVE");
    expect(await prisma().partnerOutboxEvent.count({ where: { type: "partner.offer_activated", payload: { path: ["offerId"], equals: o.id } } })).toBe(1);
  }
});

test("N+1 guard: offers with co-issuers and partners, and members' offers, take a flat number of queries", async () => {
  const partners = await Promise.all(Array.from({ length: 3 }, () => newPartner()));
  const ids = partners.map((p) => p.id);
  for (let i = 0; i < 12; i++) await offerOf(ids);
  const q = `query($n: Int) { offers(first: $n) { edges { node { id coIssuers { partner { id name issuePrice } shareBps approved } redeemableAt { id name } createdBy { id } } } } }`;
  const run = async (n: number) => {
    const before = h.queries();
    const r = expectNoGraphQLErrors(await h.as<{ offers: { edges: unknown[] } }>(partnerPrincipal(ids[0]!), q, { n }));
    expect(r.offers.edges).toHaveLength(n);
    return h.queries() - before;
  };
  expect(await run(12)).toBe(await run(2));
  const members = Array.from({ length: 20 }, () => crypto.randomUUID());
  const eq = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Member { eligibleOffers { id coIssuers { shareBps } } claimedOffers { id } } } }`;
  const ents = async (n: number) => {
    const before = h.queries();
    const reps = members.slice(0, n).map((id) => ({ __typename: "Member", id, tierLevel: "BASE", segment: "NEW", sharedScopes: ["TIER", "SEGMENTS", "ACTIVITY"] }));
    expectNoGraphQLErrors(await h.as(memberPrincipal(members[0]!), eq, { r: reps }));
    return h.queries() - before;
  };
  // The live offers are cached across requests (services/offers/catalog.ts): compare cold with cold
  // (the snapshot is loaded) and warm with warm (only the eligibility inputs' statement).
  forgetLiveOffers();
  const cold20 = await ents(20);
  forgetLiveOffers();
  expect(cold20).toBe(await ents(2));
  expect(await ents(20)).toBe(await ents(2));
});
