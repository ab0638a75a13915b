import { expect, expectTypeOf, test } from "vitest";
import * as db from "../prisma/generated/client/enums.ts";
import { readsUngated } from "./principal.ts";
import { SHARED_ENUMS } from "./schema-enums.ts";
import { DATA_CATEGORIES, type DataCategory, inCategoryOrder, isTier, LIFECYCLES, type Lifecycle, PURPOSES, type Purpose, TIERS, type Tier, tierRank } from "./vocabulary.ts";

// The vocabulary is defined once in lib/vocabulary.ts; the database enums (prisma/schema.prisma)
// and the public GraphQL enums must say exactly the same, in the same order.

test("the Prisma enums hold the vocabulary's values, in its order", () => {
  expect(Object.values(db.Purpose)).toEqual([...PURPOSES]);
  expect(Object.values(db.DataCategory)).toEqual([...DATA_CATEGORIES]);
  expect(Object.values(db.OfferTier)).toEqual([...TIERS]);
  expect(Object.values(db.PointsTier)).toEqual([...TIERS]);
  expect(Object.values(db.OfferSegment)).toEqual([...LIFECYCLES]);
  expectTypeOf<db.Purpose>().toEqualTypeOf<Purpose>();
  expectTypeOf<db.DataCategory>().toEqualTypeOf<DataCategory>();
  expectTypeOf<db.OfferTier>().toEqualTypeOf<Tier>();
  expectTypeOf<db.PointsTier>().toEqualTypeOf<Tier>();
  expectTypeOf<db.OfferSegment>().toEqualTypeOf<Lifecycle>();
});

test("the shared GraphQL enums list the vocabulary's values, in its order, each with a description", () => {
  const lists = { DataCategory: DATA_CATEGORIES, Purpose: PURPOSES, Lifecycle: LIFECYCLES, Tier: TIERS } as const;
  for (const [name, values] of Object.entries(lists)) {
    const e = SHARED_ENUMS[name as keyof typeof SHARED_ENUMS];
    expect(Object.keys(e.values), name).toEqual([...values]);
    for (const v of Object.values(e.values) as { description: string }[]) expect(v.description.length, name).toBeGreaterThan(10);
  }
});

test("tiers rank lowest first; categories come back in contract order, each once", () => {
  expect(TIERS.map(tierRank)).toEqual([0, 1, 2, 3]);
  expect(isTier("GOLD")).toBe(true);
  expect(isTier("PLATINUM")).toBe(false);
  expect(isTier(null)).toBe(false);
  expect(inCategoryOrder(["SEGMENTS", "PROFILE_BASIC", "SEGMENTS", "TIER"])).toEqual(["PROFILE_BASIC", "TIER", "SEGMENTS"]);
});

test("readsUngated: the member itself and admins are not consent-gated; partners and other members are", () => {
  expect(readsUngated({ role: "ADMIN", memberId: null }, "m1")).toBe(true);
  expect(readsUngated({ role: "MEMBER", memberId: "m1" }, "m1")).toBe(true);
  expect(readsUngated({ role: "MEMBER", memberId: "m2" }, "m1")).toBe(false);
  expect(readsUngated({ role: "MEMBER", memberId: null }, "m1")).toBe(false);
  expect(readsUngated({ role: "PARTNER", memberId: "m1" }, "m1")).toBe(false);
});
