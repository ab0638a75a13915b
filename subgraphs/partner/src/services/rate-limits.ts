import { z } from "zod";
import { recordAudit } from "../../../../lib/audit.ts";
import { loadEnv } from "../../../../lib/config.ts";
import { forbidden, notFound } from "../../../../lib/errors.ts";
import { isUuid, parseInput } from "../../../../lib/input.ts";
import type { RateLimitQuota } from "../../../../prisma/generated/client/client.ts";
import { plumbingPrisma, prisma } from "../db.ts";
import { type Actor, isAdmin, isPartnerSelf, TX_OPTIONS } from "./domain.ts";

/**
 * Rate limits per partner and per API client (issue 18 §4). This subgraph owns the admins' settings
 * (`partner.RateLimitQuota`); the gateway enforces them (gateway/src/rate-limits.ts), learning them
 * by polling `/internal/limits` as it learns revocations. A limit left unset is the default from
 * lib/config.ts (HUB_RATE_*), which the gateway reads from its own configuration.
 */
export type QuotaScope = "PARTNER" | "CLIENT";

export interface Quota {
  requestsPerMinute: number;
  costPerMinute: number;
  /** Which of the two are the defaults (not set by an admin). */
  requestsDefault: boolean;
  costDefault: boolean;
}

/** Upper bounds: a minute of 10 M requests or 2^31 − 1 cost is "unlimited" for any one partner here. */
export const MAX_REQUESTS_PER_MINUTE = 10_000_000;
export const MAX_COST_PER_MINUTE = 2_147_483_647;

const LimitsInput = z.object({
  requestsPerMinute: z
    .number()
    .int("requestsPerMinute is a whole number")
    .min(1, "requestsPerMinute is at least 1")
    .max(MAX_REQUESTS_PER_MINUTE, `requestsPerMinute is at most ${MAX_REQUESTS_PER_MINUTE}`)
    .nullable()
    .optional(),
  costPerMinute: z.number().int("costPerMinute is a whole number").min(1, "costPerMinute is at least 1").max(MAX_COST_PER_MINUTE, `costPerMinute is at most ${MAX_COST_PER_MINUTE}`).nullable().optional(),
});
export type LimitsInput = z.input<typeof LimitsInput>;

export function defaultQuota(scope: QuotaScope, env = loadEnv()): { requestsPerMinute: number; costPerMinute: number } {
  return scope === "PARTNER"
    ? { requestsPerMinute: env.HUB_RATE_PARTNER_REQUESTS_PER_MINUTE, costPerMinute: env.HUB_RATE_PARTNER_COST_PER_MINUTE }
    : { requestsPerMinute: env.HUB_RATE_CLIENT_REQUESTS_PER_MINUTE, costPerMinute: env.HUB_RATE_CLIENT_COST_PER_MINUTE };
}

export function effectiveQuota(scope: QuotaScope, row: Pick<RateLimitQuota, "requestsPerMinute" | "costPerMinute"> | null | undefined): Quota {
  const d = defaultQuota(scope);
  return {
    requestsPerMinute: row?.requestsPerMinute ?? d.requestsPerMinute,
    costPerMinute: row?.costPerMinute ?? d.costPerMinute,
    requestsDefault: row?.requestsPerMinute == null,
    costDefault: row?.costPerMinute == null,
  };
}

/**
 * Upserts the quota row and records the change in the audit trail, in one transaction: before and
 * after are the limits in force (an unset limit shows its default), so the trail reads as the
 * partner experiences it.
 */
async function write(actor: Actor, scope: QuotaScope, subject: string, raw: unknown, audit: { partnerId: string }): Promise<RateLimitQuota> {
  const input = parseInput(LimitsInput, raw ?? {}, "input");
  // Absent = keep; null = back to the default.
  const data = {
    ...(input.requestsPerMinute !== undefined ? { requestsPerMinute: input.requestsPerMinute } : {}),
    ...(input.costPerMinute !== undefined ? { costPerMinute: input.costPerMinute } : {}),
    updatedAt: new Date(),
    updatedBy: actor.sub,
  };
  return prisma().$transaction(async (tx) => {
    const before = await tx.rateLimitQuota.findUnique({ where: { scope_subject: { scope, subject } } });
    const after = await tx.rateLimitQuota.upsert({
      where: { scope_subject: { scope, subject } },
      create: { scope, subject, requestsPerMinute: input.requestsPerMinute ?? null, costPerMinute: input.costPerMinute ?? null, updatedBy: actor.sub },
      update: data,
    });
    await recordAudit(tx, actor, {
      action: scope === "PARTNER" ? "partner.limits_changed" : "api_client.limits_changed",
      targetType: scope === "PARTNER" ? "Partner" : "ApiClient",
      targetId: subject,
      partnerId: audit.partnerId,
      before: effectiveQuota(scope, before),
      after: effectiveQuota(scope, after),
    });
    return after;
  }, TX_OPTIONS);
}

/** ADMIN sets a partner's limits (all its API clients and apps together). Takes effect at the gateway within HUB_RATE_LIMITS_POLL_MS. */
export async function setPartnerLimits(actor: Actor, partnerId: string, raw: unknown): Promise<Quota> {
  if (!isAdmin(actor)) throw forbidden("Only an admin sets a partner's rate limits");
  if (!isUuid(partnerId) || !(await prisma().partner.findUnique({ where: { id: partnerId }, select: { id: true } }))) throw notFound("Partner", partnerId);
  return effectiveQuota("PARTNER", await write(actor, "PARTNER", partnerId, raw, { partnerId }));
}

/** ADMIN sets one partner API client's (or app's) limits. */
export async function setApiClientLimits(actor: Actor, clientId: string, raw: unknown): Promise<Quota> {
  if (!isAdmin(actor)) throw forbidden("Only an admin sets an API client's rate limits");
  const client = clientId.length <= 64 ? await prisma().apiClient.findUnique({ where: { clientId }, select: { partnerId: true } }) : null;
  if (!client) throw notFound("ApiClient", clientId);
  if (!client.partnerId) throw forbidden("Rate limits apply to partners' clients and apps; admin clients and the hub's own apps are not limited");
  return effectiveQuota("CLIENT", await write(actor, "CLIENT", clientId, raw, { partnerId: client.partnerId }));
}

/** The limits in force for a partner or client: who may see them is the caller's business (admins, the partner itself). */
export async function quotaOf(actor: Actor, scope: QuotaScope, subject: string, partnerId: string | null): Promise<Quota | null> {
  if (!(isAdmin(actor) || (partnerId && isPartnerSelf(actor, partnerId)))) return null;
  const row = await prisma().rateLimitQuota.findUnique({ where: { scope_subject: { scope, subject } } });
  return effectiveQuota(scope, row);
}

/**
 * What the gateway polls (`POST /internal/limits`): the admins' overrides only (absent = default;
 * the gateway knows the defaults from its configuration). Small: one row per limited partner/client.
 */
export async function quotaFeed(): Promise<{
  partners: Record<string, { requestsPerMinute: number | null; costPerMinute: number | null }>;
  clients: Record<string, { requestsPerMinute: number | null; costPerMinute: number | null }>;
}> {
  const rows = await plumbingPrisma().rateLimitQuota.findMany({ where: { OR: [{ requestsPerMinute: { not: null } }, { costPerMinute: { not: null } }] } });
  const partners: Record<string, { requestsPerMinute: number | null; costPerMinute: number | null }> = {};
  const clients: typeof partners = {};
  for (const r of rows) (r.scope === "PARTNER" ? partners : clients)[r.subject] = { requestsPerMinute: r.requestsPerMinute, costPerMinute: r.costPerMinute };
  return { partners, clients };
}
