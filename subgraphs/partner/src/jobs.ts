import { log } from "../../../lib/logger.ts";
import { endExpiredOffers } from "./services/offers/lifecycle.ts";
import { prisma } from "./db.ts";
import { type DispatcherSettings, startWebhookDispatcher, type WebhookDispatcher } from "./webhooks/dispatcher.ts";
import type { UrlPolicy } from "./webhooks/url-guard.ts";

/**
 * The webhook dispatcher (webhooks/dispatcher.ts): sends the deliveries the event consumer
 * enqueued, and announces expired consents. Several processes may run it. `client`: the Prisma
 * client it polls with (default the subgraph's).
 */
export function startWebhooks(opts: { client?: () => import("../../../lib/db.ts").PrismaClient; settings?: Partial<DispatcherSettings>; policy?: UrlPolicy } = {}): WebhookDispatcher {
  return startWebhookDispatcher({ prisma: opts.client ?? prisma, settings: opts.settings, policy: opts.policy });
}

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
