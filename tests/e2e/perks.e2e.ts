import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test, vi } from "vitest";
import { runTierReview } from "../../subgraphs/points/src/jobs.ts";
import { classicProgram } from "../../subgraphs/points/src/program/model.ts";
import { startTestHub, TEST_ADMIN, type TestHub } from "../support/hub.ts";
import { programInput } from "../support/program.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// Perks of the classic program (issue 16) through the gateway, on a controlled clock (only Date is
// faked, and it keeps running from the instant each step sets): standing tier benefits and their
// consent gate, applyTierBenefit (idempotency, refusals, nothing stored), the welcome bonus (only
// within 3 months of joining, only once), the birthday bonus (only in the birth month, only with the
// member's PROFILE_BASIC consent for the earning partner), and retention in the tier review job
// (6 months without a purchase → ordinary, three consecutive months of purchases keep silver).

let hub: TestHub;
type Partner = { id: string; clientId: string; secret: string; token: string };
const partners: Record<"a" | "b", Partner> = {} as never;
const members: Record<string, string> = {};
const memberTokens: Record<string, string> = {};
const SERVICING = { "coalition-purpose": "ACCOUNT_SERVICING" };

const AWARD = "mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id kind points } }";
const APPLY =
  "mutation($i: ApplyTierBenefitInput!) { applyTierBenefit(input: $i) { id benefitCode tierCode programVersion percentOff purchaseAmount discountAmount currency settlementRelevant reference member { id } partner { id } } }";
const ACTIVITY = "query($id: ID!) { member(id: $id) { activity(first: 50) { edges { node { id kind points bonusKind reason partner { id } postedAt } } } } }";

async function adminToken() {
  const res = await fetch(`${hub.baseUrl}/oauth/token`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: TEST_ADMIN.clientId, client_secret: TEST_ADMIN.secret }),
  });
  return ((await res.json()) as { access_token: string }).access_token;
}

/** Moves the clock to `iso` (it keeps running from there) and renews the partners' tokens. */
async function at(iso: string) {
  vi.setSystemTime(new Date(iso));
  for (const p of Object.values(partners)) p.token = await hub.token(p.clientId, p.secret);
}

async function award(k: "a" | "b", memberId: string, purchaseAmount: string, key = randomUUID()) {
  return expectNoGraphQLErrors(await hub.gql(partners[k].token, AWARD, { i: { memberId, purchaseAmount, idempotencyKey: key } })).awardPoints;
}

/** The member's transactions as an admin sees them (ungated), newest first. */
async function activity(memberId: string) {
  await hub.flushEvents();
  return expectNoGraphQLErrors(await hub.gql(await adminToken(), ACTIVITY, { id: memberId })).member.activity.edges.map((e: { node: Record<string, unknown> }) => e.node);
}
const bonuses = async (memberId: string) => (await activity(memberId)).filter((t: { kind: string }) => t.kind === "PROGRAM_BONUS");
const tierOf = async (memberId: string) => expectNoGraphQLErrors(await hub.gql(await adminToken(), "query($id: ID!) { member(id: $id) { tier { tier } } }", { id: memberId })).member.tier.tier;

beforeAll(async () => {
  vi.useFakeTimers({ toFake: ["Date"], shouldAdvanceTime: true });
  vi.setSystemTime(new Date("2027-01-05T04:00:00Z"));
  hub = await startTestHub();
  const admin = await adminToken();
  for (const [k, name] of [
    ["a", "Grand Hotel"],
    ["b", "Bookshop"],
  ] as const) {
    const { registerPartner } = expectNoGraphQLErrors(
      await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name, category: "HOTEL", issuePrice: "0.01", redemptionRate: "0.01" } }),
    );
    const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
    partners[k] = { id: registerPartner.id, clientId: createApiClient.clientId, secret: createApiClient.clientSecret, token: await hub.token(createApiClient.clientId, createApiClient.clientSecret) };
  }
  const enrol = async (k: "a" | "b", name: string, birthday?: string) => {
    const r = await hub.gql(partners[k].token, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email: `${name}@perks.example`, externalRef: `ref-${name}`, birthday } });
    members[name] = expectNoGraphQLErrors(r).enrollMember.id;
  };
  for (const name of ["welcome", "late", "edge", "silver", "gold", "diamond", "base", "inactive", "keeper", "gapper"]) await enrol("a", name);
  await enrol("a", "birthday", "1990-03-15");
  await enrol("a", "nobirthdayconsent", "1991-03-02");
  await enrol("b", "other");
  await hub.flushEvents();
  // The members' own sessions grant consents (the member's authority): to partner A, for ACCOUNT_SERVICING.
  const grant = async (name: string, categories: string[]) => {
    memberTokens[name] ??= await hub.memberSession(`${name}@perks.example`, await hub.activateMember(partners.a.token, members[name]!, `${name}@perks.example`));
    expectNoGraphQLErrors(
      await hub.gql(memberTokens[name]!, "mutation($i: GrantConsentInput!) { grantConsent(input: $i) { id } }", {
        i: { partnerId: partners.a.id, categories, purpose: "ACCOUNT_SERVICING", noticeVersion: "2027-01" },
      }),
    );
  };
  await grant("silver", ["TIER"]);
  await grant("birthday", ["PROFILE_BASIC"]);
  // Consent to A, but not for the birthday's category.
  await grant("nobirthdayconsent", ["TIER", "POINTS_BALANCE"]);
  await hub.flushEvents();
}, 180_000);

afterAll(async () => {
  await hub?.close();
  vi.useRealTimers();
});

describe("tier benefits (classic: silver 10 %, gold 15 %, diamond 20 %)", () => {
  beforeAll(async () => {
    await at("2027-01-06T04:00:00Z");
    await award("a", members.silver!, "1001"); // 1,001 points > 1,000 → SILVER
    await award("a", members.gold!, "1001");
    await award("a", members.gold!, "2000"); // + 2 × 2,000 at silver → 5,001 ≥ 5,000 → GOLD
    await award("a", members.diamond!, "10001"); // spend in the year > ¥10,000 → DIAMOND
    await award("a", members.base!, "10");
    // For the retention tests: a gold member who then stops, and two silver members who go on.
    await award("a", members.inactive!, "1001");
    await award("a", members.inactive!, "2000");
    for (const m of ["keeper", "gapper"]) await award("a", members[m]!, "1001");
    await hub.flushEvents();
  });

  test("each tier's standing benefits, as the program states them", async () => {
    const admin = await adminToken();
    const q = "query($id: ID!, $p: ID) { member(id: $id) { tier { tier } benefits(partnerId: $p) { code tierCode percentOff nameEn nameZhHans settlementRelevant } } }";
    const read = async (name: string) => expectNoGraphQLErrors(await hub.gql(admin, q, { id: members[name], p: partners.a.id })).member;
    expect(await read("base")).toEqual({ tier: { tier: "BASE" }, benefits: [] });
    expect(await read("silver")).toEqual({
      tier: { tier: "SILVER" },
      benefits: [{ code: "DISCOUNT", tierCode: "SILVER", percentOff: "10", nameEn: "10 % off", nameZhHans: "九折", settlementRelevant: false }],
    });
    expect((await read("gold")).benefits.map((b: { percentOff: string }) => b.percentOff)).toEqual(["15"]);
    expect((await read("diamond")).benefits.map((b: { percentOff: string }) => b.percentOff)).toEqual(["20"]);
  });

  test("a partner sees them only under the member's TIER consent for its purpose; the member itself always", async () => {
    const q = "query($id: ID!) { member(id: $id) { id benefits { percentOff } } }";
    const ok = expectNoGraphQLErrors(await hub.gql(partners.a.token, q, { id: members.silver }, SERVICING));
    expect(ok.member.benefits).toEqual([{ percentOff: "10" }]);
    for (const [who, headers] of [
      ["gold", SERVICING],
      ["silver", { "coalition-purpose": "ANALYTICS" }],
    ] as const) {
      const r = await hub.gql(partners.a.token, q, { id: members[who] }, headers);
      expect(r.data?.member?.benefits ?? null, who).toBeNull();
      expect(r.errors?.[0]?.extensions).toMatchObject({ code: "CONSENT_REQUIRED", category: "TIER" });
    }
    // Another partner's id: FORBIDDEN (a partner states only its own benefits).
    const other = await hub.gql(partners.a.token, "query($id: ID!, $p: ID) { member(id: $id) { benefits(partnerId: $p) { code } } }", { id: members.silver, p: partners.b.id }, SERVICING);
    expect(other.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
  });

  test("applyTierBenefit records the benefit honoured; the same key and body returns the same record, another body is IDEMPOTENCY_CONFLICT", async () => {
    const input = { memberId: members.silver, benefitCode: "DISCOUNT", purchaseAmount: "200.00", discountAmount: "20.00", currency: "CNY", idempotencyKey: "till-1", reference: "R-1" };
    const first = expectNoGraphQLErrors(await hub.gql(partners.a.token, APPLY, { i: input }, SERVICING)).applyTierBenefit;
    expect(first).toMatchObject({
      benefitCode: "DISCOUNT",
      tierCode: "SILVER",
      percentOff: "10",
      purchaseAmount: "200",
      discountAmount: "20",
      currency: "CNY",
      settlementRelevant: false,
      reference: "R-1",
      member: { id: members.silver },
      partner: { id: partners.a.id },
    });
    const again = expectNoGraphQLErrors(await hub.gql(partners.a.token, APPLY, { i: input }, SERVICING)).applyTierBenefit;
    expect(again.id).toBe(first.id);
    const conflict = await hub.gql(partners.a.token, APPLY, { i: { ...input, discountAmount: "19.00" } }, SERVICING);
    expect(conflict.errors?.[0]?.extensions?.code).toBe("IDEMPOTENCY_CONFLICT");
    const list = expectNoGraphQLErrors(await hub.gql(partners.a.token, "{ appliedTierBenefits(first: 10) { edges { node { id discountAmount } } pageInfo { hasNextPage } } }"));
    expect(list.appliedTierBenefits.edges.map((e: { node: { id: string } }) => e.node.id)).toEqual([first.id]);
    // Partner B sees none of A's records, and may not ask for A's.
    expect(expectNoGraphQLErrors(await hub.gql(partners.b.token, "{ appliedTierBenefits { edges { node { id } } } }")).appliedTierBenefits.edges).toEqual([]);
    const peek = await hub.gql(partners.b.token, "query($p: ID) { appliedTierBenefits(partnerId: $p) { edges { node { id } } } }", { p: partners.a.id });
    expect(peek.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    // Classic benefits are not settlement-relevant: no totals.
    const totals = expectNoGraphQLErrors(await hub.gql(await adminToken(), 'query { tierBenefitTotals(from: "2027-01-01T00:00:00Z", to: "2027-02-01T00:00:00Z") { uses } }'));
    expect(totals.tierBenefitTotals).toEqual([]);
  });

  test("refusals, nothing stored: another partner's member, a benefit not in the tier, no consent, bad amounts, NUL, 2^31 and 2^53", async () => {
    const base = { memberId: members.silver, benefitCode: "DISCOUNT", purchaseAmount: "100.00", discountAmount: "10.00", currency: "CNY" };
    const cases: [Record<string, unknown>, string, string?][] = [
      [{ memberId: members.other }, "NOT_FOUND"],
      [{ memberId: randomUUID() }, "NOT_FOUND"],
      [{ memberId: members.base }, "CONSENT_REQUIRED"],
      [{ benefitCode: "LOUNGE" }, "BENEFIT_NOT_AVAILABLE", "benefitCode"],
      [{ discountAmount: "10.01" }, "BAD_USER_INPUT", "discountAmount"],
      [{ purchaseAmount: "0" }, "BAD_USER_INPUT", "purchaseAmount"],
      [{ purchaseAmount: "-5" }, "BAD_USER_INPUT", "purchaseAmount"],
      [{ purchaseAmount: "1.234" }, "BAD_USER_INPUT", "purchaseAmount"],
      [{ purchaseAmount: "2147483648", discountAmount: "1" }, "BAD_USER_INPUT", "purchaseAmount"],
      [{ purchaseAmount: "9007199254740993", discountAmount: "1" }, "BAD_USER_INPUT", "purchaseAmount"],
      [{ purchaseAmount: "100000000.01", discountAmount: "1" }, "BAD_USER_INPUT", "purchaseAmount"],
      [{ discountAmount: "9007199254740993" }, "BAD_USER_INPUT", "discountAmount"],
      [{ discountAmount: "0.00" }, "BAD_USER_INPUT", "discountAmount"],
      [{ currency: "USD" }, "BAD_USER_INPUT", "currency"],
      [{ benefitCode: "DISC\u0000OUNT" }, "BAD_USER_INPUT"],
      [{ reference: "R\u00001" }, "BAD_USER_INPUT"],
      [{ idempotencyKey: "k\u0000" }, "BAD_USER_INPUT"],
    ];
    for (const [change, code, field] of cases) {
      const r = await hub.gql(partners.a.token, APPLY, { i: { ...base, idempotencyKey: randomUUID(), ...change } }, SERVICING);
      expect(r.errors?.[0]?.extensions?.code, JSON.stringify(change)).toBe(code);
      if (field) expect(r.errors?.[0]?.extensions?.field, JSON.stringify(change)).toBe(field);
      expect(r.status, JSON.stringify(change)).toBeLessThan(500);
    }
    // A JSON number where a Decimal string is expected: refused by the scalar.
    const num = await hub.gql(partners.a.token, APPLY, { i: { ...base, purchaseAmount: 2 ** 53 + 1, idempotencyKey: randomUUID() } }, SERVICING);
    expect(num.errors?.[0]?.extensions?.code).toBe("BAD_USER_INPUT");
    // A member may not apply one, nor an admin.
    const admin = await hub.gql(await adminToken(), APPLY, { i: { ...base, idempotencyKey: randomUUID() } });
    expect(admin.errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    const list = expectNoGraphQLErrors(await hub.gql(partners.a.token, "{ appliedTierBenefits(first: 100) { edges { node { id } } } }"));
    expect(list.appliedTierBenefits.edges).toHaveLength(1);
  });

  test("a benefit the program marks settlement-relevant is totalled per partner for the period and on the settlement run; the classic program's are not", async () => {
    const admin = await adminToken();
    const SET = "mutation($i: LoyaltyProgramInput!) { setProgram(input: $i) { version } }";
    const relevant = classicProgram();
    relevant.benefits = relevant.benefits.map((b) => (b.tierCode === "SILVER" ? { ...b, settlementRelevant: true } : b));
    expectNoGraphQLErrors(await hub.gql(admin, SET, { i: programInput(relevant) }));
    const apply = (k: "a" | "b", memberId: string, purchaseAmount: string, discountAmount: string) =>
      hub.gql(partners[k].token, APPLY, { i: { memberId, benefitCode: "DISCOUNT", purchaseAmount, discountAmount, currency: "CNY", idempotencyKey: randomUUID() } }, SERVICING);
    expect(expectNoGraphQLErrors(await apply("a", members.silver!, "300.00", "30.00")).applyTierBenefit.settlementRelevant).toBe(true);
    expectNoGraphQLErrors(await apply("a", members.silver!, "0.10", "0.01"));
    // Back to the classic program: benefits applied from now on are not settlement-relevant again.
    expectNoGraphQLErrors(await hub.gql(admin, SET, { i: programInput(classicProgram()) }));
    expect(expectNoGraphQLErrors(await apply("a", members.silver!, "50.00", "5.00")).applyTierBenefit.settlementRelevant).toBe(false);

    const TOTALS = 'query($p: ID) { tierBenefitTotals(from: "2027-01-06T00:00:00Z", to: "2027-01-07T00:00:00Z", partnerId: $p) { partner { id } currency uses purchaseTotal discountTotal } }';
    const expected = [{ partner: { id: partners.a.id }, currency: "CNY", uses: 2, purchaseTotal: "300.1", discountTotal: "30.01" }];
    expect(expectNoGraphQLErrors(await hub.gql(admin, TOTALS)).tierBenefitTotals).toEqual(expected);
    expect(expectNoGraphQLErrors(await hub.gql(partners.a.token, TOTALS)).tierBenefitTotals).toEqual(expected);
    // Partner B: its own (none), never A's.
    expect(expectNoGraphQLErrors(await hub.gql(partners.b.token, TOTALS)).tierBenefitTotals).toEqual([]);
    expect((await hub.gql(partners.b.token, TOTALS, { p: partners.a.id })).errors?.[0]?.extensions?.code).toBe("FORBIDDEN");

    // The settlement run of that day shows the same totals (a DRAFT: nothing approved, later runs unaffected).
    await at("2027-01-07T04:00:00Z");
    const run = expectNoGraphQLErrors(
      await hub.gql(
        await adminToken(),
        'mutation { createSettlementRun(periodStart: "2027-01-06T00:00:00Z", periodEnd: "2027-01-07T00:00:00Z") { id tierBenefitTotals { partner { id } currency uses purchaseTotal discountTotal } } }',
      ),
    ).createSettlementRun;
    expect(run.tierBenefitTotals).toEqual(expected);
    await at("2027-01-06T04:00:00Z");
  });
});

describe("welcome bonus (classic: on the first purchase within 3 months of joining)", () => {
  test("paid once, with its reason, on the first purchase; not on the second, nor on a replay of the first", async () => {
    await at("2027-01-20T04:00:00Z");
    const key = randomUUID();
    const first = await award("a", members.welcome!, "100", key);
    const replay = await award("a", members.welcome!, "100", key);
    expect(replay.id).toBe(first.id);
    await award("a", members.welcome!, "50");
    const paid = await bonuses(members.welcome!);
    expect(paid).toHaveLength(1);
    expect(paid[0]).toMatchObject({ kind: "PROGRAM_BONUS", bonusKind: "WELCOME", points: 200, partner: { id: partners.a.id } });
    expect(paid[0].reason).toMatch(/Welcome bonus: 200 points .*within 3 months of joining/);
    // The other kinds carry no bonusKind.
    expect((await activity(members.welcome!)).filter((t: { bonusKind: unknown }) => t.bonusKind === null).map((t: { kind: string }) => t.kind)).toEqual(["EARN", "EARN"]);
  });
});

describe("birthday bonus (classic: earns × 2 in the birth month, with PROFILE_BASIC consent)", () => {
  test("not outside the birth month; in it, the earn's points again with the reason; not without the consent", async () => {
    await at("2027-02-10T04:00:00Z");
    await award("a", members.birthday!, "30");
    expect((await bonuses(members.birthday!)).filter((t: { bonusKind: string }) => t.bonusKind === "BIRTHDAY")).toEqual([]);
    await at("2027-03-10T04:00:00Z");
    const earn = await award("a", members.birthday!, "40");
    const birthday = (await bonuses(members.birthday!)).filter((t: { bonusKind: string }) => t.bonusKind === "BIRTHDAY");
    expect(birthday).toHaveLength(1);
    expect(birthday[0]).toMatchObject({ points: earn.points, partner: { id: partners.a.id } });
    expect(birthday[0].reason).toMatch(/Birthday bonus: earn × 2 in the birth month \(2027-03/);
    // Born in March too, consented to A for TIER and POINTS_BALANCE only: no birthday bonus.
    await award("a", members.nobirthdayconsent!, "40");
    expect((await bonuses(members.nobirthdayconsent!)).filter((t: { bonusKind: string }) => t.bonusKind === "BIRTHDAY")).toEqual([]);
    // April: over.
    await at("2027-04-01T04:00:00Z");
    await award("a", members.birthday!, "40");
    expect((await bonuses(members.birthday!)).filter((t: { bonusKind: string }) => t.bonusKind === "BIRTHDAY")).toHaveLength(1);
  });
});

describe("welcome bonus window", () => {
  test("only within 3 months of joining: the day before the window closes yes, the day after no", async () => {
    await at("2027-04-04T04:00:00Z"); // joined 2027-01-05T04:00Z: the window closes 2027-04-05T04:00Z
    await award("a", members.edge!, "10");
    expect((await bonuses(members.edge!)).map((t: { bonusKind: string }) => t.bonusKind)).toEqual(["WELCOME"]);
    await at("2027-04-06T04:00:00Z");
    await award("a", members.late!, "10");
    expect(await bonuses(members.late!)).toEqual([]);
  });
});

describe("retention in the tier review job (classic: 6 months without a purchase → ordinary; 3 consecutive months keep silver)", () => {
  test("six months without a purchase: a gold member goes to ordinary (the base tier, not one step down); a day earlier nothing changes", async () => {
    await at("2027-04-15T04:00:00Z");
    for (const m of ["keeper", "gapper"]) await award("a", members[m]!, "1");
    await at("2027-08-15T04:00:00Z");
    for (const m of ["keeper", "gapper"]) await award("a", members[m]!, "1");
    expect(await tierOf(members.inactive!)).toBe("GOLD");
    await runTierReview(new Date("2027-07-05T04:00:00Z"));
    await hub.flushEvents();
    expect(await tierOf(members.inactive!)).toBe("GOLD");
    await runTierReview(new Date("2027-07-07T04:00:00Z"));
    await hub.flushEvents();
    expect(await tierOf(members.inactive!)).toBe("BASE");
    // Idempotent: again at the same instant changes nothing.
    expect(await runTierReview(new Date("2027-07-07T04:00:00Z"))).toBe(0);
    // The purchasers kept silver (their 12-month points still qualify).
    expect(await tierOf(members.keeper!)).toBe("SILVER");
    expect(await tierOf(members.gapper!)).toBe("SILVER");
  });

  test("when the 12-month points no longer qualify, purchases in each of three consecutive months keep silver; two do not", async () => {
    // keeper: Nov, Dec, Jan; gapper: Oct, Dec, Jan (no November).
    for (const [iso, who] of [
      ["2027-10-15T04:00:00Z", ["gapper"]],
      ["2027-11-15T04:00:00Z", ["keeper"]],
      ["2027-12-15T04:00:00Z", ["keeper", "gapper"]],
      ["2028-01-15T04:00:00Z", ["keeper", "gapper"]],
    ] as const) {
      await at(iso);
      for (const m of who) await award("a", members[m]!, "1");
    }
    // 2028-01-20: the 1,001 points of 2027-01-06 are out of the rolling 12 months.
    await runTierReview(new Date("2028-01-20T04:00:00Z"));
    await hub.flushEvents();
    expect(await tierOf(members.keeper!)).toBe("SILVER");
    expect(await tierOf(members.gapper!)).toBe("BASE");
  });
});
