import { DATA_CATEGORIES, type DataCategory, LIFECYCLES, type Lifecycle, PURPOSES, type Purpose, TIERS, type Tier } from "./vocabulary.ts";

/**
 * Enums that several subgraphs declare. Federation composes an enum from every subgraph that
 * declares it, so each must declare exactly the same values and descriptions: they are defined
 * once here and each subgraph registers them with `builder.enumType(name, SHARED_ENUMS[name])`.
 * The values are those of lib/vocabulary.ts, in its order; each needs a description here.
 */
function sharedEnum<V extends string>(description: string, list: readonly V[], descriptions: Record<V, string>) {
  const values = Object.fromEntries(list.map((v) => [v, { description: descriptions[v] }])) as { [K in V]: { description: string } };
  return { description, values };
}

export const DATA_CATEGORY_ENUM = sharedEnum<DataCategory>("A category of member data a partner may read only under the member's consent for a stated purpose.", DATA_CATEGORIES, {
  PROFILE_BASIC: "Display name and birthday.",
  PROFILE_CONTACT: "Email address and phone number.",
  TIER: "Tier status: current tier, qualifying points, progress to the next tier.",
  POINTS_BALANCE: "Wallet: balance, available and held points, lifetime earned, points about to expire.",
  ACTIVITY: "Points transactions: earns, redemptions, reversals, expiries, offer bonuses.",
  SEGMENTS: "Lifecycle segment (NEW, ACTIVE, DORMANT, CHURNED) and other derived segments.",
});

export const PURPOSE_ENUM = sharedEnum<Purpose>("Why a partner reads member data; declared per request (Coalition-Purpose header) and bound into each consent.", PURPOSES, {
  ACCOUNT_SERVICING: "Running the member's account at the partner: earning, redeeming, customer support.",
  OFFER_TARGETING: "Choosing offers and messages for this member.",
  ANALYTICS: "Aggregate analysis and insights; individual answers are not the goal.",
});

export const LIFECYCLE_ENUM = sharedEnum<Lifecycle>("A member's lifecycle segment, derived from joining time and the last points activity (thresholds are configuration; defaults in days).", LIFECYCLES, {
  NEW: "Joined less than 30 days ago.",
  ACTIVE: "Past the first 30 days and active recently (last activity less than 90 days ago).",
  DORMANT: "No activity in the first 30 days after joining, or none for 90 days or more.",
  CHURNED: "No activity for 180 days or more (counted from joining when there was never any).",
});

export const TIER_ENUM = sharedEnum<Tier>("A member's coalition-wide tier, earned on points earned in the rolling 12 months (defaults: 1,000 → SILVER, 5,000 → GOLD, 20,000 → DIAMOND); it multiplies earn.", TIERS, {
  BASE: "The starting tier: earn × 1.",
  SILVER: "1,000+ qualifying points in 12 months (default): earn × 1.25.",
  GOLD: "5,000+ qualifying points in 12 months (default): earn × 1.5.",
  DIAMOND: "20,000+ qualifying points in 12 months (default): earn × 2.",
});

export const SHARED_ENUMS = { DataCategory: DATA_CATEGORY_ENUM, Purpose: PURPOSE_ENUM, Lifecycle: LIFECYCLE_ENUM, Tier: TIER_ENUM } as const;

/**
 * The root types' descriptions, the same in every subgraph: composition keeps one of them, and it is
 * what GraphiQL and generated clients show for the whole API (each field says which rule it follows).
 */
export const ROOT_DESCRIPTIONS = {
  query:
    "Reads of the Coalition Hub: the caller (viewer), members as far as the caller may see them (me, member, memberByPartnerRef; a partner reads personal fields only under the member's consent for the declared purpose), partners and offers, points transactions and settlement runs. Amounts are points unless a field says money (in the coalition currency); times are UTC.",
  mutation:
    "Writes of the Coalition Hub: enrolment, links and consents, earning and spending points (idempotent by key), holds, reversals and adjustments, offers and claims, partners, rates and API clients, settlement runs and disputes.",
} as const;
