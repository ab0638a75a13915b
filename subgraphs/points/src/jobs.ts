import { log } from "../../../lib/logger.ts";
import { prisma } from "./db.ts";
import { expirePoints } from "./ledger/expiry.ts";
import { expireHolds } from "./redemption/redeem.ts";
import { reviewRetention } from "./perks/retention.ts";
import { reevaluateTiers } from "./tiers/tiers.ts";
import { now as clockNow } from "../../../lib/clock.ts";

/**
 * The points subgraph's jobs. Each is idempotent and safe to run concurrently with itself and with
 * the API (guarded updates, wallet row locks), on PostgreSQL and on the embedded PGlite.
 */

/** Voids (status EXPIRED) every pending hold past its TTL and releases its points. */
export async function runHoldExpiry(now: Date = new Date()): Promise<number> {
  let total = 0;
  for (;;) {
    const n = await expireHolds(now);
    total += n;
    if (n < 1000) return total;
  }
}

/** Posts EXPIRY transactions to breakage for lots past their expiry. */
export function runPointsExpiry(now: Date = new Date()) {
  return expirePoints(now);
}

/**
 * The tier review: the program's retention and downgrade rules (perks/retention.ts) under the
 * version in force at `now` — inactivity (classic: 6 months without a purchase → the base tier),
 * lapsed qualification unless a retention rule keeps the tier (classic: purchases in each of 3
 * consecutive months keep silver). Idempotent and resumable (pages of members in id order).
 */
export function runTierReview(now: Date = clockNow()): Promise<number> {
  return reviewRetention(prisma(), now);
}

/**
 * Re-evaluates every member's tier once per program version, when the version comes into force
 * (setProgram now, scheduleProgram at its effectiveFrom): idempotent and resumable (a member-id
 * cursor in points.TierEvaluation). Emits points.tier_changed for each API tier change.
 */
export function runTierReevaluation(now: Date = clockNow()): Promise<number> {
  return reevaluateTiers(prisma(), now);
}

export interface PointsJobs {
  stop(): Promise<void>;
}

/**
 * Runs the jobs on a timer (default every 60 s: hold expiry and tier re-evaluation after a program
 * change, which does nothing once a version is done; points expiry and tier review at most hourly).
 * `stop()` waits for a pass in progress.
 */
export function startPointsJobs(opts: { intervalMs?: number; slowIntervalMs?: number } = {}): PointsJobs {
  const interval = opts.intervalMs ?? 60_000;
  const slow = opts.slowIntervalMs ?? 3_600_000;
  let stopped = false;
  let lastSlow = 0;
  let running: Promise<void> | null = null;
  let timer: NodeJS.Timeout | undefined;
  const pass = async () => {
    const now = clockNow();
    try {
      await runHoldExpiry(now);
      await runTierReevaluation(now);
      if (Date.now() - lastSlow >= slow) {
        lastSlow = Date.now();
        await runPointsExpiry(now);
        await runTierReview(now);
      }
    } catch (e) {
      if (!stopped) log.warn("points jobs pass failed", { err: e });
    }
  };
  const schedule = () => {
    if (stopped) return;
    timer = setTimeout(() => {
      running = pass().finally(() => {
        running = null;
        schedule();
      });
    }, interval);
    timer.unref?.();
  };
  schedule();
  return {
    async stop() {
      stopped = true;
      clearTimeout(timer);
      if (running) await running;
    },
  };
}
