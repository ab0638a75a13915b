import { loadEnv } from "../../../lib/config.ts";
import { type LifecycleSettings, loadLifecycleSettings } from "../../../lib/lifecycle.ts";

/**
 * Settings of the member subgraph. Lifecycle thresholds follow the seeds in DESIGN.md §9 (dormant
 * after 30 days without activity after joining; 90 days without activity for a member who was
 * active; churned after 180 days); the minimum cohort is the coalition-wide HUB_MIN_COHORT. The variables, their defaults
 * and bounds: lib/config.ts.
 */
export interface MemberSettings extends LifecycleSettings {
  /** Partner insights below this many members are suppressed (2–100,000). */
  minCohort: number;
  /** Published insight counts are rounded down to a multiple of this (1 = exact). */
  insightGranularity: number;
  /** Links and consents count in insights only once they are this many hours old (0 = at once). */
  insightStabilityHours: number;
}

/** The member subgraph's view of the one configuration (lib/config.ts); throws ConfigError naming every bad variable. */
export function loadMemberSettings(env: NodeJS.ProcessEnv = process.env): MemberSettings {
  const e = loadEnv(env);
  return {
    ...loadLifecycleSettings(env),
    minCohort: e.HUB_MIN_COHORT,
    insightGranularity: e.HUB_INSIGHT_GRANULARITY,
    insightStabilityHours: e.HUB_INSIGHT_STABILITY_HOURS,
  };
}

/** Validates overrides (tests, embedding) with the same bounds as the environment. */
export function resolveSettings(overrides: Partial<MemberSettings> = {}, env: NodeJS.ProcessEnv = process.env): MemberSettings {
  const s = { ...loadMemberSettings(env), ...overrides };
  if (!Number.isInteger(s.minCohort) || s.minCohort < 2 || s.minCohort > 100_000) throw new Error("minCohort must be an integer in 2..100000");
  if (s.lifecycleDormantDays >= s.lifecycleChurnedDays) throw new Error("lifecycleDormantDays must be below lifecycleChurnedDays");
  return s;
}
