import { defineConsumer, eventsRoute } from "../../../lib/events/inbox.ts";
import type { InternalRoute } from "../../../lib/subgraph-server.ts";
import { prisma } from "./db.ts";
import { authenticateClient } from "./services/api-clients.ts";
import { oauthApp, partnerRevocationFeed } from "./services/partner-apps.ts";
import { activatePerson, peopleRevocationFeed, revokePersonSession, signInPerson } from "./services/people.ts";
import { memberConsentHandlers } from "./services/member-consents.ts";
import { memberFactsHandlers } from "./services/member-facts.ts";

/** Domain events this subgraph consumes (lib/events/catalogue.ts routes them here), payloads parsed by the catalogue. */
export const eventConsumer = defineConsumer("partner", {
  // member.enrolled, points.activity, points.tier_changed: the member facts offer eligibility needs.
  ...memberFactsHandlers,
  // member.consent_granted, member.consent_revoked: the consent copy offers' requiredPurpose needs.
  ...memberConsentHandlers,
  // A bonus applied in the points subgraph counts as a use of the member's claim. `uses` is the
  // points subgraph's running count, so redelivery or reordering never counts twice.
  "points.offer_applied": async (tx, e) => {
    const p = e.payload;
    const at = p.at ? new Date(p.at) : new Date(e.createdAt);
    await tx.$executeRaw`
      UPDATE "partner"."OfferClaim" SET "usedCount" = GREATEST("usedCount", ${p.uses}::int), "lastUsedAt" = ${at}
      WHERE "offerId" = ${p.offerId}::uuid AND "memberId" = ${p.memberId}::uuid`;
  },
});

/**
 * `POST /internal/clients/authenticate` for the gateway's token service (client-credentials grant):
 * `{ clientId, clientSecret }` → 200 `{ clientId, role, partnerId, defaultPurpose, scope }` or
 * 401 `{ error: "invalid_client" }` (unknown, wrong secret, revoked, inactive partner: one answer).
 * The gateway asks here instead of reading partner tables (ownership stays with this subgraph).
 */
export const authenticateRoute: InternalRoute = async (body) => {
  const { clientId, clientSecret } = (body ?? {}) as { clientId?: unknown; clientSecret?: unknown };
  const client = await authenticateClient(clientId, clientSecret);
  return client ? { status: 200, body: client } : { status: 401, body: { error: "invalid_client" } };
};

export function internalRoutes(): Record<string, InternalRoute> {
  return {
    events: eventsRoute(prisma, eventConsumer),
    "clients/authenticate": authenticateRoute,
    // The authorization server: a client that sends people to /oauth/authorize (with `clientSecret`:
    // checked as a confidential app), and the revocation feed it polls.
    "clients/app": async (body) => {
      const b = (body ?? {}) as { clientId?: unknown; clientSecret?: unknown };
      const app = await oauthApp(b.clientId, "clientSecret" in b ? b.clientSecret : undefined);
      return app ? { status: 200, body: app } : { status: 404, body: { error: "invalid_client" } };
    },
    "auth/revocations": async () => ({ status: 200, body: { ...(await partnerRevocationFeed()), ...(await peopleRevocationFeed()) } }),
    // People who are not members: sign-in (password + TOTP for admins), activation, sign-out.
    "auth/person-sign-in": async (body) => {
      const b = (body ?? {}) as Record<string, unknown>;
      const r = await signInPerson(b.login, b.password, b.totp);
      return r.ok ? { status: 200, body: r } : { status: 401, body: { error: r.error, retryAfterMs: r.retryAfterMs ?? null } };
    },
    "auth/person-activate": async (body) => {
      const b = (body ?? {}) as Record<string, unknown>;
      const r = await activatePerson(b.login, b.code, b.password);
      return r.ok ? { status: 200, body: r } : { status: 400, body: r };
    },
    "auth/person-sessions/revoke": async (body) => {
      const id = (body as Record<string, unknown>)?.sessionId;
      if (typeof id === "string") await revokePersonSession(id);
      return { status: 200, body: {} };
    },
  };
}
