import fc from "fast-check";
import { expect, test } from "vitest";
import { periodStart } from "./evaluate.ts";

// A calendar period's start, against an oracle sharing no code with it: the first second whose local
// date (a fresh Intl.DateTimeFormat per look) is on or after the 1st of the period's first month,
// found by bisection (like the code now; fixed known values below check both). Zones with DST (some
// at midnight), half-hour DST, ±12–14 h offsets. Assumes the local date never goes backwards, true
// of every zone since 2011 (St John's fell back over midnight before).
const ZONES = ["Asia/Shanghai", "America/New_York", "Europe/London", "America/Santiago", "Australia/Lord_Howe", "Pacific/Kiritimati", "Pacific/Pago_Pago", "America/Havana", "UTC"];

function localDate(timeZone: string, ms: number): number {
  const p = Object.fromEntries(new Intl.DateTimeFormat("en-US", { timeZone, year: "numeric", month: "numeric", day: "numeric" }).formatToParts(new Date(ms)).map((x) => [x.type, Number(x.value)]));
  return Date.UTC(p.year!, p.month! - 1, p.day!);
}

function oracle(timeZone: string, at: Date, months: number): number {
  const today = new Date(localDate(timeZone, at.getTime()));
  const blockMonth = Math.floor(today.getUTCMonth() / months) * months;
  const first = Date.UTC(today.getUTCFullYear(), blockMonth, 1);
  let lo = first - 2 * 86_400_000; // local date before the 1st
  let hi = first + 2 * 86_400_000; // local date on or after it
  while (hi - lo > 1000) {
    const mid = lo + Math.floor((hi - lo) / 2000) * 1000;
    if (localDate(timeZone, mid) >= first) hi = mid;
    else lo = mid;
  }
  return hi;
}

test("a calendar period starts at the first instant of its first month's 1st in the time zone, for any instant and zone (and again from the cache)", () => {
  fc.assert(
    fc.property(fc.constantFrom(...ZONES), fc.date({ min: new Date("2020-01-01T00:00:00Z"), max: new Date("2035-12-31T23:59:59Z"), noInvalidDate: true }), fc.constantFrom(1, 3, 6, 12), (zone, at, months) => {
      const expected = oracle(zone, at, months);
      const first = periodStart({ kind: "CALENDAR", months }, at, zone);
      expect(first).toEqual({ start: new Date(expected), inclusive: true });
      first.start.setTime(0); // a caller changing its Date changes nobody else's
      expect(periodStart({ kind: "CALENDAR", months }, at, zone).start.getTime()).toBe(expected);
    }),
    { numRuns: 400 },
  );
});

test("known month starts: on a 1st with a DST change later that day, with a 30-minute DST, and without DST", () => {
  const calendar = (months: number, at: string, zone: string) => periodStart({ kind: "CALENDAR", months }, new Date(at), zone).start.toISOString();
  // New York, Sunday 1 November 2026: EDT (−4) until 02:00, so the day began at 04:00 UTC (walking back
  // from noon UTC by the EST time of day gave 05:00).
  expect(calendar(1, "2026-11-15T12:00:00Z", "America/New_York")).toBe("2026-11-01T04:00:00.000Z");
  // Lord Howe, Sunday 1 October 2034: +10:30 until 02:00, then +11 (30 minutes).
  expect(calendar(1, "2034-10-10T00:00:00Z", "Australia/Lord_Howe")).toBe("2034-09-30T13:30:00.000Z");
  // Shanghai (+8, no DST): the quarter of 4 December 2026 began on 1 October.
  expect(calendar(3, "2026-12-04T05:00:00Z", "Asia/Shanghai")).toBe("2026-09-30T16:00:00.000Z");
  // 31 December 2026 at 20:00 UTC is already 1 January 2027 in Shanghai: that year's block.
  expect(calendar(12, "2026-12-31T20:00:00Z", "Asia/Shanghai")).toBe("2026-12-31T16:00:00.000Z");
});
