import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { PrismaClient } from "../../../../../lib/db.ts";
import { onPostgres } from "../../../../../tests/support/db.ts";
import { expectNoGraphQLErrors } from "../../../../../tests/support/subgraph.ts";
import { prisma } from "../../db.ts";
import { adminPrincipal, memberPrincipal, newPartner, type PartnerHarness, partnerPrincipal, startPartnerHarness } from "../../testing/harness.ts";
import { forgetLiveOffers, liveOfferSnapshot, readCatalogVersion } from "./catalog.ts";
import { approveOffer, endOffer, pauseOffer, resumeOffer, submitOffer } from "./lifecycle.ts";
import { createOffer, updateOffer } from "./terms.ts";
import { setPartnerActive } from "../partners.ts";

// The live-offer list is cached across requests (catalog.ts) and must never be stale: a
// write from anywhere (this process, another client = another process, raw SQL) moves the catalog
// version in its own transaction; the clock (window starts and ends) is checked per request.
let h: PartnerHarness;
/** Another Prisma client: on PostgreSQL its own pool, as another partner process would have. */
let other: PrismaClient;
beforeAll(async () => {
  h = await startPartnerHarness();
  other = h.db.client();
});
afterAll(() => h?.close());

const HOUR = 3_600_000;
const DAY = 24 * HOUR;
const NOW = new Date(Date.now() + 60_000);
const at = (ms: number) => new Date(NOW.getTime() + ms);

async function activeOffer(coIssuers: string[], window: { startsAt?: Date; endsAt?: Date } = {}, extra: Record<string, unknown> = {}): Promise<string> {
  const me = partnerPrincipal(coIssuers[0]!);
  const share = 10_000 / coIssuers.length;
  const o = await createOffer(
    me,
    {
      title: "Cached",
      kind: "BONUS_POINTS",
      bonusPoints: 50,
      coIssuers: coIssuers.map((partnerId) => ({ partnerId, shareBps: share })),
      redeemableAtPartnerIds: [coIssuers[0]!],
      startsAt: window.startsAt ?? at(-DAY),
      endsAt: window.endsAt ?? at(30 * DAY),
      budgetPoints: 1_000,
      perMemberLimit: 3,
      ...extra,
    },
    { now: new Date(Math.min(NOW.getTime(), Date.now())) },
  );
  await submitOffer(me, o.id);
  for (const p of coIssuers) await approveOffer(partnerPrincipal(p), o.id);
  expect((await prisma().offer.findUniqueOrThrow({ where: { id: o.id } })).status).toBe("ACTIVE");
  return o.id;
}

const live = async (now = NOW) => (await liveOfferSnapshot(now)).offers;
const ids = async (now = NOW) => (await live(now)).map((o) => o.id);
const find = async (id: string, now = NOW) => (await live(now)).find((o) => o.id === id);

describe("the live-offer cache", () => {
  test("is reused while the catalog version and the clock fit (no offer query), and its objects are frozen", async () => {
    const a = await newPartner();
    const id = await activeOffer([a.id]);
    const first = await liveOfferSnapshot(NOW);
    expect(first.offers.map((o) => o.id)).toContain(id);
    const before = h.queries();
    const again = await liveOfferSnapshot(at(1_000));
    expect(h.queries() - before).toBe(1); // the version only
    expect(again).toBe(first);
    const o = again.offers.find((x) => x.id === id)!;
    expect(() => {
      (o as { title: string }).title = "mutated";
    }).toThrow(TypeError);
    expect(() => (o.fundings as unknown[]).push({})).toThrow(TypeError);
    expect(() => {
      (o.fundings[0]!.partner as { name: string }).name = "mutated";
    }).toThrow(TypeError);
    expect(() => (again.offers as unknown[]).pop()).toThrow(TypeError);
    expect(() => (again.fundings.get(id) as unknown[]).pop()).toThrow(TypeError);
  });

  test("a change through another client (another process), in raw SQL, is seen by the next request at the same clock", async () => {
    const a = await newPartner();
    const id = await activeOffer([a.id]);
    expect((await find(id))?.title).toBe("Cached");
    const v = await readCatalogVersion();
    await other.$executeRaw`UPDATE "partner"."Offer" SET title = 'Renamed elsewhere' WHERE id = ${id}::uuid`;
    expect(await readCatalogVersion()).toBe(v! + 1n);
    expect((await find(id))?.title).toBe("Renamed elsewhere");
    await other.$executeRaw`UPDATE "partner"."Offer" SET status = 'PAUSED' WHERE id = ${id}::uuid`;
    expect(await ids()).not.toContain(id);
    await other.$executeRaw`UPDATE "partner"."Offer" SET status = 'ACTIVE' WHERE id = ${id}::uuid`;
    expect(await ids()).toContain(id);
    // A new offer inserted elsewhere (all columns the domain would set).
    const b = await newPartner();
    const inserted = randomUUID();
    await other.$transaction([
      other.$executeRaw`INSERT INTO "partner"."Offer" (id, title, kind, "bonusPoints", segments, "startsAt", "endsAt", "budgetPoints", "perMemberLimit", status, "createdByPartnerId", "updatedAt", "activatedAt")
        VALUES (${inserted}::uuid, 'Inserted elsewhere', 'BONUS_POINTS', 10, '{}', ${at(-HOUR)}::timestamptz, ${at(DAY)}::timestamptz, 100, 1, 'ACTIVE', ${b.id}::uuid, now(), now())`,
      other.$executeRaw`INSERT INTO "partner"."OfferFunding" ("offerId", "partnerId", "shareBps", "approvedAt") VALUES (${inserted}::uuid, ${b.id}::uuid, 10000, now())`,
    ]);
    expect((await find(inserted))?.fundings.map((f) => f.partnerId)).toEqual([b.id]);
  });

  test("an offer whose window starts or ends between two requests appears or disappears (no write in between)", async () => {
    const a = await newPartner();
    const later = await activeOffer([a.id], { startsAt: at(HOUR), endsAt: at(30 * DAY) });
    const ending = await activeOffer([a.id], { startsAt: at(-DAY), endsAt: at(2 * HOUR) });
    const v = await readCatalogVersion();
    expect(await ids()).toContain(ending);
    expect(await ids()).not.toContain(later);
    expect(await ids(at(HOUR - 1))).not.toContain(later);
    expect(await ids(at(HOUR))).toContain(later);
    expect(await ids(at(2 * HOUR - 1))).toEqual(expect.arrayContaining([later, ending]));
    expect(await ids(at(2 * HOUR))).not.toContain(ending);
    // Back in time (tests set the clock): not before the snapshot's loadedAt.
    expect(await ids(NOW)).not.toContain(later);
    expect(await ids(NOW)).toContain(ending);
    expect(await readCatalogVersion()).toBe(v);
  });

  test("ending, pausing, resuming, editing and approving, editing co-issuers and deactivating a partner each invalidate", async () => {
    const a = await newPartner();
    const b = await newPartner();
    const id = await activeOffer([a.id, b.id]);
    const toEnd = await activeOffer([a.id]);
    expect(await ids()).toEqual(expect.arrayContaining([id, toEnd]));

    await endOffer(partnerPrincipal(a.id), toEnd, { now: NOW });
    expect(await ids()).not.toContain(toEnd);

    await pauseOffer(partnerPrincipal(a.id), id);
    expect(await ids()).not.toContain(id);
    await resumeOffer(partnerPrincipal(a.id), id, { now: NOW });
    expect(await ids()).toContain(id);

    // An edit clears approvals (back to PENDING_APPROVAL); the approvals bring it back, edited.
    await updateOffer(partnerPrincipal(a.id), id, { title: "Edited" }, { now: NOW });
    expect(await ids()).not.toContain(id);
    await approveOffer(partnerPrincipal(a.id), id);
    expect(await ids()).not.toContain(id);
    await approveOffer(partnerPrincipal(b.id), id);
    expect((await find(id))?.title).toBe("Edited");

    // Co-issuers (no domain path changes them on a funded offer: another writer does).
    const c = await newPartner();
    await other.$transaction([
      other.$executeRaw`UPDATE "partner"."OfferFunding" SET "shareBps" = 2500 WHERE "offerId" = ${id}::uuid AND "partnerId" = ${b.id}::uuid`,
      other.$executeRaw`INSERT INTO "partner"."OfferFunding" ("offerId", "partnerId", "shareBps", "approvedAt") VALUES (${id}::uuid, ${c.id}::uuid, 2500, now())`,
    ]);
    expect((await find(id))?.fundings.map((f) => [f.partnerId, f.shareBps])).toEqual([
      [a.id, 5000],
      ...[
        [b.id, 2500],
        [c.id, 2500],
      ].sort((x, y) => String(x[0]).localeCompare(String(y[0]))),
    ]);
    await other.$executeRaw`DELETE FROM "partner"."OfferFunding" WHERE "offerId" = ${id}::uuid AND "partnerId" = ${c.id}::uuid`;
    expect((await find(id))?.fundings.map((f) => f.partnerId)).not.toContain(c.id);

    // The co-issuing partner's row travels with the offer (coIssuers { partner }).
    expect((await find(id))?.fundings.find((f) => f.partnerId === b.id)?.partner.active).toBe(true);
    await setPartnerActive(adminPrincipal(), b.id, false);
    expect((await find(id))?.fundings.find((f) => f.partnerId === b.id)?.partner.active).toBe(false);
    await other.$executeRaw`UPDATE "partner"."Partner" SET name = 'Renamed partner' WHERE id = ${b.id}::uuid`;
    expect((await find(id))?.fundings.find((f) => f.partnerId === b.id)?.partner.name).toBe("Renamed partner");
  });

  test("Member.eligibleOffers: the version comes with the eligibility inputs; a warm request runs one statement and still sees another writer's change", async () => {
    const a = await newPartner();
    const id = await activeOffer([a.id]);
    const m = randomUUID();
    const q = `query($r: [_Any!]!) { _entities(representations: $r) { ... on Member { eligibleOffers { id title coIssuers { shareBps partner { id name } } } } } }`;
    const ask = async () => {
      const before = h.queries();
      const r = expectNoGraphQLErrors(
        await h.as<{ _entities: { eligibleOffers: { id: string; title: string; coIssuers: { partner: { name: string } }[] }[] }[] }>(memberPrincipal(m), q, {
          r: [{ __typename: "Member", id: m, tierLevel: "BASE", segment: "ACTIVE", sharedScopes: [] }],
        }),
      );
      return { offers: r._entities[0]!.eligibleOffers, queries: h.queries() - before };
    };
    forgetLiveOffers();
    const cold = await ask();
    expect(cold.offers.map((o) => o.id)).toContain(id);
    const warm = await ask();
    expect(warm.queries).toBe(1); // eligibility inputs + catalog version, one statement
    expect(cold.queries).toBeGreaterThan(warm.queries);
    await other.$executeRaw`UPDATE "partner"."Offer" SET title = 'Seen at once' WHERE id = ${id}::uuid`;
    expect((await ask()).offers.find((o) => o.id === id)?.title).toBe("Seen at once");
    await other.$executeRaw`UPDATE "partner"."Partner" SET name = 'Partner renamed' WHERE id = ${a.id}::uuid`;
    expect((await ask()).offers.find((o) => o.id === id)?.coIssuers[0]?.partner.name).toBe("Partner renamed");
    await other.$executeRaw`UPDATE "partner"."Offer" SET status = 'PAUSED' WHERE id = ${id}::uuid`;
    expect((await ask()).offers.map((o) => o.id)).not.toContain(id);
  });

  test.runIf(onPostgres())("PostgreSQL: a change not yet committed is not seen, and is seen right after its commit", async () => {
    const a = await newPartner();
    const id = await activeOffer([a.id]);
    await other.$transaction(async (tx) => {
      await tx.$executeRaw`UPDATE "partner"."Offer" SET title = 'Committed later' WHERE id = ${id}::uuid`;
      // Loaded while the change is uncommitted: the old title under the old version.
      forgetLiveOffers();
      expect((await find(id))?.title).toBe("Cached");
    });
    expect((await find(id))?.title).toBe("Committed later");
  });

  test("the counter row cannot be deleted (a missing row would hide every change)", async () => {
    await expect(other.$executeRaw`DELETE FROM "partner"."OfferCatalogVersion"`).rejects.toThrow();
    expect(await readCatalogVersion()).not.toBeNull();
  });
});
