import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Database, PrismaClient } from "../../lib/db.ts";
import type { SchemaName } from "../../lib/events.ts";
import { type Hub, startHub } from "../../scripts/hub.ts";
import { createApiClientWithSecret } from "../../subgraphs/partner/src/services/api-clients.ts";
import { freshDatabase } from "./db.ts";
import { adminPrincipal, type GraphQLResult, TEST_INTERNAL_SECRET } from "./subgraph.ts";

export const TEST_ADMIN = { clientId: "test-admin", secret: "test-admin-secret-0123456789" };

export interface TestHub extends Hub {
  db: Database;
  /** Prisma operations issued by each subgraph so far (N+1 guards). */
  queryCount(subgraph?: SchemaName): number;
  /** client_credentials → access token. */
  token(clientId: string, secret: string): Promise<string>;
  adminToken(): Promise<string>;
  /** RFC 8693 exchange of a partner client's credentials + the member's externalRef → member token. */
  memberToken(clientId: string, secret: string, externalRef: string): Promise<string>;
  /** POST /graphql through the gateway, as a client would. */
  gql<T = Record<string, any>>(token: string | null, query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GraphQLResult<T> & { status: number }>;
}

/**
 * The whole hub (gateway + three subgraphs + relays) on port 0 over a fresh database, with one
 * ADMIN API client. What an e2e test drives, exactly as a client would.
 */
export async function startTestHub(opts: { jobs?: boolean } = {}): Promise<TestHub> {
  const db = await freshDatabase();
  const dataDir = mkdtempSync(path.join(tmpdir(), "hub-test-"));
  const counts: Record<SchemaName, number> = { member: 0, points: 0, partner: 0 };
  const wrapClient = (client: PrismaClient, subgraph: SchemaName) =>
    client.$extends({
      query: {
        async $allOperations({ args, query }) {
          counts[subgraph]++;
          return query(args);
        },
      },
    }) as unknown as PrismaClient;
  const hub = await startHub({ db, internalSecret: TEST_INTERNAL_SECRET, dataDir, relayIntervalMs: 50, jobs: opts.jobs ?? false, wrapClient });
  await createApiClientWithSecret({ clientId: TEST_ADMIN.clientId, secret: TEST_ADMIN.secret, role: "ADMIN", partnerId: null });

  async function tokenRequest(form: Record<string, string>): Promise<string> {
    const res = await fetch(`${hub.baseUrl}/oauth/token`, { method: "POST", body: new URLSearchParams(form) });
    const body = (await res.json()) as { access_token?: string; error?: string };
    if (!res.ok || !body.access_token) throw new Error(`token request failed: ${res.status} ${JSON.stringify(body)}`);
    return body.access_token;
  }
  let admin: string | undefined;
  return {
    ...hub,
    db,
    queryCount: (s) => (s ? counts[s] : counts.member + counts.points + counts.partner),
    token: (clientId, secret) => tokenRequest({ grant_type: "client_credentials", client_id: clientId, client_secret: secret }),
    async adminToken() {
      admin ??= await tokenRequest({ grant_type: "client_credentials", client_id: TEST_ADMIN.clientId, client_secret: TEST_ADMIN.secret });
      return admin;
    },
    memberToken: (clientId, secret, externalRef) =>
      tokenRequest({
        grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
        client_id: clientId,
        client_secret: secret,
        subject_token: externalRef,
        subject_token_type: "urn:coalition:partner-member-ref",
      }),
    async gql(token, query, variables = {}, headers = {}) {
      const res = await fetch(hub.gatewayUrl, {
        method: "POST",
        headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
        body: JSON.stringify({ query, variables }),
      });
      return { status: res.status, ...((await res.json()) as GraphQLResult<any>) };
    },
    async close() {
      await hub.close();
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export { adminPrincipal };
