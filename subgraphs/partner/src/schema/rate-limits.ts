import type { RateLimitStatus } from "../../../../lib/rate-limit-header.ts";
import { builder } from "../builder.ts";
import { prisma } from "../db.ts";
import { type Quota, quotaOf, setApiClientLimits, setPartnerLimits } from "../services/rate-limits.ts";
import { ApiClientRef, loadPartner, PartnerRef } from "./partner.ts";

/**
 * Rate limits (issue 18 §4): admins set them per partner and per API client; the gateway enforces
 * them before planning (429 + Retry-After + RATE_LIMITED); a partner reads its own as
 * `Partner.rateLimits` / `ApiClient.rateLimits` (the settings) and `viewer.limits` (the live counters).
 */
const RateLimitsRef = builder.objectRef<Quota>("RateLimits").implement({
  description: "The rate limits in force for a partner (all its API clients and apps together) or for one API client, per 60-second window.",
  fields: (t) => ({
    requestsPerMinute: t.exposeInt("requestsPerMinute", { description: "Requests accepted per 60-second window; more get HTTP 429 with RATE_LIMITED." }),
    costPerMinute: t.exposeInt("costPerMinute", {
      description: "Estimated cost (the sum of the operations' estimates, as in QUERY_TOO_COSTLY) accepted per 60-second window; an operation that would pass it gets HTTP 429 with RATE_LIMITED.",
    }),
    requestsPerMinuteIsDefault: t.exposeBoolean("requestsDefault", { description: "True when requestsPerMinute is the hub's default (no admin set it)." }),
    costPerMinuteIsDefault: t.exposeBoolean("costDefault", { description: "True when costPerMinute is the hub's default (no admin set it)." }),
  }),
});

const RateLimitsInput = builder.inputType("RateLimitsInput", {
  description: "New rate limits. An absent field keeps its current value; null returns it to the hub's default. Nothing is written when a value is invalid (BAD_USER_INPUT names the field).",
  fields: (t) => ({
    requestsPerMinute: t.int({ required: false, description: "Requests per 60-second window, 1–10,000,000." }),
    costPerMinute: t.int({ required: false, description: "Estimated cost per 60-second window, 1–2,147,483,647." }),
  }),
});

builder.objectField(PartnerRef, "rateLimits", (t) =>
  t.field({
    type: RateLimitsRef,
    nullable: true,
    description: "The partner's rate limits (all its API clients and apps together). Admins and the partner itself; null for others.",
    resolve: (p, _a, ctx) => quotaOf(ctx.principal, "PARTNER", p.id, p.id),
  }),
);

builder.objectField(ApiClientRef, "rateLimits", (t) =>
  t.field({
    type: RateLimitsRef,
    nullable: true,
    description: "This client's own rate limits (a partner's client or app; the partner's limits apply as well). Null for admin clients and for callers other than admins and the client's partner.",
    resolve: (c, _a, ctx) => (c.partnerId ? quotaOf(ctx.principal, "CLIENT", c.clientId, c.partnerId) : null),
  }),
);

const RateLimitScopeEnum = builder.enumType("RateLimitScope", {
  description: "Whose counter a rate-limit status is.",
  values: {
    PARTNER: { description: "The partner's: every API client and app of the partner together." },
    API_CLIENT: { description: "This token's API client (or partner app) alone." },
  } as const,
});
const RateLimitKindEnum = builder.enumType("RateLimitKind", {
  description: "What a rate-limit counter counts.",
  values: {
    REQUESTS: { description: "GraphQL requests." },
    COST: { description: "Estimated cost of the operations (the estimate QUERY_TOO_COSTLY uses)." },
  } as const,
});

export const RateLimitStatusRef = builder.objectRef<RateLimitStatus>("RateLimitStatus").implement({
  description: "One of the caller's rate-limit counters, as the gateway counted it for this very request (this request included).",
  fields: (t) => ({
    scope: t.field({ type: RateLimitScopeEnum, description: "Whose counter: the partner's or the API client's.", resolve: (s) => s.scope }),
    kind: t.field({ type: RateLimitKindEnum, description: "What it counts: requests or estimated cost.", resolve: (s) => s.kind }),
    limit: t.exposeInt("limit", { description: "Requests (or cost) allowed per window." }),
    remaining: t.exposeInt("remaining", { description: "Requests (or cost) left in the current window after this request." }),
    resetAt: t.field({ type: "DateTime", description: "When the current window ends and the counter starts again (UTC).", resolve: (s) => new Date(s.resetAt) }),
    windowSeconds: t.exposeInt("windowSeconds", { description: "Length of a window, in seconds (60)." }),
  }),
});

builder.mutationFields((t) => ({
  setPartnerLimits: t.field({
    type: PartnerRef,
    authScopes: { admin: true },
    description: "ADMIN sets a partner's rate limits (all its API clients and apps together). The gateway applies them within seconds (HUB_RATE_LIMITS_POLL_MS, default 2 s).",
    args: {
      partnerId: t.arg.id({ description: "The partner." }),
      input: t.arg({ type: RateLimitsInput, description: "The limits to set; null returns one to the default." }),
    },
    resolve: async (_r, { partnerId, input }, ctx) => {
      await setPartnerLimits(ctx.principal, String(partnerId), input);
      return loadPartner(ctx, String(partnerId));
    },
  }),
  setApiClientLimits: t.field({
    type: ApiClientRef,
    authScopes: { admin: true },
    description: "ADMIN sets one partner API client's (or partner app's) own rate limits; the partner's limits apply as well. Applied by the gateway within seconds.",
    args: {
      clientId: t.arg.string({ description: "The client's client_id." }),
      input: t.arg({ type: RateLimitsInput, description: "The limits to set; null returns one to the default." }),
    },
    resolve: async (_r, { clientId, input }, ctx) => {
      await setApiClientLimits(ctx.principal, clientId, input);
      return prisma().apiClient.findUniqueOrThrow({ where: { clientId } });
    },
  }),
}));
