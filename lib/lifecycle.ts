import { Decimal } from "decimal.js";
import { loadEnv } from "./config.ts";
import { type Lifecycle, type Tier, tierRank } from "./vocabulary.ts";

/**
 * The lifecycle segment rule, shared on purpose (the one exception to "no domain rules in lib/"):
 * the member subgraph owns segments (`Member.lifecycle`, `Member.segment`), and the partner and
 * points subgraphs must reach the same answer when they enforce an offer's `segments` at claim and
 * at bonus time, without calling the member subgraph. A segment is a pure function of three facts
 * and the thresholds, so each of them evaluates this function on its own copy of the facts:
 * - `joinedAt`: from `member.enrolled`;
 * - `lastActivityAt`: the latest activity of a kind in ACTIVITY_KINDS (`points.activity` events;
 *   the points subgraph reads its own ledger);
 * - the thresholds: the HUB_LIFECYCLE_* environment variables, read by every subgraph alike.
 */

/** Points transaction kinds a member does on purpose: they (and only they) move the last activity time. */
export const ACTIVITY_KINDS: ReadonlySet<string> = new Set(["EARN", "REDEEM"]);

export interface LifecycleSettings {
  /** A member who joined less than this many days ago is NEW. */
  lifecycleNewDays: number;
  /** A member with no activity at all this many days after joining is DORMANT. */
  lifecycleDormantAfterJoinDays: number;
  /** A member whose last activity is this many days old is DORMANT. */
  lifecycleDormantDays: number;
  /** A member whose last activity (or joining, if none) is this many days old is CHURNED. */
  lifecycleChurnedDays: number;
}

const DAY_MS = 86_400_000;

/** Thresholds from the configuration (lib/config.ts; defaults: DESIGN.md §9). Throws ConfigError naming every bad variable. */
export function loadLifecycleSettings(env: NodeJS.ProcessEnv = process.env): LifecycleSettings {
  const e = loadEnv(env);
  return {
    lifecycleNewDays: e.HUB_LIFECYCLE_NEW_DAYS,
    lifecycleDormantAfterJoinDays: e.HUB_LIFECYCLE_DORMANT_AFTER_JOIN_DAYS,
    lifecycleDormantDays: e.HUB_LIFECYCLE_DORMANT_DAYS,
    lifecycleChurnedDays: e.HUB_LIFECYCLE_CHURNED_DAYS,
  };
}

/**
 * NEW: joined less than `lifecycleNewDays` ago. CHURNED: nothing for `lifecycleChurnedDays` since
 * the last activity (or since joining, without any). DORMANT: no activity at all
 * `lifecycleDormantAfterJoinDays` after joining, or none for `lifecycleDormantDays`. ACTIVE otherwise.
 */
export function lifecycleOf(m: { joinedAt: Date; lastActivityAt: Date | null }, now: Date, s: LifecycleSettings): Lifecycle {
  const sinceJoin = (now.getTime() - m.joinedAt.getTime()) / DAY_MS;
  if (sinceJoin < s.lifecycleNewDays) return "NEW";
  const last = m.lastActivityAt ?? m.joinedAt;
  const quiet = (now.getTime() - last.getTime()) / DAY_MS;
  if (quiet >= s.lifecycleChurnedDays) return "CHURNED";
  if (!m.lastActivityAt && sinceJoin >= s.lifecycleDormantAfterJoinDays) return "DORMANT";
  if (quiet >= s.lifecycleDormantDays) return "DORMANT";
  return "ACTIVE";
}

/**
 * Offer eligibility by minimum tier and lifecycle segment (DESIGN.md §6): tier ≥ minTier (if set),
 * and the segment among `segments` (if any; an unknown segment never matches, nor does an unknown
 * tier a minTier). Returns why not, or null.
 */
export function offerIneligibility(offer: { minTier: Tier | null; segments: readonly string[] }, member: { tier: Tier | null; segment: Lifecycle | null }): string | null {
  if (offer.minTier && (!member.tier || tierRank(member.tier) < tierRank(offer.minTier))) {
    return member.tier ? `This offer needs tier ${offer.minTier} or above (the member is ${member.tier})` : `This offer needs tier ${offer.minTier} or above and the member's tier is not known here`;
  }
  if (offer.segments.length && (!member.segment || !offer.segments.includes(member.segment))) {
    return member.segment
      ? `This offer is for ${offer.segments.join(" or ")} members (the member is ${member.segment})`
      : "This offer is for some lifecycle segments and the member's segment is not known here yet; try again shortly";
  }
  return null;
}

/** A copy of one consent receipt, as the partner and points subgraphs keep it (from member.consent_granted / _revoked). */
export interface ConsentCopy {
  partnerId: string;
  /** ACCOUNT_SERVICING | OFFER_TARGETING | ANALYTICS */
  purpose: string;
  /** null: does not expire. */
  expiresAt: Date | null;
  /** false once revoked. */
  active: boolean;
}

/**
 * Offer eligibility by consent (DESIGN.md §6 "consent needed", `Offer.requiredPurpose`): the member
 * must hold a consent receipt for that purpose with at least one of the offer's co-issuers that is
 * not revoked and not expired at `at` (the member subgraph's `consentStatus` rule: expired when
 * expiresAt ≤ at). Categories do not matter here. Returns why not, or null.
 */
export function consentIneligibility(offer: { requiredPurpose: string | null; coIssuerIds: readonly string[] }, consents: readonly ConsentCopy[], at: Date): string | null {
  const purpose = offer.requiredPurpose;
  if (!purpose) return null;
  const ok = consents.some((c) => c.active && c.purpose === purpose && offer.coIssuerIds.includes(c.partnerId) && (!c.expiresAt || c.expiresAt.getTime() > at.getTime()));
  return ok ? null : `This offer needs the member's active ${purpose} consent for one of its co-issuers`;
}

/**
 * The practitioners' monthly engagement thresholds (issue 16), set per program version in the points
 * subgraph's program (`lifecycle`): ACTIVE by spend when the member's spend in a calendar month
 * exceeds `activeMonthlySpend` (money in the coalition currency, exact), high-frequency at more than
 * `highFrequencyPurchasesPerMonth` purchases in a calendar month. They qualify a member beside its
 * segment (NEW / ACTIVE / DORMANT / CHURNED stay as above): only the points subgraph holds spend and
 * purchases, so only it evaluates them (`Member.engagement`). The program's third figure, dormant
 * without activity within N days of joining, is the segment rule's `lifecycleDormantAfterJoinDays`
 * (HUB_LIFECYCLE_DORMANT_AFTER_JOIN_DAYS, the classic 30 days by default): the three subgraphs
 * evaluate segments on their own and must agree, so it stays one setting of the deployment.
 */
export interface EngagementThresholds {
  /** Spend in a calendar month above which the member is active by spend (a decimal string in the coalition currency). */
  activeMonthlySpend: string;
  /** Purchases in a calendar month above which the member is high-frequency. */
  highFrequencyPurchasesPerMonth: number;
}

/** A member's purchases in one calendar month (coalition time zone): money spent (exact decimal string) and how many. */
export interface MonthActivity {
  spend: string;
  purchases: number;
}

export function engagementOf(m: MonthActivity, t: EngagementThresholds): { activeBySpend: boolean; highFrequency: boolean } {
  return { activeBySpend: new Decimal(m.spend).gt(t.activeMonthlySpend), highFrequency: m.purchases > t.highFrequencyPurchasesPerMonth };
}
