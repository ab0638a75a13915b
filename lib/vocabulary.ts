/**
 * The coalition's shared vocabulary: the values of tiers, purposes, data categories and lifecycle
 * segments, defined once. Every subgraph, the gateway, the seed and the scripts import them from
 * here; the GraphQL enums (lib/schema-enums.ts) are keyed by these lists, and the Prisma enums
 * (`Purpose`, `DataCategory`, `OfferTier`/`PointsTier`, `OfferSegment`) must hold the same values
 * (lib/vocabulary.test.ts compares them). Order matters: it is the order of the public enums and,
 * for tiers, their rank (lowest first).
 */

/** Coalition-wide tiers, lowest first: a tier's index is its rank (`minTier` compares ranks). */
export const TIERS = ["BASE", "SILVER", "GOLD", "DIAMOND"] as const;
export type Tier = (typeof TIERS)[number];

/** Why a partner reads member data; declared per request and bound into each consent. */
export const PURPOSES = ["ACCOUNT_SERVICING", "OFFER_TARGETING", "ANALYTICS"] as const;
export type Purpose = (typeof PURPOSES)[number];

/** Categories of member data a partner reads only under consent, in contract order. */
export const DATA_CATEGORIES = ["PROFILE_BASIC", "PROFILE_CONTACT", "TIER", "POINTS_BALANCE", "ACTIVITY", "SEGMENTS"] as const;
export type DataCategory = (typeof DATA_CATEGORIES)[number];

/** Lifecycle segments (the rule is lifecycleOf in lib/lifecycle.ts). */
export const LIFECYCLES = ["NEW", "ACTIVE", "DORMANT", "CHURNED"] as const;
export type Lifecycle = (typeof LIFECYCLES)[number];

/** A tier's rank: BASE 0 … DIAMOND 3. */
export const tierRank = (t: Tier): number => TIERS.indexOf(t);

/** Type guards for values that arrive untyped (event payloads, headers, raw rows). */
export const isTier = (v: unknown): v is Tier => (TIERS as readonly unknown[]).includes(v);
export const isPurpose = (v: unknown): v is Purpose => (PURPOSES as readonly unknown[]).includes(v);
export const isDataCategory = (v: unknown): v is DataCategory => (DATA_CATEGORIES as readonly unknown[]).includes(v);
export const isLifecycle = (v: unknown): v is Lifecycle => (LIFECYCLES as readonly unknown[]).includes(v);

/** The given categories in contract order, each once (access-log entries list them so). */
export const inCategoryOrder = (categories: Iterable<DataCategory>): DataCategory[] => {
  const s = new Set(categories);
  return DATA_CATEGORIES.filter((c) => s.has(c));
};
