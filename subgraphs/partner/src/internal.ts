import { eventsRoute } from "../../../lib/events/inbox.ts";
import type { InternalRoute } from "../../../lib/subgraph-server.ts";
import { prisma } from "./db.ts";
import { eventConsumer } from "./events.ts";
import { authenticateClient } from "./services/api-clients.ts";
import { corsOriginsFeed } from "./services/cors-origins.ts";
import { quotaFeed } from "./services/rate-limits.ts";
import { oauthApp, partnerRevocationFeed } from "./services/partner-apps.ts";
import { activatePerson, peopleRevocationFeed, revokePersonSession, signInPerson } from "./services/people.ts";

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
    // Admins' rate limits per partner and per client, polled by the gateway (gateway/src/rate-limits.ts).
    limits: async () => ({ status: 200, body: await quotaFeed() }),
    // Browser origins per client (CORS), polled by the gateway.
    "clients/origins": async () => ({ status: 200, body: await corsOriginsFeed() }),
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
