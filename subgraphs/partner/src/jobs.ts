import { log } from "../../../lib/logger.ts";
import { endExpiredOffers } from "./services/offers/lifecycle.ts";

/**
 * Ends offers whose window is over (→ partner.offer_ended, so points returns the unused budget).
 * Safe in several processes at once: each offer is locked and re-checked before it is ended.
 * Call after usePrisma (startPartnerSubgraph does that).
 */
export function startOfferSweeper(opts: { intervalMs?: number } = {}): { stop(): Promise<void> } {
  const interval = opts.intervalMs ?? 60_000;
  let running: Promise<unknown> | null = null;
  let stopped = false;
  const timer = setInterval(() => {
    if (running || stopped) return;
    running = endExpiredOffers()
      .then((ids) => ids.length && log.info("offers ended at the end of their window", { count: ids.length }))
      .catch((err) => log.warn("offer sweeper pass failed", { err }))
      .finally(() => {
        running = null;
      });
  }, interval);
  timer.unref?.();
  return {
    async stop() {
      stopped = true;
      clearInterval(timer);
      if (running) await running;
    },
  };
}
