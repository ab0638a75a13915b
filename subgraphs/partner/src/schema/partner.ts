import { nodeIdOptions } from "../../../../lib/global-id.ts";
import { NodeRef } from "./node-ref.ts";
import type { Purpose } from "../../../../lib/vocabulary.ts";
import { notFound } from "../../../../lib/errors.ts";
import type { ApiClient, Partner, PartnerRate } from "../../../../prisma/generated/client/client.ts";
import { builder } from "../builder.ts";
import type { PartnerContext } from "../context.ts";
import { createApiClient, revokeApiClient } from "../services/api-clients.ts";
import { setAllowedOrigins } from "../services/cors-origins.ts";
import { listPartners, registerPartner, seesPrivate, setPartnerActive, setPartnerEarnRate, setPartnerRates } from "../services/partners.ts";
import { PurposeEnum, RoleEnum } from "./enums.ts";

export const PartnerRef = builder.objectRef<Partner>("Partner");

/** A partner by id through the batched loader; NOT_FOUND when there is none. */
export async function loadPartner(ctx: PartnerContext, id: string): Promise<Partner> {
  const p = await ctx.loaders.partnerById.load(id);
  if (!p) throw notFound("Partner", id);
  return p;
}

const PartnerRateRef = builder.objectRef<PartnerRate>("PartnerRate").implement({
  description: "One entry of a partner's rate history. Entries are appended, never changed: each applies from its effective time until the next.",
  fields: (t) => ({
    issuePrice: t.field({ type: "Decimal", description: "Money the partner pays the coalition per point it issues, in the coalition currency.", resolve: (r) => r.issuePrice }),
    redemptionRate: t.field({
      type: "Decimal",
      description: "Money the coalition pays the partner per point redeemed there, in the coalition currency.",
      resolve: (r) => r.redemptionRate,
    }),
    effectiveFrom: t.field({ type: "DateTime", description: "When these rates take effect (UTC).", resolve: (r) => r.effectiveFrom }),
    createdAt: t.field({ type: "DateTime", description: "When the entry was recorded (UTC).", resolve: (r) => r.createdAt }),
  }),
});

export const ApiClientRef = builder.objectRef<ApiClient>("ApiClient").implement({
  description: "An OAuth2 client-credentials client of the hub. Its secret is never shown again after creation (only a salted hash is stored).",
  fields: (t) => ({
    clientId: t.exposeString("clientId", { description: "The client_id for POST /oauth/token." }),
    role: t.field({ type: RoleEnum, description: "The role of the tokens this client obtains.", resolve: (c) => c.role }),
    partner: t.field({
      type: PartnerRef,
      nullable: true,
      description: "The partner the client acts for; null for an admin client.",
      resolve: (c, _a, ctx) => (c.partnerId ? loadPartner(ctx, c.partnerId) : null),
    }),
    defaultPurpose: t.field({
      type: PurposeEnum,
      description: "The purpose assumed when a request sends no Coalition-Purpose header.",
      resolve: (c) => c.defaultPurpose as Purpose,
    }),
    name: t.exposeString("name", { nullable: true, description: 'A label for people, e.g. "checkout service".' }),
    createdAt: t.field({ type: "DateTime", description: "When the client was created (UTC).", resolve: (c) => c.createdAt }),
    revokedAt: t.field({ type: "DateTime", nullable: true, description: "When it was revoked (UTC); null while it can get tokens.", resolve: (c) => c.revokedAt }),
    allowedOrigins: t.stringList({
      description:
        "Browser origins (scheme://host[:port]) whose pages may call the hub with this client's tokens (CORS). Empty: no browser page may (server-to-server calls are unaffected). Changes reach the gateway within 5 seconds.",
      resolve: (c) => c.allowedOrigins,
    }),
  }),
});

PartnerRef.implement({
  description: "A partner brand of the coalition. Everyone may read the directory fields; rates and API clients only the partner itself and admins.",
  interfaces: [NodeRef],
  fields: (t) => ({
    id: t.exposeID("id", { description: "The partner's id." }),
    nodeId: t.id(nodeIdOptions("Partner")),
    name: t.exposeString("name", { description: "Display name." }),
    slug: t.exposeString("slug", { description: "Stable short name (lower-case letters, digits, dashes), unique in the coalition." }),
    category: t.exposeString("category", { description: "Business category, upper case, e.g. ECOMMERCE, FMCG, HOTEL." }),
    active: t.exposeBoolean("active", { description: "False once an admin deactivated the partner: its API clients get no tokens." }),
    earnRate: t.field({
      type: "Decimal",
      description: "Points awarded per unit of purchase amount (coalition currency) before the tier multiplier.",
      resolve: (p) => p.earnRate,
    }),
    issuePrice: t.field({
      type: "Decimal",
      nullable: true,
      description: "Current money the partner pays the coalition per point it issues, in the coalition currency. Admins and the partner itself only; null for others.",
      resolve: async (p, _a, ctx) => (seesPrivate(ctx.principal, p.id) ? ((await ctx.loaders.currentRate.load(p.id))?.issuePrice ?? null) : null),
    }),
    redemptionRate: t.field({
      type: "Decimal",
      nullable: true,
      description: "Current money the coalition pays the partner per point redeemed there, in the coalition currency. Admins and the partner itself only; null for others.",
      resolve: async (p, _a, ctx) => (seesPrivate(ctx.principal, p.id) ? ((await ctx.loaders.currentRate.load(p.id))?.redemptionRate ?? null) : null),
    }),
    rateHistory: t.field({
      type: [PartnerRateRef],
      description: "Every rate entry, newest effective time first (future ones included). Admins and the partner itself; empty for others.",
      resolve: (p, _a, ctx) => (seesPrivate(ctx.principal, p.id) ? ctx.loaders.rateHistory.load(p.id) : []),
    }),
    apiClients: t.field({
      type: [ApiClientRef],
      description: "The partner's API clients, revoked ones included, newest first. Admins and the partner itself; empty for others. Never the secrets.",
      resolve: (p, _a, ctx) => (seesPrivate(ctx.principal, p.id) ? ctx.loaders.apiClients.load(p.id) : []),
    }),
    createdAt: t.field({ type: "DateTime", description: "When the partner was registered (UTC).", resolve: (p) => p.createdAt }),
  }),
});

builder.asEntity(PartnerRef, {
  key: builder.selection<{ id: string }>("id"),
  resolveReference: (ref, ctx) => ctx.loaders.partnerById.load(ref.id),
});

interface SecretShape {
  client: ApiClient;
  clientSecret: string;
}
export const ApiClientSecretRef = builder.objectRef<SecretShape>("ApiClientSecret").implement({
  description: "A new API client with its secret. The secret is shown only in this response: store it now.",
  fields: (t) => ({
    clientId: t.string({ description: "The client_id for POST /oauth/token.", resolve: (s) => s.client.clientId }),
    clientSecret: t.exposeString("clientSecret", { description: "The client_secret (43 characters, base64url of 32 random bytes). Never retrievable again." }),
    role: t.field({ type: RoleEnum, description: "The role of the tokens this client obtains.", resolve: (s) => s.client.role }),
    partner: t.field({
      type: PartnerRef,
      nullable: true,
      description: "The partner the client acts for; null for an admin client.",
      resolve: (s, _a, ctx) => (s.client.partnerId ? loadPartner(ctx, s.client.partnerId) : null),
    }),
    defaultPurpose: t.field({ type: PurposeEnum, description: "The purpose assumed when a request sends no Coalition-Purpose header.", resolve: (s) => s.client.defaultPurpose as Purpose }),
  }),
});

builder.queryFields((t) => ({
  partner: t.field({
    type: PartnerRef,
    nullable: true,
    description: "A partner by id (every role). Rates and API clients follow their own rules.",
    args: { id: t.arg.id({ description: "The partner's id." }) },
    resolve: (_r, { id }, ctx) => loadPartner(ctx, String(id)),
  }),
  partners: t.field({
    type: [PartnerRef],
    description: "All partners of the coalition, by name (at most 1,000).",
    resolve: async (_r, _a, ctx) => {
      const all = await listPartners();
      for (const p of all) ctx.loaders.partnerById.prime(p.id, p);
      return all;
    },
  }),
}));

const RegisterPartnerInput = builder.inputType("RegisterPartnerInput", {
  description: "A new partner and its initial rates. Nothing is written when a field is invalid (BAD_USER_INPUT names the field).",
  fields: (t) => ({
    name: t.string({ description: "Display name, 1–100 characters." }),
    category: t.string({ description: "Business category, 2–40 letters, digits or underscores (stored upper case), e.g. ECOMMERCE." }),
    issuePrice: t.field({ type: "Decimal", description: "Money per point the partner pays when it issues points, in the coalition currency, > 0, at most 6 decimals." }),
    redemptionRate: t.field({ type: "Decimal", description: "Money per point the coalition pays the partner when points are redeemed there, in the coalition currency, ≥ 0, at most 6 decimals." }),
    earnRate: t.field({ type: "Decimal", required: false, description: "Points per unit of purchase amount before the tier multiplier, > 0, at most 4 decimals; default 1." }),
    slug: t.string({ required: false, description: "Stable short name; default derived from the name. A taken slug is BAD_USER_INPUT." }),
  }),
});

builder.mutationFields((t) => ({
  registerPartner: t.field({
    type: PartnerRef,
    authScopes: { admin: true },
    description: "ADMIN registers a partner; its initial rates become the first entry of its rate history, effective now.",
    args: { input: t.arg({ type: RegisterPartnerInput, description: "The partner to register." }) },
    resolve: (_r, { input }, ctx) => registerPartner(ctx.principal, input, { now: ctx.now }),
  }),
  setPartnerRates: t.field({
    type: PartnerRef,
    authScopes: { admin: true },
    description: "ADMIN appends a rate change to the partner's history. Past entries are never rewritten; settlement uses the rates in force at each posting's time.",
    args: {
      partnerId: t.arg.id({ description: "The partner." }),
      issuePrice: t.arg({ type: "Decimal", description: "New issue price: money per point issued, in the coalition currency, > 0, at most 6 decimals." }),
      redemptionRate: t.arg({ type: "Decimal", description: "New redemption rate: money per point redeemed there, in the coalition currency, ≥ 0, at most 6 decimals." }),
      effectiveFrom: t.arg({ type: "DateTime", required: false, description: "When the new rates apply (UTC); now or later, default now." }),
    },
    resolve: (_r, args, ctx) => setPartnerRates(ctx.principal, args, { now: ctx.now }),
  }),
  setPartnerEarnRate: t.field({
    type: PartnerRef,
    authScopes: { admin: true },
    description:
      "ADMIN changes a partner's earn rate: points per unit of purchase amount (coalition currency) before the tier multiplier. Applies to purchase-based earns from the moment the points subgraph receives it (seconds); posted earns keep their points.",
    args: {
      partnerId: t.arg.id({ description: "The partner." }),
      earnRate: t.arg({ type: "Decimal", description: 'Points per unit of purchase amount, > 0, at most 4 decimals, e.g. "1.5".' }),
    },
    resolve: (_r, args, ctx) => setPartnerEarnRate(ctx.principal, args),
  }),
  setPartnerActive: t.field({
    type: PartnerRef,
    authScopes: { admin: true },
    description: "ADMIN deactivates (or reactivates) a partner. While inactive its API clients get no tokens.",
    args: {
      partnerId: t.arg.id({ description: "The partner." }),
      active: t.arg.boolean({ description: "True to activate, false to deactivate." }),
    },
    resolve: (_r, { partnerId, active }, ctx) => setPartnerActive(ctx.principal, String(partnerId), active),
  }),
  createApiClient: t.field({
    type: ApiClientSecretRef,
    authScopes: { admin: true },
    description: "ADMIN creates an API client (client-credentials grant). The secret is shown once, in this response.",
    args: {
      partnerId: t.arg.id({ required: false, description: "The partner it acts for: required for PARTNER, omitted for ADMIN." }),
      role: t.arg({ type: RoleEnum, description: "ADMIN or PARTNER (member tokens come from token exchange)." }),
      defaultPurpose: t.arg({ type: PurposeEnum, required: false, description: "The purpose assumed when a request declares none; default ACCOUNT_SERVICING." }),
      name: t.arg.string({ required: false, description: "A label for people, 1–100 characters." }),
    },
    resolve: (_r, args, ctx) => createApiClient(ctx.principal, args),
  }),
  setApiClientAllowedOrigins: t.field({
    type: ApiClientRef,
    authScopes: { business: true },
    description:
      "Replaces the browser origins allowed to call the hub with this client's tokens (CORS). ADMIN for any client; a partner for its own (else NOT_FOUND). Exact origins only (https, or http for localhost/127.0.0.1/[::1]); no wildcard, no path; at most 20; BAD_USER_INPUT otherwise, nothing stored. An empty list turns browser access off.",
    args: {
      clientId: t.arg.string({ description: "The client_id." }),
      origins: t.arg.stringList({ description: 'The complete new list, e.g. ["https://app.shop.example"]; replaces the old one.' }),
    },
    resolve: (_r, args, ctx) => setAllowedOrigins(ctx.principal, args),
  }),
  revokeApiClient: t.field({
    type: ApiClientRef,
    authScopes: { business: true },
    description: "Revokes an API client at once: it gets no new tokens. ADMIN for any client; a partner for its own. Revoking again changes nothing.",
    args: { clientId: t.arg.string({ description: "The client_id." }) },
    resolve: (_r, { clientId }, ctx) => revokeApiClient(ctx.principal, clientId),
  }),
}));
