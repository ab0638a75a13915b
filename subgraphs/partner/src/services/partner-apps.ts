import { z } from "zod";
import { recordAudit } from "../../../../lib/audit.ts";
import { notFound } from "../../../../lib/errors.ts";
import { hashPassword, verifyPassword } from "../../../../lib/password.ts";
import type { OAuthApp } from "../../../../lib/oauth-app.ts";
import { MEMBER_SCOPES } from "../../../../lib/principal.ts";
import { plumbingPrisma, prisma } from "../db.ts";
import { type ApiClientSecret, clientAuditView, newSecret } from "./api-clients.ts";
import { isUuid, parseInput } from "../../../../lib/input.ts";
import { type Actor, isAdmin, isPartnerSelf } from "./domain.ts";

/**
 * Partner apps (issue 13): API clients that send members to the hub's authorization endpoint
 * (authorization code + PKCE) and act for a member only with the scopes the member approved.
 * Redirect URIs are compared exactly; an app may ask only for its allowed scopes.
 */

const APP_SCOPES = Object.keys(MEMBER_SCOPES).filter((s) => s !== "member") as [string, ...string[]];

const RedirectUri = z
  .string()
  .max(500, "a redirect URI is at most 500 characters")
  .refine((s) => {
    try {
      const u = new URL(s);
      if (u.hash) return false;
      return u.protocol === "https:" || (u.protocol === "http:" && (u.hostname === "localhost" || u.hostname === "127.0.0.1"));
    } catch {
      return false;
    }
  }, "a redirect URI is an absolute https URL (http only for localhost) without a fragment");

export const AppInput = z.object({
  partnerId: z.string().refine(isUuid, "partnerId is not a partner id"),
  appName: z.string().trim().min(1, "appName must not be empty").max(100, "appName is at most 100 characters"),
  redirectUris: z.array(RedirectUri).min(1, "at least one redirect URI").max(10, "at most 10 redirect URIs"),
  scopes: z.array(z.enum(APP_SCOPES)).min(1, "at least one scope").max(APP_SCOPES.length),
});

/** ADMIN, or the partner itself, registers an app; the (confidential) client secret is shown once. */
export async function registerPartnerApp(actor: Actor, raw: unknown): Promise<ApiClientSecret> {
  const input = parseInput(AppInput, raw);
  if (!(isAdmin(actor) || isPartnerSelf(actor, input.partnerId))) throw notFound("Partner", input.partnerId);
  const partner = await prisma().partner.findUnique({ where: { id: input.partnerId }, select: { slug: true } });
  if (!partner) throw notFound("Partner", input.partnerId);
  const clientSecret = newSecret();
  const clientId = `${partner.slug}-app-${newSecret().slice(0, 10).replace(/[-_]/g, "x").toLowerCase()}`;
  const client = await prisma().$transaction(async (tx) => {
    const app = await tx.apiClient.create({
      data: {
        clientId,
        secretHash: await hashPassword(clientSecret),
        role: "PARTNER",
        partnerId: input.partnerId,
        name: input.appName,
        appName: input.appName,
        redirectUris: [...new Set(input.redirectUris)],
        allowedScopes: [...new Set(input.scopes)],
      },
    });
    await recordAudit(tx, actor, { action: "partner_app.created", targetType: "ApiClient", targetId: app.clientId, partnerId: app.partnerId, before: null, after: clientAuditView(app) });
    return app;
  });
  return { client, clientSecret };
}

/**
 * The authorization server's view of a client that sends people to /oauth/authorize: active (not
 * revoked, partner active) and with redirect URIs. With a secret, also checks it (confidential
 * apps at the token endpoint); a public client has no secret to check.
 */
export async function oauthApp(clientId: unknown, secret?: unknown): Promise<OAuthApp | null> {
  if (typeof clientId !== "string" || !clientId || clientId.length > 200) return null;
  const c = await prisma().apiClient.findUnique({ where: { clientId }, include: { partner: { select: { active: true } } } });
  if (!c || c.revokedAt || (c.partnerId && !c.partner?.active) || !c.redirectUris.length) return null;
  if (secret !== undefined) {
    if (c.publicClient) return null;
    if (typeof secret !== "string" || secret.length > 512 || !(await verifyPassword(secret, c.secretHash))) return null;
  }
  return {
    clientId: c.clientId,
    role: c.role,
    partnerId: c.partnerId,
    appName: c.appName ?? c.name ?? c.clientId,
    redirectUris: c.redirectUris,
    allowedScopes: c.allowedScopes,
    publicClient: c.publicClient,
    defaultPurpose: c.defaultPurpose,
  };
}

/** Revoked within the window (their tokens are still unexpired), and every inactive partner. */
export async function partnerRevocationFeed(now = new Date(), windowMs = 20 * 60_000): Promise<{ clients: string[]; partners: string[] }> {
  const [clients, partners] = await Promise.all([
    plumbingPrisma().apiClient.findMany({ where: { revokedAt: { gte: new Date(now.getTime() - windowMs) } }, select: { clientId: true } }),
    plumbingPrisma().partner.findMany({ where: { active: false }, select: { id: true } }),
  ]);
  return { clients: clients.map((c) => c.clientId), partners: partners.map((p) => p.id) };
}
