import fc from "fast-check";
import { expect, test } from "vitest";
import { startOfDayIn } from "./config.ts";

// The day's first instant in a time zone (daily redemption limits, settlement days), against an
// oracle: the first second whose local date (a fresh formatter per look) is the day's, by bisection.
const ZONES = ["Asia/Shanghai", "America/New_York", "Europe/London", "America/Santiago", "Australia/Lord_Howe", "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/Havana", "UTC"];

function localDate(timeZone: string, ms: number): number {
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-US", { timeZone, year: "numeric", month: "numeric", day: "numeric" }).formatToParts(new Date(ms)).map((x) => [x.type, Number(x.value)]));
  return Date.UTC(p.year!, p.month! - 1, p.day!);
}

function firstInstantOfDay(zone: string, at: Date): string {
  const day = localDate(zone, at.getTime());
  let before = day - 2 * 86_400_000;
  let onOrAfter = at.getTime() - (at.getTime() % 1000);
  while (onOrAfter - before > 1000) {
    const mid = before + Math.floor((onOrAfter - before) / 2000) * 1000;
    if (localDate(zone, mid) >= day) onOrAfter = mid;
    else before = mid;
  }
  return new Date(onOrAfter).toISOString();
}

test("startOfDayIn is the first instant of the local day, for any instant", () => {
  fc.assert(
    fc.property(fc.constantFrom(...ZONES), fc.date({ min: new Date("2020-01-01T00:00:00Z"), max: new Date("2035-12-31T23:59:59Z"), noInvalidDate: true }), (zone, at) => {
      expect(startOfDayIn(zone, at).toISOString()).toBe(firstInstantOfDay(zone, at));
    }),
    { numRuns: 1000 },
  );
});

test("startOfDayIn on every day of 2026 in every zone (so every DST change of the year, at midnight or not, is met)", () => {
  const wrong: string[] = [];
  for (const zone of ZONES) {
    for (let d = Date.UTC(2026, 0, 1); d < Date.UTC(2027, 0, 1); d += 86_400_000) {
      for (const at of [new Date(d + 6 * 3_600_000), new Date(d + 18 * 3_600_000)]) {
        const got = startOfDayIn(zone, at).toISOString();
        const want = firstInstantOfDay(zone, at);
        if (got !== want) wrong.push(`${zone} ${at.toISOString()}: ${got}, not ${want}`);
      }
    }
  }
  expect(wrong).toEqual([]);
});
