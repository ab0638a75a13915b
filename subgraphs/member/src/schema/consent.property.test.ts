import fc from "fast-check";
import { afterAll, beforeAll, expect, test } from "vitest";
import type { Principal } from "../../../../lib/principal.ts";
import { revokeConsent } from "../services/consents.ts";
import { enrollMembers } from "../services/members.ts";
import { DATA_CATEGORIES, type DataCategory, PURPOSES, type Purpose } from "../../../../lib/vocabulary.ts";
import { DAY_MS, FIELD_CATEGORY } from "../services/domain.ts";
import { consentTo, enrolAt, linkAt, type MemberHarness, memberPrincipal, newPartnerId, partnerPrincipal, startMemberHarness } from "../testing/harness.ts";

/**
 * Property: for random consent sets (active, revoked, expired, not yet expired; any partner,
 * categories, purpose) and random partner queries (any purpose, any members, any fields, through
 * `member(id)` or `_entities`; with pending link requests around), no gated field is ever returned
 * without a matching active consent,
 * every field with one is returned as stored, an unlinked member is never returned at all, and
 * `sharedScopes` is exactly the consented set.
 */

let h: MemberHarness;
beforeAll(async () => {
  h = await startMemberHarness();
});
afterAll(() => h?.close());

const GATED = Object.keys(FIELD_CATEGORY) as (keyof typeof FIELD_CATEGORY)[];
const PARTNERS = 3;
const MEMBERS = 4;

const consentArb = fc.record({
  member: fc.nat(MEMBERS - 1),
  partner: fc.nat(PARTNERS - 1),
  categories: fc.subarray([...DATA_CATEGORIES], { minLength: 1 }),
  purpose: fc.constantFrom(...PURPOSES),
  state: fc.constantFrom("active", "revoked", "expired", "expiring"),
});
const queryArb = fc.record({
  partner: fc.nat(PARTNERS - 1),
  purpose: fc.option(fc.constantFrom(...PURPOSES), { nil: null }),
  members: fc.uniqueArray(fc.nat(MEMBERS - 1), { minLength: 1, maxLength: MEMBERS }),
  fields: fc.subarray([...GATED, "sharedScopes", "joinedAt"] as string[], { minLength: 1 }),
  viaEntities: fc.boolean(),
});
const scenarioArb = fc.record({
  // links[m][p]: member m is linked to partner p (member 0 always to partner 0, so every run has a visible member)
  links: fc.array(fc.array(fc.boolean(), { minLength: PARTNERS, maxLength: PARTNERS }), { minLength: MEMBERS, maxLength: MEMBERS }),
  // requests[m][p]: where not linked, partner p asked to link member m by email (pending: must count nowhere)
  requests: fc.array(fc.array(fc.boolean(), { minLength: PARTNERS, maxLength: PARTNERS }), { minLength: MEMBERS, maxLength: MEMBERS }),
  consents: fc.array(consentArb, { maxLength: 10 }),
  queries: fc.array(queryArb, { minLength: 1, maxLength: 3 }),
});

test("no gated field is ever returned without a matching active consent", async () => {
  await fc.assert(
    fc.asyncProperty(scenarioArb, async ({ links, requests, consents, queries }) => {
      const partners = Array.from({ length: PARTNERS }, newPartnerId);
      links[0]![0] = true;
      const members: Awaited<ReturnType<typeof enrolAt>>[] = [];
      for (let m = 0; m < MEMBERS; m++) {
        const home = links[m]!.findIndex(Boolean);
        // A member linked nowhere still exists (enrolled at a partner outside this scenario).
        const member = await enrolAt(home === -1 ? newPartnerId() : partners[home]!);
        for (let p = home + 1; p < PARTNERS; p++) if (links[m]![p]) await linkAt(partners[p]!, member.email);
        for (let p = 0; p < PARTNERS; p++) {
          if (!links[m]![p] && requests[m]![p]) await enrollMembers(partnerPrincipal(partners[p]!), [{ email: member.email, externalRef: `req-${m}-${p}` }]);
        }
        members.push(member);
      }
      // The oracle: which (member, partner, purpose) may read which categories.
      const allowed = new Map<string, Set<DataCategory>>();
      const key = (m: number, p: number, purpose: Purpose | null) => `${m}|${p}|${purpose}`;
      for (const c of consents) {
        if (!links[c.member]![c.partner]) continue; // only linked partners can be granted consent
        const past = new Date(Date.now() - 10 * DAY_MS);
        const receipt =
          c.state === "expired"
            ? await consentTo(members[c.member]!.id, partners[c.partner]!, c.categories, c.purpose, { now: past, expiresAt: new Date(past.getTime() + DAY_MS) })
            : await consentTo(members[c.member]!.id, partners[c.partner]!, c.categories, c.purpose, c.state === "expiring" ? { expiresAt: new Date(Date.now() + DAY_MS) } : {});
        if (c.state === "revoked") await revokeConsent(memberPrincipal(members[c.member]!.id), receipt.id);
        if (c.state === "active" || c.state === "expiring") {
          const k = key(c.member, c.partner, c.purpose);
          allowed.set(k, new Set([...(allowed.get(k) ?? []), ...c.categories]));
        }
      }

      for (const q of queries) {
        const principal: Principal = partnerPrincipal(partners[q.partner]!, q.purpose);
        const selection = q.fields.join(" ");
        let results: (Record<string, unknown> | null)[];
        let errors: { path?: (string | number)[]; extensions?: Record<string, unknown> }[];
        if (q.viaEntities) {
          const r = await h.as<{ _entities: (Record<string, unknown> | null)[] }>(principal, `query($r: [_Any!]!) { _entities(representations: $r) { ... on Member { ${selection} } } }`, {
            r: q.members.map((m) => ({ __typename: "Member", id: members[m]!.id })),
          });
          results = r.data!._entities;
          errors = (r.errors ?? []).map((e) => ({ ...e, path: e.path?.slice(1) }));
        } else {
          const aliases = q.members.map((m, i) => `m${i}: member(id: "${members[m]!.id}") { ${selection} }`).join("\n");
          const r = await h.as<Record<string, Record<string, unknown> | null>>(principal, `{ ${aliases} }`);
          results = q.members.map((_, i) => r.data?.[`m${i}`] ?? null);
          errors = (r.errors ?? []).map((e) => ({ ...e, path: [Number(String(e.path?.[0]).slice(1)), ...(e.path?.slice(1) ?? [])] }));
        }

        q.members.forEach((m, i) => {
          const visible = links[m]![q.partner]!;
          const got = results[i];
          if (!visible) {
            expect(got, "an unlinked member is never returned").toBeNull();
            return;
          }
          expect(got).not.toBeNull();
          const scopes = q.purpose ? (allowed.get(key(m, q.partner, q.purpose)) ?? new Set<DataCategory>()) : new Set<DataCategory>();
          for (const field of q.fields) {
            if (field === "sharedScopes") {
              expect(got!.sharedScopes).toEqual(DATA_CATEGORIES.filter((c) => scopes.has(c)));
              continue;
            }
            if (field === "joinedAt") continue;
            const category = FIELD_CATEGORY[field as keyof typeof FIELD_CATEGORY];
            const fieldError = errors.find((e) => e.path?.[0] === i && e.path?.[1] === field);
            if (scopes.has(category)) {
              expect(fieldError).toBeUndefined();
              if (field !== "lifecycle") expect(got![field]).toBe(members[m]![field as "email"]);
              else expect(got![field]).toBe("NEW");
            } else {
              expect(got![field], `${field} without ${category}`).toBeNull();
              expect(fieldError?.extensions).toMatchObject({ code: "CONSENT_REQUIRED", category });
            }
          }
        });
      }
    }),
    { numRuns: 40 },
  );
});
