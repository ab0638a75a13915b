import { afterAll, beforeAll, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { adminPrincipal, memberPrincipal, partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { prisma, usePrisma } from "../db.ts";
import { newPartnerId } from "../testing/harness.ts";
import { grantConsent, importConsents } from "./consents.ts";
import { enrollMembers } from "./members.ts";

// Issue 16, birthday bonus: the points subgraph learns a member's birth month only from a consent
// grant that covers PROFILE_BASIC (the birthday's category), and only the month.
let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
});
afterAll(() => db?.close());

const payloads = async (memberId: string) =>
  (await prisma().memberOutboxEvent.findMany({ where: { type: "member.consent_granted" }, orderBy: { createdAt: "asc" } }))
    .map((e) => e.payload as { memberId: string; categories: string[]; birthMonth?: number | null })
    .filter((p) => p.memberId === memberId);

test("member.consent_granted carries birthMonth only under PROFILE_BASIC and only when a birthday is on file (grant and import)", async () => {
  const shop = newPartnerId();
  const [a, b] = (await enrollMembers(partnerPrincipal(shop), [
    { email: "bm-a@example.com", externalRef: "BM-A", birthday: "1988-11-23" },
    { email: "bm-b@example.com", externalRef: "BM-B" },
  ])) as { member: { id: string } }[];
  const me = a!.member.id;
  const base = { partnerId: shop, purpose: "ACCOUNT_SERVICING", noticeVersion: "v1" };
  await grantConsent(memberPrincipal(me), { ...base, categories: ["TIER"] });
  await grantConsent(memberPrincipal(me), { ...base, categories: ["PROFILE_BASIC", "TIER"] });
  await importConsents(adminPrincipal("ops"), [{ ...base, memberId: me, categories: ["PROFILE_BASIC"] }]);
  expect((await payloads(me)).map((p) => [p.categories, p.birthMonth])).toEqual([
    [["TIER"], null],
    [["PROFILE_BASIC", "TIER"], 11],
    [["PROFILE_BASIC"], 11],
  ]);
  await grantConsent(memberPrincipal(b!.member.id), { ...base, categories: ["PROFILE_BASIC"] });
  expect((await payloads(b!.member.id)).map((p) => p.birthMonth)).toEqual([null]);
  // Nothing more of the date travels.
  expect(JSON.stringify(await payloads(me))).not.toContain("1988");
});
