import { builder } from "../builder.ts";

// Enums shared with the points and partner subgraphs: the same values and the same descriptions in
// every subgraph that declares them (composition merges them).

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

export const ConsentStatusEnum = builder.enumType("ConsentStatus", {
  description: "The state of a consent receipt, derived at read time from its revocation and expiry times.",
  values: {
    ACTIVE: { description: "Granted, not revoked, and not past its expiry time: it counts." },
    REVOKED: { description: "Withdrawn by the member; it stopped counting at the revocation time." },
    EXPIRED: { description: "Past its expiry time; it stopped counting then, by itself." },
  } as const,
});
