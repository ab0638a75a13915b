import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Database, PrismaClient } from "../../lib/db.ts";
import type { SchemaName } from "../../lib/events/catalogue.ts";
import { type Hub, type HubOptions, startHub } from "../../scripts/hub.ts";
import { Secret, TOTP } from "otpauth";
import { activateAccount, codeFlow, memberSignIn, personSignIn } from "../../scripts/oauth-client.ts";
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
  /** A member's own session: authorization code + PKCE for the hub's member app through the real sign-in page. */
  memberSession(login: string, password: string): Promise<string>;
  /** A partner app acting for a member: code + PKCE through the sign-in page and the consent screen. */
  delegatedToken(o: { clientId: string; clientSecret?: string; redirectUri: string; login: string; password: string; scopes: string[]; redeemDailyLimit?: number }): Promise<{ accessToken: string; refreshToken: string }>;
  /** RFC 8693 exchange of a partner client's credentials + its externalRef for a member → PARTNER_VIEW token (never the member's authority). */
  exchangeToken(clientId: string, secret: string, externalRef: string): Promise<string>;
  /** Gives an enrolled member a password: activation code (GraphQL, as the partner or an admin) + the real activation page; returns the password. */
  activateMember(token: string, memberId: string, login: string, password?: string): Promise<string>;
  /** Invites a person (as an admin or a PARTNER_ADMIN), activates on the real page and signs in through the console; returns the PERSON token (TOTP computed from the secret shown on activation). */
  personToken(
    inviterToken: string,
    o: { email: string; role: "ADMIN" | "PARTNER_ADMIN" | "PARTNER_STAFF"; partnerId?: string; password?: string },
  ): Promise<{ personId: string; token: string; totpSecret: string | null }>;
  /** Enrols a member as the partner (GraphQL), gets an activation code and activates through the real activation page. */
  memberWithPassword(partnerToken: string, o: { email: string; externalRef?: string; password?: string }): Promise<{ memberId: string; login: string; password: string }>;
  /** POST /graphql through the gateway, as a client would. */
  gql<T = Record<string, any>>(token: string | null, query: string, variables?: Record<string, unknown>, headers?: Record<string, string>): Promise<GraphQLResult<T> & { status: number }>;
}

/**
 * The whole hub (gateway + three subgraphs + relays) on port 0 over a fresh database, with one
 * ADMIN API client. What an e2e test drives, exactly as a client would.
 */
export async function startTestHub(opts: { jobs?: boolean } & Pick<HubOptions, "codeTtlMs" | "webhooks"> = {}): Promise<TestHub> {
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
  const hub = await startHub({ db, internalSecret: TEST_INTERNAL_SECRET, dataDir, relayIntervalMs: 50, jobs: opts.jobs ?? false, wrapClient, codeTtlMs: opts.codeTtlMs, webhooks: opts.webhooks });
  await createApiClientWithSecret({ clientId: TEST_ADMIN.clientId, secret: TEST_ADMIN.secret, role: "ADMIN", partnerId: null });

  async function tokenRequest(form: Record<string, string>): Promise<string> {
    const res = await fetch(`${hub.baseUrl}/oauth/token`, { method: "POST", body: new URLSearchParams(form) });
    const body = (await res.json()) as { access_token?: string; error?: string };
    if (!res.ok || !body.access_token) throw new Error(`token request failed: ${res.status} ${JSON.stringify(body)}`);
    return body.access_token;
  }
  let admin: string | undefined;
  async function gql(token: string | null, query: string, variables: Record<string, unknown> = {}, headers: Record<string, string> = {}) {
    const res = await fetch(hub.gatewayUrl, {
      method: "POST",
      headers: { "content-type": "application/json", ...(token ? { authorization: `Bearer ${token}` } : {}), ...headers },
      body: JSON.stringify({ query, variables }),
    });
    return { status: res.status, ...((await res.json()) as GraphQLResult<any>) };
  }
  async function activateMember(token: string, memberId: string, login: string, password = `pw-${memberId.slice(0, 8)}-correct-horse`) {
    const issued = await gql(token, `mutation($id: ID!) { issueActivationCode(memberId: $id) { code } }`, { id: memberId });
    const code = issued.data?.issueActivationCode?.code as string | undefined;
    if (!code) throw new Error(`issueActivationCode failed: ${JSON.stringify(issued.errors)}`);
    await activateAccount(hub.baseUrl, login, code, password);
    return password;
  }
  return {
    ...hub,
    db,
    queryCount: (s) => (s ? counts[s] : counts.member + counts.points + counts.partner),
    token: (clientId, secret) => tokenRequest({ grant_type: "client_credentials", client_id: clientId, client_secret: secret }),
    async adminToken() {
      admin ??= await tokenRequest({ grant_type: "client_credentials", client_id: TEST_ADMIN.clientId, client_secret: TEST_ADMIN.secret });
      return admin;
    },
    memberSession: async (login, password) => (await memberSignIn(hub.baseUrl, login, password)).accessToken,
    async delegatedToken(o) {
      const t = await codeFlow({
        baseUrl: hub.baseUrl,
        clientId: o.clientId,
        clientSecret: o.clientSecret,
        redirectUri: o.redirectUri,
        login: o.login,
        password: o.password,
        scopes: o.scopes,
        redeemDailyLimit: o.redeemDailyLimit,
      });
      return { accessToken: t.accessToken, refreshToken: t.refreshToken };
    },
    activateMember,
    async personToken(inviterToken, o) {
      const inv = await gql(inviterToken, "mutation($e: String!, $r: PersonRole!, $p: ID) { invitePerson(email: $e, role: $r, partnerId: $p) { person { id } activationCode } }", {
        e: o.email,
        r: o.role,
        p: o.partnerId ?? null,
      });
      const invitation = inv.data?.invitePerson;
      if (!invitation) throw new Error(`invitePerson failed: ${JSON.stringify(inv.errors)}`);
      const password = o.password ?? `person-${o.email}-password`;
      const { totpUri } = await activateAccount(hub.baseUrl, o.email, invitation.activationCode, password);
      const totpSecret = totpUri ? new URL(totpUri).searchParams.get("secret") : null;
      const totp = totpSecret ? new TOTP({ secret: Secret.fromBase32(totpSecret), digits: 6, period: 30, algorithm: "SHA1" }).generate() : undefined;
      return { personId: invitation.person.id, token: await personSignIn(hub.baseUrl, o.email, password, totp), totpSecret };
    },
    async memberWithPassword(partnerToken, o) {
      const enrolled = await gql(partnerToken, `mutation($input: EnrollMemberInput!) { enrollMember(input: $input) { id } }`, { input: { email: o.email, externalRef: o.externalRef } });
      const memberId = enrolled.data?.enrollMember?.id as string | undefined;
      if (!memberId) throw new Error(`enrollMember failed: ${JSON.stringify(enrolled.errors)}`);
      const password = await activateMember(partnerToken, memberId, o.email, o.password);
      return { memberId, login: o.email, password };
    },
    exchangeToken: (clientId, secret, externalRef) =>
      tokenRequest({
        grant_type: "urn:ietf:params:oauth:grant-type:token-exchange",
        client_id: clientId,
        client_secret: secret,
        subject_token: externalRef,
        subject_token_type: "urn:coalition:partner-member-ref",
      }),
    gql,
    async close() {
      await hub.close();
      await db.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

export { adminPrincipal };
