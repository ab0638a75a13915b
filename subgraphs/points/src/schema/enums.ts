import { builder } from "../builder.ts";

// Enums shared with the member and partner subgraphs: the same values and descriptions everywhere.

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

export const TransactionKindEnum = builder.enumType("TransactionKind", {
  description: "What a points transaction did. Every transaction is a balanced set of ledger postings (they sum to zero).",
  values: {
    EARN: { description: "Points awarded by a partner to a member (the partner's issuance account pays)." },
    REDEEM: { description: "Points spent by a member at a partner (or a manual redemption by an admin)." },
    REVERSAL: { description: "A whole or partial reversal of an earlier transaction." },
    EXPIRY: { description: "Points that expired, moved to the coalition's breakage account." },
    ADJUSTMENT: { description: "A manual correction by an admin, with a reason." },
    OFFER_FUNDING: { description: "An offer budget funded by its co-issuers in their shares." },
    OFFER_BONUS: { description: "Bonus points of an offer, paid from the offer budget." },
    OFFER_RETURN: { description: "The unused budget of an ended offer, returned to its co-issuers in their shares." },
  } as const,
});

export const HoldStatusEnum = builder.enumType("HoldStatus", {
  description: "The state of a hold (a reservation of points at a partner). A hold resolves exactly once.",
  values: {
    PENDING: { description: "Points are reserved (counted in the wallet's held points) until captured, voided or expired." },
    CAPTURED: { description: "Captured, whole or in part: the captured points were redeemed, the rest released." },
    VOIDED: { description: "Released by the partner; nothing was redeemed." },
    EXPIRED: { description: "Not resolved before its expiry time; released by the hold-expiry job." },
  } as const,
});
