import { builder } from "../builder.ts";

// Enums shared with the member and points subgraphs: the same values and the same descriptions in
// every subgraph that declares them (composition merges them).

export const PurposeEnum = builder.enumType("Purpose", {
  description: "Why a partner reads member data; declared per request (Coalition-Purpose header) and bound into each consent.",
  values: {
    ACCOUNT_SERVICING: { description: "Running the member's account at the partner: earning, redeeming, customer support." },
    OFFER_TARGETING: { description: "Choosing offers and messages for this member." },
    ANALYTICS: { description: "Aggregate analysis and insights; individual answers are not the goal." },
  } as const,
});

export const LifecycleEnum = builder.enumType("Lifecycle", {
  description:
    "A member's lifecycle segment, derived from joining time and the last points activity (thresholds are configuration; defaults in days).",
  values: {
    NEW: { description: "Joined less than 30 days ago." },
    ACTIVE: { description: "Past the first 30 days and active recently (last activity less than 90 days ago)." },
    DORMANT: { description: "No activity in the first 30 days after joining, or none for 90 days or more." },
    CHURNED: { description: "No activity for 180 days or more (counted from joining when there was never any)." },
  } as const,
});

export const TierEnum = builder.enumType("Tier", {
  description:
    "A member's coalition-wide tier, earned on points earned in the rolling 12 months (defaults: 1,000 → SILVER, 5,000 → GOLD, 20,000 → DIAMOND); it multiplies earn.",
  values: {
    BASE: { description: "The starting tier: earn × 1." },
    SILVER: { description: "1,000+ qualifying points in 12 months (default): earn × 1.25." },
    GOLD: { description: "5,000+ qualifying points in 12 months (default): earn × 1.5." },
    DIAMOND: { description: "20,000+ qualifying points in 12 months (default): earn × 2." },
  } as const,
});

export const DataCategoryEnum = builder.enumType("DataCategory", {
  description: "A category of member data a partner may read only under the member's consent for a stated purpose.",
  values: {
    PROFILE_BASIC: { description: "Display name and birthday." },
    PROFILE_CONTACT: { description: "Email address and phone number." },
    TIER: { description: "Tier status: current tier, qualifying points, progress to the next tier." },
    POINTS_BALANCE: { description: "Wallet: balance, available and held points, lifetime earned, points about to expire." },
    ACTIVITY: { description: "Points transactions: earns, redemptions, reversals, expiries, offer bonuses." },
    SEGMENTS: { description: "Lifecycle segment (NEW, ACTIVE, DORMANT, CHURNED) and other derived segments." },
  } as const,
});

export const RoleEnum = builder.enumType("Role", {
  description: "What a token speaks for: the coalition operator, a partner brand, or one member.",
  values: {
    ADMIN: { description: "The coalition operator: onboards partners, sets rates, approves settlement; sees everything." },
    PARTNER: { description: "A partner brand's API client: sees its own records and only the members linked to it." },
    MEMBER: { description: "One member (token exchange through a partner's app, or the member app): sees only itself." },
  } as const,
});
