/**
 * Offer money is shared by the offer's co-issuers in basis points: the funding and the return of an
 * offer budget (events.ts posts them) and settlement's attribution of offer bonus lots
 * (settlement/compute.ts) split the same way, with this function, so they never disagree.
 */

/** Splits `total` by basis points with largest-remainder rounding: the parts sum to exactly `total`. */
export function splitByShares(total: number, shares: { partnerId: string; shareBps: number }[]): { partnerId: string; points: number }[] {
  const bps = shares.reduce((s, f) => s + f.shareBps, 0);
  if (bps <= 0) throw new Error("offer fundings have no shares");
  const parts = shares.map((f, i) => {
    const exact = (total * f.shareBps) / bps;
    return { i, partnerId: f.partnerId, points: Math.floor(exact), rem: exact - Math.floor(exact) };
  });
  let left = total - parts.reduce((s, p) => s + p.points, 0);
  for (const p of [...parts].sort((a, b) => b.rem - a.rem || a.partnerId.localeCompare(b.partnerId))) {
    if (left <= 0) break;
    p.points++;
    left--;
  }
  return parts.sort((a, b) => a.i - b.i).map(({ partnerId, points }) => ({ partnerId, points }));
}
