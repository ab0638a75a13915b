import { describe, expect, test } from "vitest";
import { classicProgram, type Program, tierByCode } from "../program/model.ts";
import { purchasedConsecutively, retentionTarget } from "./retention.ts";

// The retention rule of the tier review (issue 16), decided without a database: inactivity sends to
// the base tier (or one down), a lapsed qualification keeps a tier only with a retention rule's run
// of consecutive purchase months.
const p = classicProgram();
const t = (code: string) => tierByCode(p, code)!;
const now = new Date("2028-01-20T04:00:00Z");
const ym = { year: 2028, month: 1 };
const months = (...m: string[]) => new Set(m);

describe("purchasedConsecutively", () => {
  test("a run of n months ending this month or last month; gaps and year ends", () => {
    expect(purchasedConsecutively(months("2027-11", "2027-12", "2028-01"), 3, ym)).toBe(true);
    expect(purchasedConsecutively(months("2027-10", "2027-11", "2027-12"), 3, ym)).toBe(true);
    expect(purchasedConsecutively(months("2027-09", "2027-10", "2027-11"), 3, ym)).toBe(false);
    expect(purchasedConsecutively(months("2027-10", "2027-12", "2028-01"), 3, ym)).toBe(false);
    expect(purchasedConsecutively(months("2027-12", "2028-01"), 2, ym)).toBe(true);
    expect(purchasedConsecutively(months(), 1, ym)).toBe(false);
  });
});

describe("retentionTarget (classic program)", () => {
  const facts = (o: Partial<{ lastActivity: Date; months: Set<string>; qualified: string }>) => ({
    lastActivity: o.lastActivity ?? new Date("2028-01-15T00:00:00Z"),
    months: o.months ?? months(),
    qualified: t(o.qualified ?? "BASE"),
  });
  test("six months without a purchase: the base tier from any tier (not one step down); a day less: nothing", () => {
    for (const code of ["SILVER", "GOLD", "DIAMOND"]) {
      expect(retentionTarget(p, t(code), facts({ lastActivity: new Date("2027-07-20T04:00:00Z"), qualified: code }), now, ym)?.code).toBe("BASE");
      expect(retentionTarget(p, t(code), facts({ lastActivity: new Date("2027-07-21T04:00:00Z"), qualified: code }), now, ym)).toBeNull();
    }
  });
  test("ONE_TIER_DOWN where the program says so", () => {
    const q: Program = { ...p, retention: { ...p.retention, inactivity: { monthsWithoutPurchase: 6, to: "ONE_TIER_DOWN" } } };
    expect(retentionTarget(q, t("GOLD"), facts({ lastActivity: new Date("2027-01-01T00:00:00Z"), qualified: "GOLD" }), now, ym)?.code).toBe("SILVER");
  });
  test("still qualified: kept; lapsed: three consecutive months keep silver, fewer do not; a lapsed gold keeps silver at most", () => {
    expect(retentionTarget(p, t("SILVER"), facts({ qualified: "SILVER" }), now, ym)).toBeNull();
    expect(retentionTarget(p, t("SILVER"), facts({ months: months("2027-11", "2027-12", "2028-01") }), now, ym)).toBeNull();
    expect(retentionTarget(p, t("SILVER"), facts({ months: months("2027-10", "2027-12", "2028-01") }), now, ym)?.code).toBe("BASE");
    expect(retentionTarget(p, t("GOLD"), facts({ months: months("2027-11", "2027-12", "2028-01") }), now, ym)?.code).toBe("SILVER");
    expect(retentionTarget(p, t("GOLD"), facts({ qualified: "SILVER" }), now, ym)?.code).toBe("SILVER");
    expect(retentionTarget(p, t("BASE"), facts({ lastActivity: new Date("2000-01-01T00:00:00Z") }), now, ym)).toBeNull();
  });
});
