import type { Program } from "../../subgraphs/points/src/program/model.ts";

/** A model program as the GraphQL LoyaltyProgramInput (setProgram, scheduleProgram, previewProgramChange). */
export function programInput(p: Program) {
  const names = (n: { en: string; "zh-Hans": string }) => ({ en: n.en, zhHans: n["zh-Hans"] });
  return {
    names: names(p.names),
    currency: p.currency,
    tiers: p.tiers.map((t) => ({ code: t.code, rank: t.rank, names: names(t.names), tier: t.apiTier, qualifyAnyOf: t.qualifyAnyOf })),
    earnRates: Object.entries(p.earnRates.perTier).map(([tierCode, rate]) => ({ tierCode, rate })),
    partnerEarnRates: p.earnRates.partners.map((r) => ({ partnerId: r.partnerId, rates: Object.entries(r.perTier).map(([tierCode, rate]) => ({ tierCode, rate })) })),
    benefits: p.benefits.map((b) => ({ ...b, names: names(b.names) })),
    retention: p.retention,
    bonuses: p.bonuses,
    lifecycle: p.lifecycle,
  };
}
