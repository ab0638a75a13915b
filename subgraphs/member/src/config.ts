import { z } from "zod";
import { loadEnv } from "../../../lib/config.ts";
import { type LifecycleSettings, LifecycleEnv, loadLifecycleSettings } from "../../../lib/lifecycle.ts";

/**
 * Settings of the member subgraph. Lifecycle thresholds follow the seeds in DESIGN.md §9 (dormant
 * after 30 days without activity after joining; 90 days without activity for a member who was
 * active; churned after 180 days); the minimum cohort is the coalition-wide HUB_MIN_COHORT.
 */
export interface MemberSettings extends LifecycleSettings {
  /** Partner insights below this many members are suppressed (2–100,000). */
  minCohort: number;
  /** Published insight counts are rounded down to a multiple of this (1 = exact). */
  insightGranularity: number;
  /** Links and consents count in insights only once they are this many hours old (0 = at once). */
  insightStabilityHours: number;
}

// The HUB_LIFECYCLE_* thresholds are parsed by lib/lifecycle.ts (the partner and points subgraphs read them too).
const Env = LifecycleEnv.and(
  z.object({
    HUB_INSIGHT_GRANULARITY: z.coerce.number().int().min(1).max(1000).default(10),
    HUB_INSIGHT_STABILITY_HOURS: z.coerce.number().int().min(0).max(24 * 90).default(24),
  }),
);

export function loadMemberSettings(env: NodeJS.ProcessEnv = process.env): MemberSettings {
  const hub = loadEnv(env);
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    throw new Error(`Invalid member configuration: ${parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ")}`);
  }
  const e = parsed.data;
  return {
    ...loadLifecycleSettings(env),
    minCohort: hub.HUB_MIN_COHORT,
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
