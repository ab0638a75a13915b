import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import type { HubContext } from "../../../../lib/pothos.ts";
import { type Principal, readsUngated } from "../../../../lib/principal.ts";
import { DATA_CATEGORIES } from "../../../../lib/vocabulary.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { adminPrincipal, memberPrincipal, partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { usePrisma } from "../db.ts";
import { createLoaders } from "../loaders.ts";
import { newPartnerId } from "../testing/harness.ts";
import { activeScopes, consentStatus, importConsents } from "./consents.ts";
import { DAY_MS } from "./domain.ts";
import { enrollMembers } from "./members.ts";

let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
});
afterAll(() => db?.close());

test("importConsents: admin only, IMPORT receipts with back-dated grants, same validation and link rule as grantConsent", async () => {
  const shop = newPartnerId();
  const hotel = newPartnerId();
  const [m] = (await enrollMembers(partnerPrincipal(shop), [{ email: "imp@example.com", externalRef: "I-1" }])) as { member: { id: string } }[];
  const memberId = m!.member.id;
  const now = new Date();
  const ago = (d: number) => new Date(now.getTime() - d * DAY_MS);
  const base = { memberId, partnerId: shop, noticeVersion: "legacy-3" };
  const r = await importConsents(
    adminPrincipal("ops-import"),
    [
      { ...base, categories: ["PROFILE_BASIC", "TIER"], purpose: "OFFER_TARGETING", grantedAt: ago(100) }, // 0 active
      { ...base, categories: ["SEGMENTS"], purpose: "OFFER_TARGETING", grantedAt: ago(100), expiresAt: ago(10) }, // 1 expired
      { ...base, partnerId: hotel, categories: ["TIER"], purpose: "OFFER_TARGETING" }, // 2 not linked
      { ...base, categories: [], purpose: "OFFER_TARGETING" }, // 3 no category
      { ...base, memberId: "x", categories: ["TIER"], purpose: "ANALYTICS" }, // 4 bad member
      { ...base, categories: ["TIER"], purpose: "ANALYTICS", grantedAt: new Date(now.getTime() + DAY_MS) }, // 5 future grant
    ],
    { now },
  );
  expect(r.map((x) => ("error" in x ? `${x.index}:${x.error.field}` : `${x.index}:ok`))).toEqual(["0:ok", "1:ok", "2:partnerId", "3:categories", "4:memberId", "5:grantedAt"]);
  const ok = r.filter((x) => "consent" in x) as { consent: Parameters<typeof consentStatus>[0] & { collectionMethod: string; grantedBy: string } }[];
  expect(ok.map((x) => [consentStatus(x.consent, now), x.consent.collectionMethod, x.consent.grantedBy])).toEqual([
    ["ACTIVE", "IMPORT", "ops-import"],
    ["EXPIRED", "IMPORT", "ops-import"],
  ]);
  expect([...(await activeScopes(shop, "OFFER_TARGETING", [memberId], now)).get(memberId)!]).toEqual(["PROFILE_BASIC", "TIER"]);
  await expect(importConsents(partnerPrincipal(shop), [])).rejects.toMatchObject({ extensions: { code: "FORBIDDEN" } });
  await expect(importConsents(memberPrincipal(memberId), [])).rejects.toMatchObject({ extensions: { code: "FORBIDDEN" } });
});

test("who is not consent-gated: an admin and the member itself; another member's token is gated like a partner (readsUngated and the sharedScopes loader)", async () => {
  const shop = newPartnerId();
  const [m] = (await enrollMembers(partnerPrincipal(shop), [{ email: "ungated@example.com", externalRef: "U-1" }])) as { member: { id: string } }[];
  const memberId = m!.member.id;
  const other = randomUUID();
  expect(readsUngated(adminPrincipal("ops"), memberId)).toBe(true);
  expect(readsUngated(memberPrincipal(memberId), memberId)).toBe(true);
  expect(readsUngated(memberPrincipal(other), memberId)).toBe(false);
  expect(readsUngated(partnerPrincipal(shop), memberId)).toBe(false);
  // gated() falls back to the loader, which must apply the same rule on its own (a member's token
  // about another member only reaches it through a direct call: the visibility rule hides others).
  const scopes = async (p: Principal) => [...(await createLoaders({ principal: p, requestId: "r", operationName: null } satisfies HubContext, new Date()).sharedScopes.load(memberId))];
  expect(await scopes(adminPrincipal("ops"))).toEqual(DATA_CATEGORIES);
  expect(await scopes(memberPrincipal(memberId))).toEqual(DATA_CATEGORIES);
  expect(await scopes(memberPrincipal(other))).toEqual([]);
  expect(await scopes(partnerPrincipal(shop, "OFFER_TARGETING"))).toEqual([]);
});
