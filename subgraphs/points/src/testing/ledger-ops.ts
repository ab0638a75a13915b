import { randomUUID } from "node:crypto";
import { memberPrincipal, partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { awardPoints } from "../earning/award.ts";
import { createRedemptionCode, redeemPoints } from "../redemption/redeem.ts";

/** Ledger operations at an explicit time, for settlement tests (back-dated like the demo seed). */

/** A `partner.rates_changed` event: issue price and redemption rate from `effectiveFrom`. */
export const rates = (partnerId: string, issuePrice: string, redemptionRate: string, effectiveFrom: Date) => ({
  type: "partner.rates_changed",
  payload: { partnerId, issuePrice, redemptionRate, effectiveFrom: effectiveFrom.toISOString() },
});

/** The partner awards `points`, posted at `when`. */
export function earn(partnerId: string, memberId: string, points: number, when: Date) {
  return awardPoints(partnerPrincipal(partnerId), { memberId, points, idempotencyKey: randomUUID() }, { now: when, postedAt: when });
}

/** The member creates a code and the partner redeems it, posted at `when`. */
export async function redeem(partnerId: string, memberId: string, points: number, when: Date) {
  const { code } = await createRedemptionCode(memberPrincipal(memberId), { partnerId, points }, { now: when });
  return redeemPoints(partnerPrincipal(partnerId), { redemptionCode: code, points, idempotencyKey: randomUUID() }, { now: when, postedAt: when });
}
