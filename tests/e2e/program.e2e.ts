import { randomUUID } from "node:crypto";
import { afterAll, afterEach, beforeAll, describe, expect, test } from "vitest";
import { setClock } from "../../lib/clock.ts";
import { classicProgram, type Program } from "../../subgraphs/points/src/program/model.ts";
import { runTierReevaluation } from "../../subgraphs/points/src/jobs.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { programInput } from "../support/program.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// The loyalty program as data (issue 16) through the gateway, with the rules' clock controlled
// (lib/clock.ts; the embedded hub runs in this process): the classic program's thresholds and
// rates, diamond by spend in the calendar year (not by points), a future-effective version, bad
// programs, who may change it, the preview and the re-evaluation job.

const AWARD = "mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id points programVersion purchaseAmount purchaseCurrency } }";
const TIER = `query($id: ID!) { member(id: $id) { tier { tier tierCode tierNames { en zhHans } qualifyingPoints qualifyingSpend currency nextTier nextTierCode pointsToNextTier earnRate programVersion
  qualifiedBy { metric threshold comparison period { kind months } currency }
  progress { tierCode metric: rule { metric } current missing met currency } } } }`;
const PROGRAM = `{ program { version effectiveFrom currency names { en zhHans } tiers { code rank tier names { en zhHans } earnRate qualifyAnyOf { metric threshold comparison period { kind months } currency } }
  earnRates { tierCode rate } benefits { tierCode percentOff settlementRelevant } retention { keep { tierCode consecutiveMonths } inactivity { monthsWithoutPurchase to } }
  bonuses { welcome { points windowMonths trigger } birthday { kind multiplier consentCategory } } lifecycle { dormantWithoutActivityDays activeMonthlySpend highFrequencyPurchasesPerMonth currency } } }`;
const SET = "mutation($i: LoyaltyProgramInput!) { setProgram(input: $i) { version effectiveFrom } }";
const SCHEDULE = "mutation($i: LoyaltyProgramInput!, $at: DateTime!) { scheduleProgram(input: $i, effectiveFrom: $at) { version effectiveFrom } }";
const VERSIONS = "{ programVersions(first: 100) { version effectiveFrom createdBy } }";
const PREVIEW = "query($i: LoyaltyProgramInput!) { previewProgramChange(input: $i) { membersEvaluated membersChanging moves { fromCode toCode fromTier toTier members } } }";

let hub: TestHub;
let admin: string;
let partner: { id: string; token: string };
let clock = Date.UTC(2026, 2, 10, 12); // 2026-03-10T12:00Z
const tick = (ms = 1000) => {
  clock += ms;
};

beforeAll(async () => {
  setClock(() => new Date(clock));
  hub = await startTestHub();
  admin = await hub.adminToken();
  const { registerPartner } = expectNoGraphQLErrors(
    await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name: "Hotel Co", category: "HOTEL", issuePrice: "0.01", redemptionRate: "0.01" } }),
  );
  const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
  partner = { id: registerPartner.id, token: await hub.token(createApiClient.clientId, createApiClient.clientSecret) };
});
afterAll(async () => {
  setClock(null);
  await hub?.close();
});
afterEach(() => tick(60_000));

async function member(): Promise<string> {
  const { enrollMember } = expectNoGraphQLErrors(
    await hub.gql(partner.token, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email: `${randomUUID()}@example.com`, externalRef: randomUUID() } }),
  );
  await hub.flushEvents();
  return enrollMember.id;
}
async function award(memberId: string, input: { points?: number; purchaseAmount?: string }) {
  tick();
  return expectNoGraphQLErrors(await hub.gql(partner.token, AWARD, { i: { memberId, idempotencyKey: randomUUID(), ...input } })).awardPoints;
}
const tierOf = async (id: string) => expectNoGraphQLErrors(await hub.gql(admin, TIER, { id })).member.tier;
const versions = async () => expectNoGraphQLErrors(await hub.gql(admin, VERSIONS)).programVersions as { version: number }[];

describe("the classic program (seeded as version 1)", () => {
  test("`program` shows it to partners and members: tiers 普通/银卡/金卡/钻石, thresholds, rates 1/2/2/3, benefits, retention, bonuses, lifecycle", async () => {
    const m = await hub.memberWithPassword(partner.token, { email: "reader@example.com", externalRef: "reader" });
    const memberToken = await hub.memberSession(m.login, m.password);
    for (const token of [partner.token, memberToken, admin]) {
      const { program } = expectNoGraphQLErrors(await hub.gql(token, PROGRAM));
      expect(program.version).toBe(1);
      expect(program.tiers.map((t: { code: string; names: { zhHans: string }; earnRate: string }) => [t.code, t.names.zhHans, t.earnRate])).toEqual([
        ["BASE", "普通", "1"],
        ["SILVER", "银卡", "2"],
        ["GOLD", "金卡", "2"],
        ["DIAMOND", "钻石", "3"],
      ]);
      expect(program.tiers[1].qualifyAnyOf).toEqual([{ metric: "POINTS", threshold: "1000", comparison: "MORE_THAN", period: { kind: "ROLLING", months: 12 }, currency: null }]);
      expect(program.tiers[2].qualifyAnyOf[0]).toMatchObject({ metric: "POINTS", threshold: "5000", comparison: "AT_LEAST" });
      expect(program.tiers[3].qualifyAnyOf).toEqual([{ metric: "SPEND", threshold: "10000", comparison: "MORE_THAN", period: { kind: "CALENDAR", months: 12 }, currency: "CNY" }]);
      expect(program.benefits.map((b: { percentOff: string }) => b.percentOff)).toEqual(["10", "15", "20"]);
      expect(program.retention).toEqual({ keep: [{ tierCode: "SILVER", consecutiveMonths: 3 }], inactivity: { monthsWithoutPurchase: 6, to: "BASE" } });
      expect(program.bonuses.welcome).toEqual({ points: 200, windowMonths: 3, trigger: "FIRST_PURCHASE" });
      expect(program.lifecycle).toEqual({ dormantWithoutActivityDays: 30, activeMonthlySpend: "500", highFrequencyPurchasesPerMonth: 5, currency: "CNY" });
    }
  });

  test("silver when points exceed 1,000 (1,000 is not enough), gold at 5,000; the rule that qualified and progress on every path", async () => {
    const m = await member();
    await award(m, { points: 1000 });
    let t = await tierOf(m);
    expect(t).toMatchObject({ tier: "BASE", tierCode: "BASE", tierNames: { en: "Ordinary", zhHans: "普通" }, qualifyingPoints: 1000, nextTier: "SILVER", pointsToNextTier: 1, programVersion: 1, qualifiedBy: null });
    expect(t.progress.map((g: { tierCode: string; current: string; missing: string; currency: string | null }) => [g.tierCode, g.current, g.missing, g.currency])).toEqual([
      ["SILVER", "1000", "1", null],
      ["GOLD", "1000", "4000", null],
      ["DIAMOND", "0", "10000", "CNY"],
    ]);
    await award(m, { points: 1 });
    t = await tierOf(m);
    expect(t).toMatchObject({ tier: "SILVER", tierCode: "SILVER", nextTier: "GOLD", pointsToNextTier: 3999, earnRate: "2" });
    expect(t.qualifiedBy).toEqual({ metric: "POINTS", threshold: "1000", comparison: "MORE_THAN", period: { kind: "ROLLING", months: 12 }, currency: null });
    await award(m, { points: 3998 });
    expect((await tierOf(m)).tier).toBe("SILVER");
    await award(m, { points: 1 });
    t = await tierOf(m);
    expect(t).toMatchObject({ tier: "GOLD", qualifyingPoints: 5000, nextTier: "DIAMOND", nextTierCode: "DIAMOND", pointsToNextTier: null });
    expect(t.qualifiedBy).toMatchObject({ metric: "POINTS", threshold: "5000", comparison: "AT_LEAST" });
  });

  test("diamond by more than ¥10,000 spent in the calendar year — not by points alone, not by spend across two years", async () => {
    // Points alone: 50,000 points, no purchase → GOLD, never DIAMOND.
    const rich = await member();
    await award(rich, { points: 50_000 });
    expect(await tierOf(rich)).toMatchObject({ tier: "GOLD", qualifyingSpend: "0" });

    // Across the year end: ¥6,000 in December, ¥5,000 in January = ¥11,000, but the year has ¥5,000.
    const saved = clock;
    clock = Date.UTC(2026, 11, 20, 12);
    const m = await member();
    expect(await award(m, { purchaseAmount: "6000" })).toMatchObject({ points: 6000, purchaseAmount: "6000", purchaseCurrency: "CNY", programVersion: 1 });
    clock = Date.UTC(2027, 0, 5, 12);
    expect((await award(m, { purchaseAmount: "5000" })).points).toBe(10_000); // GOLD since the first earn: 2 per ¥
    let t = await tierOf(m);
    expect(t).toMatchObject({ tier: "GOLD", qualifyingSpend: "5000", currency: "CNY" });
    // ¥5,000 more this year: exactly ¥10,000 is not "more than".
    await award(m, { purchaseAmount: "5000" });
    expect((await tierOf(m)).tier).toBe("GOLD");
    // ¥1 more: ¥10,001 > ¥10,000 → DIAMOND, qualified by the spend rule.
    await award(m, { purchaseAmount: "1" });
    t = await tierOf(m);
    expect(t).toMatchObject({ tier: "DIAMOND", tierCode: "DIAMOND", qualifyingSpend: "10001", nextTier: null, progress: [] });
    expect(t.qualifiedBy).toEqual({ metric: "SPEND", threshold: "10000", comparison: "MORE_THAN", period: { kind: "CALENDAR", months: 12 }, currency: "CNY" });
    // 3 points per ¥ at DIAMOND.
    expect((await award(m, { purchaseAmount: "100" })).points).toBe(300);
    clock = saved;
  });

  test("1 / 2 / 3 points per ¥ by tier (ordinary, silver and gold, diamond)", async () => {
    const m = await member();
    expect((await award(m, { purchaseAmount: "100.99" })).points).toBe(100); // BASE: 1 per ¥, rounded down
    await award(m, { points: 1000 }); // 1,100 points: SILVER
    expect((await award(m, { purchaseAmount: "100" })).points).toBe(200);
    await award(m, { points: 5000 }); // GOLD
    expect((await award(m, { purchaseAmount: "100" })).points).toBe(200);
  });
});

describe("changing the program", () => {
  const custom = (): Program => {
    const p = classicProgram();
    p.tiers[1]!.qualifyAnyOf = [{ metric: "POINTS", period: { kind: "ROLLING", months: 12 }, threshold: "2000", comparison: "AT_LEAST" }];
    p.earnRates.perTier = { BASE: "5", SILVER: "6", GOLD: "7", DIAMOND: "8" };
    return p;
  };

  test("bad programs are BAD_USER_INPUT naming the rule; nothing is stored", async () => {
    const before = (await versions()).length;
    const cases: [string, (p: Program) => void, string][] = [
      [
        "descending thresholds",
        (p) => {
          p.tiers[2]!.qualifyAnyOf[0]!.threshold = "500";
        },
        "THRESHOLDS_ASCENDING",
      ],
      [
        "overlapping tiers",
        (p) => {
          p.tiers[2]!.qualifyAnyOf[0] = { ...p.tiers[1]!.qualifyAnyOf[0]! };
        },
        "TIERS_OVERLAP",
      ],
      [
        "negative rate",
        (p) => {
          p.earnRates.perTier.GOLD = "-1";
        },
        "RATE_NOT_NEGATIVE",
      ],
      [
        "unknown partner",
        (p) => {
          p.earnRates.partners = [{ partnerId: randomUUID(), perTier: { BASE: "1", SILVER: "1", GOLD: "1", DIAMOND: "1" } }];
        },
        "UNKNOWN_PARTNER",
      ],
      [
        "inexact decimal",
        (p) => {
          p.earnRates.perTier.BASE = "1.0000001";
        },
        "EXACT_DECIMAL",
      ],
      [
        "gap in ranks",
        (p) => {
          p.tiers[3]!.rank = 5;
        },
        "TIER_RANKS_CONTIGUOUS",
      ],
      [
        "duplicate codes",
        (p) => {
          p.tiers[3]!.code = "GOLD";
        },
        "TIER_CODES_UNIQUE",
      ],
      [
        "another currency",
        (p) => {
          p.currency = "USD";
        },
        "CURRENCY",
      ],
      [
        "dormant days other than the deployment setting (HUB_LIFECYCLE_DORMANT_AFTER_JOIN_DAYS, 30)",
        (p) => {
          p.lifecycle.dormantWithoutActivityDays = 45;
        },
        "DORMANT_DAYS_IS_A_SETTING",
      ],
    ];
    for (const [what, change, rule] of cases) {
      const p = classicProgram();
      change(p);
      for (const res of [await hub.gql(admin, SET, { i: programInput(p) }), await hub.gql(admin, PREVIEW, { i: programInput(p) })]) {
        expect(res.errors?.[0]?.extensions?.code, what).toBe("BAD_USER_INPUT");
        expect(res.errors?.[0]?.extensions?.rule, what).toBe(rule);
        expect(res.errors?.[0]?.message, what).toContain(rule);
      }
    }
    const past = await hub.gql(admin, SCHEDULE, { i: programInput(custom()), at: new Date(clock - 1000).toISOString() });
    expect(past.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", rule: "EFFECTIVE_FROM_IN_PAST", field: "effectiveFrom" });
    expect((await versions()).length).toBe(before);
    expect(expectNoGraphQLErrors(await hub.gql(partner.token, "{ program { version } }")).program.version).toBe(1);
  });

  test("only admins change, list or preview programs: FORBIDDEN for partners and members", async () => {
    const m = await hub.memberWithPassword(partner.token, { email: "not-admin@example.com", externalRef: "not-admin" });
    const memberToken = await hub.memberSession(m.login, m.password);
    for (const token of [partner.token, memberToken]) {
      expect((await hub.gql(token, SET, { i: programInput(custom()) })).errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
      expect((await hub.gql(token, SCHEDULE, { i: programInput(custom()), at: new Date(clock + 86_400_000).toISOString() })).errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
      expect((await hub.gql(token, VERSIONS)).errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
      expect((await hub.gql(token, PREVIEW, { i: programInput(custom()) })).errors?.[0]?.extensions?.code).toBe("FORBIDDEN");
    }
    expect((await versions()).length).toBe(1);
  });

  test("a future-effective program changes nothing until then, then applies to earns from that moment; past earns keep their points", async () => {
    clock = Date.UTC(2028, 0, 1, 12);
    const m = await member();
    const before = await award(m, { purchaseAmount: "100" });
    expect(before).toMatchObject({ points: 100, programVersion: 1 });
    const effective = clock + 86_400_000;
    const scheduled = expectNoGraphQLErrors(await hub.gql(admin, SCHEDULE, { i: programInput(custom()), at: new Date(effective).toISOString() })).scheduleProgram;
    expect(scheduled).toEqual({ version: 2, effectiveFrom: new Date(effective).toISOString() });
    // Until then: version 1 in force, earns at 1 per ¥.
    expect(expectNoGraphQLErrors(await hub.gql(partner.token, "{ program { version } }")).program.version).toBe(1);
    expect(await award(m, { purchaseAmount: "100" })).toMatchObject({ points: 100, programVersion: 1 });
    clock = effective - 5000;
    expect(await award(m, { purchaseAmount: "100" })).toMatchObject({ points: 100, programVersion: 1 });
    // From effectiveFrom: version 2, 5 per ¥ at BASE.
    clock = effective;
    expect(expectNoGraphQLErrors(await hub.gql(partner.token, "{ program { version } }")).program.version).toBe(2);
    expect(await award(m, { purchaseAmount: "100" })).toMatchObject({ points: 500, programVersion: 2 });
    const again = expectNoGraphQLErrors(await hub.gql(admin, "query($id: ID!) { transaction(id: $id) { points programVersion } }", { id: before.id }));
    expect(again.transaction).toEqual({ points: 100, programVersion: 1 });
    const list = await versions();
    expect(list.map((v) => v.version)).toEqual([2, 1]);
    expect(list[0]).toMatchObject({ createdBy: expect.any(String) });
  });

  test("previewProgramChange counts tier moves from the ledger without writing; setProgram + the re-evaluation job apply them once; audited", async () => {
    clock = Date.UTC(2028, 5, 1, 12);
    // Under version 2 (silver at 2,000): a member with 1,500 points is BASE; under a program with silver above 1,000 it is SILVER.
    const m = await member();
    await award(m, { points: 1500 });
    expect((await tierOf(m)).tier).toBe("BASE");
    const classic = classicProgram();
    const preview = expectNoGraphQLErrors(await hub.gql(admin, PREVIEW, { i: programInput(classic) })).previewProgramChange;
    expect(preview.membersChanging).toBeGreaterThanOrEqual(1);
    expect(preview.moves).toContainEqual(expect.objectContaining({ fromCode: "BASE", toCode: "SILVER", fromTier: "BASE", toTier: "SILVER" }));
    expect((await tierOf(m)).tier).toBe("BASE"); // nothing written
    expect((await versions()).length).toBe(2);

    tick();
    const set = expectNoGraphQLErrors(await hub.gql(admin, SET, { i: programInput(classic) })).setProgram;
    expect(set).toMatchObject({ version: 3, effectiveFrom: new Date(clock).toISOString() });
    const audits = await hub.db.client().$queryRaw<{ n: bigint }[]>`
      SELECT count(*)::bigint AS n FROM "points"."OutboxEvent" WHERE type = 'audit.recorded' AND payload->>'action' = 'program.changed'`;
    expect(Number(audits[0]!.n)).toBe(2);
    tick();
    const changed = await runTierReevaluation(new Date(clock));
    expect(changed).toBeGreaterThanOrEqual(1);
    expect(await tierOf(m)).toMatchObject({ tier: "SILVER", programVersion: 3 });
    // Every move is applied: previewing the program in force again finds no member left to move.
    const left = expectNoGraphQLErrors(await hub.gql(admin, PREVIEW, { i: programInput(classic) })).previewProgramChange;
    expect(left.membersChanging).toBe(0);
    expect(await runTierReevaluation(new Date(clock))).toBe(0); // idempotent: version 3 is done
  });
});
