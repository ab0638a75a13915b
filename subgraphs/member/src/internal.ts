import { eventsRoute } from "../../../lib/events/inbox.ts";
import type { InternalRoute } from "../../../lib/subgraph-server.ts";
import { prisma } from "./db.ts";
import { eventConsumer } from "./events.ts";
import { memberIdByPartnerRef } from "./services/members.ts";
import { activate, activeGrant, type AppGrant, createGrant, introspectRefreshToken, issueRefreshToken, revocationFeed, revokeByRefreshToken, revokeGrant, rotateRefreshToken, signIn } from "./services/sign-in.ts";

/**
 * `POST /internal/members/by-partner-ref` for the gateway's token exchange (RFC 8693):
 * `{ partnerId, externalRef }` → 200 `{ memberId }` or 404 `{ error: "not_found" }`.
 * The gateway asks here instead of reading member tables (ownership stays with this subgraph).
 */
export const byPartnerRefRoute: InternalRoute = async (body) => {
  const { partnerId, externalRef } = (body ?? {}) as { partnerId?: unknown; externalRef?: unknown };
  if (typeof partnerId !== "string" || typeof externalRef !== "string" || !externalRef || externalRef.length > 128) {
    return { status: 400, body: { error: "invalid_request" } };
  }
  const memberId = await memberIdByPartnerRef(partnerId, externalRef);
  return memberId ? { status: 200, body: { memberId } } : { status: 404, body: { error: "not_found" } };
};

const grantBody = (g: AppGrant) => ({ grantId: g.id, memberId: g.memberId, kind: g.kind, clientId: g.clientId, partnerId: g.partnerId, scopes: g.scopes, redeemDailyLimit: g.redeemDailyLimit });
const str = (v: unknown, max = 256) => (typeof v === "string" && v.length <= max ? v : "");

/**
 * The gateway's authorization server asks here (service identity only): members' sign-in and
 * activation, their grants and refresh tokens, and the revocation feed it polls.
 */
export const authRoutes: Record<string, InternalRoute> = {
  "auth/sign-in": async (body) => {
    const b = (body ?? {}) as Record<string, unknown>;
    const r = await signIn(b.login, b.password);
    return r.ok ? { status: 200, body: r.value } : { status: 401, body: { error: r.error, retryAfterMs: r.retryAfterMs ?? null } };
  },
  "auth/activate": async (body) => {
    const b = (body ?? {}) as Record<string, unknown>;
    const r = await activate(b.login, b.code, b.password);
    return r.ok ? { status: 200, body: r.value } : { status: 400, body: { error: r.error, message: r.message ?? null } };
  },
  "auth/grants/create": async (body) => {
    const b = (body ?? {}) as Record<string, unknown>;
    const scopes = Array.isArray(b.scopes) ? b.scopes.filter((s): s is string => typeof s === "string") : [];
    const g = await createGrant({
      memberId: str(b.memberId),
      kind: b.kind === "APP" ? "APP" : "SESSION",
      clientId: str(b.clientId),
      partnerId: typeof b.partnerId === "string" ? b.partnerId : null,
      appName: str(b.appName, 200) || "app",
      scopes,
      redeemDailyLimit: Number.isSafeInteger(b.redeemDailyLimit) ? (b.redeemDailyLimit as number) : null,
    });
    return { status: 200, body: grantBody(g) };
  },
  "auth/grants/active": async (body) => {
    const g = await activeGrant(str((body as Record<string, unknown>)?.grantId));
    return g ? { status: 200, body: grantBody(g) } : { status: 404, body: { error: "not_found" } };
  },
  "auth/grants/revoke": async (body) => {
    const b = (body ?? {}) as Record<string, unknown>;
    return { status: 200, body: { revoked: await revokeGrant(str(b.grantId), str(b.reason, 32) || "SIGN_OUT") } };
  },
  "auth/refresh/issue": async (body) => ({ status: 200, body: { refreshToken: await issueRefreshToken(str((body as Record<string, unknown>)?.grantId)) } }),
  "auth/refresh/rotate": async (body) => {
    const b = (body ?? {}) as Record<string, unknown>;
    const r = await rotateRefreshToken(b.refreshToken, str(b.clientId));
    return r.ok ? { status: 200, body: { ...grantBody(r.grant), refreshToken: r.refreshToken } } : { status: 400, body: { error: "invalid_grant", message: r.reason } };
  },
  "auth/refresh/revoke": async (body) => {
    const b = (body ?? {}) as Record<string, unknown>;
    await revokeByRefreshToken(b.refreshToken, str(b.clientId));
    return { status: 200, body: {} };
  },
  "auth/refresh/introspect": async (body) => {
    const g = await introspectRefreshToken((body as Record<string, unknown>)?.refreshToken);
    return g ? { status: 200, body: { ...grantBody(g), expiresAt: g.expiresAt.toISOString() } } : { status: 404, body: { error: "not_found" } };
  },
  "auth/revocations": async () => ({ status: 200, body: await revocationFeed() }),
};

export function internalRoutes(): Record<string, InternalRoute> {
  return {
    events: eventsRoute(prisma, eventConsumer),
    "members/by-partner-ref": byPartnerRefRoute,
    ...authRoutes,
  };
}
