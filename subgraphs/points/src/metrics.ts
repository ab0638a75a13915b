import type { PrismaClient } from "../../../lib/db.ts";
import { holdsOpen, onScrape, outstandingLiability, pointsIssuedLastHour, pointsRedeemedLastHour, throttled } from "../../../lib/metrics.ts";
import { untraced } from "../../../lib/tracing.ts";

/** Partners reported per gauge at most (label cardinality; the busiest first). */
const MAX_PARTNERS = 500;

/**
 * The business gauges of /metrics (lib/metrics.ts), from the points schema at scrape time, at most
 * every 30 s whatever the scrape interval: points issued and redeemed per partner in the last hour
 * (index (postedAt) scan of one hour of transactions), outstanding liability (the wallets' balances)
 * and holds open (index (status, expiresAt)). Returns the unregistering function.
 */
export function registerBusinessMetrics(prisma: () => PrismaClient): () => void {
  return onScrape(
    throttled("points:business", 30_000, () =>
      untraced(async () => {
        const db = prisma();
        const perPartner = await db.$queryRawUnsafe<{ partnerId: string; issued: string; redeemed: string }[]>(
          `SELECT "partnerId"::text AS "partnerId",
                  coalesce(sum("memberPoints") FILTER (WHERE kind IN ('EARN', 'OFFER_BONUS')), 0)::text AS issued,
                  coalesce(-sum("memberPoints") FILTER (WHERE kind = 'REDEEM'), 0)::text AS redeemed
             FROM points."LedgerTransaction"
            WHERE "postedAt" > now() - interval '1 hour' AND "partnerId" IS NOT NULL AND kind IN ('EARN', 'OFFER_BONUS', 'REDEEM')
            GROUP BY "partnerId" ORDER BY count(*) DESC LIMIT ${MAX_PARTNERS}`,
        );
        const [totals] = await db.$queryRawUnsafe<{ liability: string; holds: number }[]>(
          `SELECT (SELECT coalesce(sum(balance), 0) FROM points."LedgerAccount" WHERE kind = 'MEMBER_WALLET')::text AS liability,
                  (SELECT count(*)::int FROM points."Hold" WHERE status = 'PENDING') AS holds`,
        );
        // A partner quiet for an hour drops out of the series instead of keeping its last value.
        pointsIssuedLastHour.reset();
        pointsRedeemedLastHour.reset();
        for (const r of perPartner) {
          pointsIssuedLastHour.set({ partner_id: r.partnerId }, Number(r.issued));
          pointsRedeemedLastHour.set({ partner_id: r.partnerId }, Number(r.redeemed));
        }
        outstandingLiability.set(Number(totals?.liability ?? 0));
        holdsOpen.set(totals?.holds ?? 0);
      }),
    ),
  );
}
