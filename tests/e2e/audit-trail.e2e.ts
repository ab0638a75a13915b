import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, expect, test } from "vitest";
import { AUDIT_ACTION_NAMES } from "../../lib/audit.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// The admin audit trail (issue 18 §6) through the gateway: every admin and partner-admin action
// that exists is performed as a client would, then found in `auditTrail` with who, when, what,
// before and after; secrets never appear; non-admins are FORBIDDEN; the database refuses changes.
let hub: TestHub;
let admin: { personId: string; token: string };
let adminClient: string;

const ENTRY = "id at action source targetType targetId partner { id } actor { id role authority personRole clientId partner { id } } requestId before after";
const TRAIL = `query($f: AuditTrailFilter, $first: Int, $after: String) { auditTrail(filter: $f, first: $first, after: $after) { edges { cursor node { ${ENTRY} } } pageInfo { hasNextPage endCursor } } }`;

interface Entry {
  id: string;
  at: string;
  action: string;
  source: string;
  targetType: string;
  targetId: string;
  partner: { id: string } | null;
  actor: { id: string; role: string; authority: string; personRole: string | null; clientId: string | null; partner: { id: string } | null };
  requestId: string | null;
  before: string | null;
  after: string | null;
}

/** The trail's entries for a filter (every page). */
async function trail(filter: Record<string, unknown>): Promise<Entry[]> {
  const out: Entry[] = [];
  let after: string | null = null;
  for (;;) {
    const r: { auditTrail: { edges: { node: Entry }[]; pageInfo: { hasNextPage: boolean; endCursor: string } } } = expectNoGraphQLErrors(await hub.gql(admin.token, TRAIL, { f: filter, first: 100, after }));
    out.push(...r.auditTrail.edges.map((e: { node: Entry }) => e.node));
    if (!r.auditTrail.pageInfo.hasNextPage) return out;
    after = r.auditTrail.pageInfo.endCursor;
  }
}

/** The one entry of `action` on `targetId`, with before/after parsed. */
async function entryOf(action: string, targetId: string) {
  const found = await trail({ action, targetId });
  expect(found, `${action} on ${targetId}`).toHaveLength(1);
  const e = found[0]!;
  return { ...e, before: e.before === null ? null : JSON.parse(e.before), after: e.after === null ? null : JSON.parse(e.after) };
}

const gql = (token: string, query: string, variables?: Record<string, unknown>) => hub.gql(token, query, variables).then(expectNoGraphQLErrors);
const secrets: string[] = [];
const started = new Date();

beforeAll(async () => {
  hub = await startTestHub();
  adminClient = await hub.adminToken();
  admin = await hub.personToken(adminClient, { email: "auditor-admin@example.com", role: "ADMIN" });
}, 120_000);
afterAll(() => hub?.close());

test("every admin and partner-admin action is recorded once with who, when, what, before and after; secrets never", async () => {
  const byAdmin = { id: admin.personId, role: "ADMIN", authority: "PERSON", personRole: "ADMIN", partner: null };
  // Partners and their terms.
  const { registerPartner: p } = await gql(admin.token, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", {
    i: { name: "Audit Mart", category: "ECOMMERCE", issuePrice: "0.015", redemptionRate: "0.010" },
  });
  const { registerPartner: co } = await gql(admin.token, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", {
    i: { name: "Audit Co-issuer", category: "FMCG", issuePrice: "0.012", redemptionRate: "0.010" },
  });
  await gql(admin.token, 'mutation($p: ID!) { setPartnerRates(partnerId: $p, issuePrice: "0.02", redemptionRate: "0.011") { id } }', { p: p.id });
  await gql(admin.token, 'mutation($p: ID!) { setPartnerEarnRate(partnerId: $p, earnRate: "2.5") { id } }', { p: p.id });
  // API clients: create, origins; a partner app; revoke (later).
  const { createApiClient: c } = await gql(admin.token, 'mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER, name: "till") { clientId clientSecret } }', { p: p.id });
  const { createApiClient: c2 } = await gql(admin.token, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: co.id });
  secrets.push(c.clientSecret, c2.clientSecret);
  const partner = await hub.token(c.clientId, c.clientSecret);
  const coPartner = await hub.token(c2.clientId, c2.clientSecret);
  await gql(admin.token, 'mutation($c: String!) { setApiClientAllowedOrigins(clientId: $c, origins: ["https://shop.example.com"]) { clientId } }', { c: c.clientId });
  const { registerPartnerApp: app } = await gql(
    partner,
    'mutation($p: ID!) { registerPartnerApp(partnerId: $p, appName: "Audit App", redirectUris: ["https://app.example.com/cb"], scopes: ["member:wallet"]) { clientId clientSecret } }',
    {
      p: p.id,
    },
  );
  secrets.push(app.clientSecret);
  // People: the admin invites a partner admin, who invites and disables its staff.
  const partnerAdmin = await hub.personToken(admin.token, { email: "audit-partner-admin@example.com", role: "PARTNER_ADMIN", partnerId: p.id });
  const { invitePerson: staff } = await gql(partnerAdmin.token, 'mutation($p: ID) { invitePerson(email: "audit-staff@example.com", role: PARTNER_STAFF, partnerId: $p) { person { id } activationCode } }', { p: p.id });
  secrets.push(staff.activationCode);
  await gql(partnerAdmin.token, "mutation($id: ID!) { setPersonDisabled(personId: $id, disabled: true) { id } }", { id: staff.person.id });
  await gql(admin.token, "mutation($id: ID!) { setPersonDisabled(personId: $id, disabled: false) { id } }", { id: staff.person.id });
  // Offers: created and submitted by one co-issuer, approved by both (the last approval activates it).
  const now = Date.now();
  const { createOffer: offer } = await gql(partner, "mutation($i: CreateOfferInput!) { createOffer(input: $i) { id } }", {
    i: {
      title: "Audit bonus",
      kind: "BONUS_POINTS",
      bonusPoints: 10,
      coIssuers: [
        { partnerId: p.id, shareBps: 6000 },
        { partnerId: co.id, shareBps: 4000 },
      ],
      redeemableAtPartnerIds: [p.id],
      startsAt: new Date(now - 60_000).toISOString(),
      endsAt: new Date(now + 86_400_000).toISOString(),
      budgetPoints: 1000,
      perMemberLimit: 1,
    },
  });
  await gql(partner, "mutation($o: ID!) { submitOffer(offerId: $o) { id } }", { o: offer.id });
  await gql(partner, "mutation($o: ID!) { approveOffer(offerId: $o) { id } }", { o: offer.id });
  await gql(coPartner, "mutation($o: ID!) { approveOffer(offerId: $o) { status } }", { o: offer.id });
  await gql(partner, "mutation($o: ID!) { pauseOffer(offerId: $o) { status } }", { o: offer.id });
  // Points: an earn, an admin adjustment, a manual redemption, a reversal by the partner.
  const periodStart = new Date(Date.now() - 60_000).toISOString();
  const { enrollMember: m } = await gql(partner, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email: "audit-member@example.com", externalRef: "AUD-1" } });
  await hub.flushEvents();
  const { awardPoints: earn } = await gql(partner, "mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id } }", { i: { memberId: m.id, points: 500, idempotencyKey: randomUUID() } });
  const { adjustPoints: adj } = await gql(admin.token, 'mutation($m: ID!) { adjustPoints(memberId: $m, points: 25, reason: "goodwill: late parcel", idempotencyKey: "adj-1") { id } }', { m: m.id });
  // The same request again is an idempotent replay: no second entry.
  await gql(admin.token, 'mutation($m: ID!) { adjustPoints(memberId: $m, points: 25, reason: "goodwill: late parcel", idempotencyKey: "adj-1") { id } }', { m: m.id });
  const { redeemPoints: red } = await gql(admin.token, "mutation($i: RedeemPointsInput!) { redeemPoints(input: $i) { id } }", { i: { memberId: m.id, points: 40, idempotencyKey: "manual-1" } });
  await gql(partner, 'mutation($t: ID!) { reverseTransaction(transactionId: $t, points: 100, idempotencyKey: "rev-1", reason: "returned goods") { id } }', { t: earn.id });
  // Settlement: create, recompute, approve; the partner disputes a line; the admin resolves it.
  const periodEnd = new Date().toISOString();
  await new Promise((r) => setTimeout(r, 5)); // periodEnd strictly in the past
  const { createSettlementRun: run } = await gql(admin.token, "mutation($s: DateTime!, $e: DateTime!) { createSettlementRun(periodStart: $s, periodEnd: $e) { id } }", { s: periodStart, e: periodEnd });
  await gql(admin.token, "mutation($id: ID!) { recomputeSettlementRun(id: $id) { id } }", { id: run.id });
  await gql(admin.token, "mutation($id: ID!) { approveSettlementRun(id: $id) { id } }", { id: run.id });
  const seen = (await gql(partner, "query($id: ID!) { settlementRun(id: $id) { statements { lines { id kind } } } }", { id: run.id })).settlementRun;
  const line = seen.statements[0].lines[0];
  await gql(partner, 'mutation($l: ID!) { disputeStatementLine(lineId: $l, reason: "double count") { id } }', { l: line.id });
  await gql(admin.token, 'mutation($l: ID!) { resolveStatementDispute(lineId: $l, adjustmentPoints: 0, note: "no double count found") { id } }', { l: line.id });
  // Dead letters: a replay in each owner.
  const letters: Record<string, string> = {};
  for (const owner of ["member", "points", "partner"] as const) {
    const id = randomUUID();
    letters[owner] = id;
    const row = { id, type: "partner.offer_paused", payload: { offerId: randomUUID() }, createdAt: new Date(), attempts: 10, lastError: "HTTP 503" };
    if (owner === "member") await hub.db.client().memberDeadLetterEvent.create({ data: { ...row, type: "member.link_requested", payload: { memberId: m.id, partnerId: p.id, requestedAt: new Date().toISOString() } } });
    if (owner === "points") await hub.db.client().pointsDeadLetterEvent.create({ data: { ...row, type: "points.tier_changed", payload: { memberId: m.id, tier: "BASE" } } });
    if (owner === "partner") await hub.db.client().partnerDeadLetterEvent.create({ data: row });
    const cap = owner[0]!.toUpperCase() + owner.slice(1);
    await gql(admin.token, `mutation($id: ID!) { replay${cap}EventDeadLetter(id: $id) { id } }`, { id });
  }
  // Revocation and deactivation last (the partner's tokens stop working).
  await gql(partner, "mutation($c: String!) { revokeApiClient(clientId: $c) { clientId } }", { c: app.clientId });
  await gql(admin.token, "mutation($p: ID!) { setPartnerActive(partnerId: $p, active: false) { id } }", { p: p.id });
  await gql(adminClient, "mutation($p: ID!) { setPartnerActive(partnerId: $p, active: true) { id } }", { p: p.id });
  await hub.flushEvents();
  const finished = new Date();

  const partnerClient = { id: c.clientId, role: "PARTNER", authority: "CLIENT", personRole: null, clientId: c.clientId, partner: { id: p.id } };
  const checks: [string, string, object, unknown, unknown][] = [
    ["partner.created", p.id, byAdmin, null, { name: "Audit Mart", category: "ECOMMERCE", earnRate: "1", active: true, issuePrice: "0.015", redemptionRate: "0.01" }],
    ["partner.rates_changed", p.id, byAdmin, { issuePrice: "0.015", redemptionRate: "0.01" }, { issuePrice: "0.02", redemptionRate: "0.011" }],
    ["partner.earn_rate_changed", p.id, byAdmin, { earnRate: "1" }, { earnRate: "2.5" }],
    ["api_client.created", c.clientId, byAdmin, null, { clientId: c.clientId, role: "PARTNER", partnerId: p.id, name: "till", revokedAt: null, allowedOrigins: [] }],
    ["api_client.origins_changed", c.clientId, byAdmin, { allowedOrigins: [] }, { allowedOrigins: ["https://shop.example.com"] }],
    ["partner_app.created", app.clientId, partnerClient, null, { clientId: app.clientId, appName: "Audit App", redirectUris: ["https://app.example.com/cb"], allowedScopes: ["member:wallet"] }],
    ["person.invited", partnerAdmin.personId, byAdmin, null, { email: "audit-partner-admin@example.com", role: "PARTNER_ADMIN", partnerId: p.id, disabledAt: null }],
    [
      "person.invited",
      staff.person.id,
      { id: partnerAdmin.personId, role: "PARTNER", authority: "PERSON", personRole: "PARTNER_ADMIN", partner: { id: p.id } },
      null,
      { email: "audit-staff@example.com", role: "PARTNER_STAFF", invitedBy: `person:${partnerAdmin.personId}` },
    ],
    ["person.disabled", staff.person.id, { id: partnerAdmin.personId, personRole: "PARTNER_ADMIN" }, { disabledAt: null }, { disabledAt: expect.any(String) }],
    ["person.enabled", staff.person.id, byAdmin, { disabledAt: expect.any(String) }, { disabledAt: null }],
    ["points.adjusted", m.id, byAdmin, { balance: "500" }, { balance: "525", transactionId: adj.id, kind: "ADJUSTMENT", points: 25, reason: "goodwill: late parcel" }],
    ["points.redeemed_manually", m.id, byAdmin, { balance: "525" }, { balance: "485", transactionId: red.id, kind: "REDEEM", points: -40 }],
    ["points.reversed", earn.id, partnerClient, { balance: "485" }, { balance: "385", kind: "REVERSAL", points: -100, reason: "returned goods", reversesId: earn.id }],
    ["settlement.run_created", run.id, byAdmin, null, { status: "DRAFT", approvedAt: null }],
    ["settlement.run_recomputed", run.id, byAdmin, { status: "DRAFT" }, { status: "DRAFT" }],
    ["settlement.run_approved", run.id, byAdmin, { status: "DRAFT", approvedAt: null }, { status: "APPROVED", approvedBy: admin.personId }],
    ["settlement.dispute_opened", line.id, partnerClient, { disputedAt: null }, { disputeReason: "double count", disputedBy: c.clientId }],
    ["settlement.dispute_resolved", line.id, byAdmin, { disputeReason: "double count", resolvedAt: null }, { resolutionNote: "no double count found", adjustmentPoints: 0, resolvedBy: admin.personId }],
    ["dead_letter.replayed.member", letters.member!, byAdmin, { status: "DEAD_LETTER", type: "member.link_requested", attempts: 10, lastError: "HTTP 503" }, { status: "OUTBOX", attempts: 0 }],
    ["dead_letter.replayed.points", letters.points!, byAdmin, { status: "DEAD_LETTER", type: "points.tier_changed" }, { status: "OUTBOX" }],
    ["dead_letter.replayed.partner", letters.partner!, byAdmin, { status: "DEAD_LETTER", type: "partner.offer_paused" }, { status: "OUTBOX" }],
    ["api_client.revoked", app.clientId, partnerClient, { revokedAt: null }, { revokedAt: expect.any(String) }],
    ["partner.deactivated", p.id, byAdmin, { active: true }, { active: false }],
    ["partner.activated", p.id, { id: "test-admin", role: "ADMIN", authority: "CLIENT", personRole: null, clientId: "test-admin" }, { active: false }, { active: true }],
  ];
  for (const [action, targetId, actor, before, after] of checks) {
    const e = await entryOf(action, targetId);
    expect(e.actor, action).toMatchObject(actor);
    expect(new Date(e.at).getTime(), action).toBeGreaterThanOrEqual(started.getTime() - 1000);
    expect(new Date(e.at).getTime(), action).toBeLessThanOrEqual(finished.getTime());
    expect(e.requestId, action).toMatch(/\S/);
    if (before === null) expect(e.before, action).toBeNull();
    else expect(e.before, action).toMatchObject(before as object);
    expect(e.after, action).toMatchObject(after as object);
  }
  // The offer's life: created, submitted, approved by each co-issuer (the second activates it), paused.
  const offerTrail = (await trail({ targetType: "Offer", targetId: offer.id })).reverse();
  expect(offerTrail.map((e) => [e.action, e.actor.id, e.before === null ? null : JSON.parse(e.before).status, JSON.parse(e.after!).status])).toEqual([
    ["offer.created", c.clientId, null, "DRAFT"],
    ["offer.status_changed", c.clientId, "DRAFT", "PENDING_APPROVAL"],
    ["offer.approved", c.clientId, "PENDING_APPROVAL", "PENDING_APPROVAL"],
    ["offer.approved", c2.clientId, "PENDING_APPROVAL", "ACTIVE"],
    ["offer.status_changed", c.clientId, "ACTIVE", "PAUSED"],
  ]);
  // Every catalogued action was exercised, but those tests/e2e/audit-coverage.e2e.ts runs (it covers every admin mutation).
  const seenActions = new Set((await trail({ from: started.toISOString() })).map((e) => e.action));
  expect(AUDIT_ACTION_NAMES.filter((a) => !seenActions.has(a))).toEqual([
    "partner.limits_changed",
    "api_client.limits_changed",
    "webhook_endpoint.created",
    "webhook_endpoint.updated",
    "webhook_endpoint.secret_rotated",
    "webhook_endpoint.status_changed",
    "webhook_endpoint.deleted",
    "webhook_delivery.replayed",
    "offer.updated",
    "points.hold_resolved_by_admin",
    "program.changed",
    "member.enrolled_by_admin",
    "member.activation_code_issued",
    "member.sign_in_disabled",
    "app_grant.revoked",
  ]);

  // No secret anywhere in the trail: client secrets, activation codes, hashes, TOTP seeds.
  const all = JSON.stringify(await trail({}));
  for (const s of secrets) expect(all).not.toContain(s);
  expect(all).not.toMatch(/scrypt|secretHash":"[^[]|passwordHash":"[^[]|totpSecret":"[^[]/);
  expect(all).not.toContain("otpauth://");

  // Filters: by actor, by partner, by time window.
  const byPartnerAdmin = await trail({ actorId: partnerAdmin.personId });
  expect(byPartnerAdmin.map((e) => e.action).sort()).toEqual(["person.disabled", "person.invited"]);
  expect((await trail({ partnerId: co.id })).map((e) => e.action)).toEqual(expect.arrayContaining(["partner.created", "api_client.created", "offer.approved"]));
  expect(await trail({ from: finished.toISOString() })).toEqual([]);
}, 240_000);

test("the export: CSV and JSON pages that follow the filter, and together hold every entry once", async () => {
  const all = await trail({});
  const json: { id: string; action: string; before: unknown }[] = [];
  let after: string | null = null;
  for (;;) {
    const r: { content: string; entries: number; endCursor: string | null } = (
      await gql(admin.token, "query($a: String) { auditTrailExport(format: JSON, first: 7, after: $a) { format content entries endCursor } }", { a: after })
    ).auditTrailExport;
    const page = JSON.parse(r.content);
    expect(page).toHaveLength(r.entries);
    json.push(...page);
    if (!r.endCursor) break;
    after = r.endCursor;
  }
  expect(json.map((e) => e.id)).toEqual(all.map((e) => e.id));
  const csv = (await gql(admin.token, 'query { auditTrailExport(format: CSV, filter: { action: "partner.created" }) { content entries endCursor } }')).auditTrailExport;
  const lines = csv.content.trimEnd().split("\r\n");
  expect(lines[0]).toBe("id,at,action,source,target_type,target_id,partner_id,actor_id,actor_role,actor_authority,actor_person_role,actor_client_id,actor_partner_id,request_id,before,after");
  expect(lines).toHaveLength(1 + csv.entries);
  expect(csv.entries).toBe(2);
  expect(csv.endCursor).toBeNull();
  expect(lines[1]).toContain(",partner.created,partner,Partner,");
});

test("only admins read the trail: partner clients, partner admins and members are FORBIDDEN; bad filters are BAD_USER_INPUT", async () => {
  const { registerPartner: p } = await gql(admin.token, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", {
    i: { name: "Audit Outsider", category: "ECOMMERCE", issuePrice: "0.015", redemptionRate: "0.010" },
  });
  const { createApiClient: c } = await gql(admin.token, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: p.id });
  const partner = await hub.token(c.clientId, c.clientSecret);
  const partnerAdmin = await hub.personToken(admin.token, { email: "audit-outsider-admin@example.com", role: "PARTNER_ADMIN", partnerId: p.id });
  const m = await hub.memberWithPassword(partner, { email: "audit-outsider-member@example.com", externalRef: "AUD-OUT" });
  const member = await hub.memberSession(m.login, m.password);
  for (const token of [partner, partnerAdmin.token, member]) {
    for (const q of ["{ auditTrail { edges { node { id } } } }", "{ auditTrailExport(format: CSV) { content } }", "{ auditActions { name } }"]) {
      const r = await hub.gql(token, q);
      expect(r.data ?? null, q).toBeNull();
      expect(
        r.errors?.map((e) => e.extensions?.code),
        q,
      ).toEqual(["FORBIDDEN"]);
    }
  }
  const bad = async (q: string, v?: Record<string, unknown>) => (await hub.gql(admin.token, q, v)).errors?.map((e) => [e.extensions?.code, e.extensions?.field]);
  expect(await bad('{ auditTrail(filter: { action: "partner.exploded" }) { edges { cursor } } }')).toEqual([["BAD_USER_INPUT", "filter.action"]]);
  expect(await bad('{ auditTrail(filter: { partnerId: "nope" }) { edges { cursor } } }')).toEqual([["BAD_USER_INPUT", "filter.partnerId"]]);
  expect(await bad('{ auditTrail(filter: { from: "2026-12-02T00:00:00Z", to: "2026-12-01T00:00:00Z" }) { edges { cursor } } }')).toEqual([["BAD_USER_INPUT", "filter.to"]]);
  expect(await bad('{ auditTrail(after: "garbage") { edges { cursor } } }')).toEqual([["BAD_USER_INPUT", "after"]]);
  expect(await bad("{ auditTrail(first: 101) { edges { cursor } } }")).toEqual([["BAD_USER_INPUT", "first"]]);
  expect(await bad("{ auditTrailExport(format: JSON, first: 1001) { content } }")).toEqual([["BAD_USER_INPUT", "first"]]);
  // auditActions lists the catalogue.
  const actions = (await gql(admin.token, "{ auditActions { name source description } }")).auditActions;
  expect(actions.map((a: { name: string }) => a.name)).toEqual(AUDIT_ACTION_NAMES);
});

test("append-only in the database: UPDATE, DELETE and TRUNCATE of partner.AuditEntry are refused", async () => {
  const prisma = hub.db.client();
  const [one] = await prisma.auditEntry.findMany({ take: 1 });
  expect(one).toBeDefined();
  await expect(prisma.$executeRawUnsafe(`UPDATE "partner"."AuditEntry" SET after = '{}' WHERE id = $1::uuid`, one!.id)).rejects.toThrow(/append-only/);
  await expect(prisma.$executeRawUnsafe(`DELETE FROM "partner"."AuditEntry" WHERE id = $1::uuid`, one!.id)).rejects.toThrow(/append-only/);
  await expect(prisma.$executeRawUnsafe(`TRUNCATE "partner"."AuditEntry"`)).rejects.toThrow(/append-only/);
  expect(await prisma.auditEntry.findUnique({ where: { id: one!.id } })).toEqual(one);
});
