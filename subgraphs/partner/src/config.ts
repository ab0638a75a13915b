import { type LifecycleSettings, loadLifecycleSettings } from "../../../lib/lifecycle.ts";

/**
 * Settings of the partner subgraph, from the environment: the HUB_LIFECYCLE_* thresholds (read by
 * every subgraph alike, lib/lifecycle.ts), with which it computes a member's segment for offer
 * eligibility exactly as the member subgraph does.
 */
export type PartnerSettings = LifecycleSettings;

let settings: PartnerSettings | undefined;
/** Read once per process (the environment does not change while it runs). */
export const partnerSettings = (): PartnerSettings => (settings ??= loadLifecycleSettings());
