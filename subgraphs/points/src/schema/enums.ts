import { SHARED_ENUMS } from "../../../../lib/schema-enums.ts";
import { builder } from "../builder.ts";

// Enums shared with the member and partner subgraphs: the same values and descriptions everywhere.

export const TierEnum = builder.enumType("Tier", SHARED_ENUMS.Tier);

export const DataCategoryEnum = builder.enumType("DataCategory", SHARED_ENUMS.DataCategory);

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
    PROGRAM_BONUS: {
      description: "A bonus of the loyalty program (welcome, birthday: see bonusKind and reason), paid from the coalition's program-bonus account: the operator pays for it, not a partner.",
    },
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
