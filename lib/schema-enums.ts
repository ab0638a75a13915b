/**
 * Enums that several subgraphs declare. Federation composes an enum from every subgraph that
 * declares it, so each must declare exactly the same values and descriptions: they are defined
 * once here and each subgraph registers them with `builder.enumType(name, SHARED_ENUMS[name])`.
 */
export const DATA_CATEGORY_ENUM = {
  description: "A category of member data a partner may read only under the member's consent for a stated purpose.",
  values: {
    PROFILE_BASIC: { description: "Display name and birthday." },
    PROFILE_CONTACT: { description: "Email address and phone number." },
    TIER: { description: "Tier status: current tier, qualifying points, progress to the next tier." },
    POINTS_BALANCE: { description: "Wallet: balance, available and held points, lifetime earned, points about to expire." },
    ACTIVITY: { description: "Points transactions: earns, redemptions, reversals, expiries, offer bonuses." },
    SEGMENTS: { description: "Lifecycle segment (NEW, ACTIVE, DORMANT, CHURNED) and other derived segments." },
  } as const,
};

export const PURPOSE_ENUM = {
  description: "Why a partner reads member data; declared per request (Coalition-Purpose header) and bound into each consent.",
  values: {
    ACCOUNT_SERVICING: { description: "Running the member's account at the partner: earning, redeeming, customer support." },
    OFFER_TARGETING: { description: "Choosing offers and messages for this member." },
    ANALYTICS: { description: "Aggregate analysis and insights; individual answers are not the goal." },
  } as const,
};

export const LIFECYCLE_ENUM = {
  description:
    "A member's lifecycle segment, derived from joining time and the last points activity (thresholds are configuration; defaults in days).",
  values: {
    NEW: { description: "Joined less than 30 days ago." },
    ACTIVE: { description: "Past the first 30 days and active recently (last activity less than 90 days ago)." },
    DORMANT: { description: "No activity in the first 30 days after joining, or none for 90 days or more." },
    CHURNED: { description: "No activity for 180 days or more (counted from joining when there was never any)." },
  } as const,
};

export const TIER_ENUM = {
  description:
    "A member's coalition-wide tier, earned on points earned in the rolling 12 months (defaults: 1,000 → SILVER, 5,000 → GOLD, 20,000 → DIAMOND); it multiplies earn.",
  values: {
    BASE: { description: "The starting tier: earn × 1." },
    SILVER: { description: "1,000+ qualifying points in 12 months (default): earn × 1.25." },
    GOLD: { description: "5,000+ qualifying points in 12 months (default): earn × 1.5." },
    DIAMOND: { description: "20,000+ qualifying points in 12 months (default): earn × 2." },
  } as const,
};

export const SHARED_ENUMS = { DataCategory: DATA_CATEGORY_ENUM, Purpose: PURPOSE_ENUM, Lifecycle: LIFECYCLE_ENUM, Tier: TIER_ENUM } as const;
