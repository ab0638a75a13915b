import { createServer, type Server } from "node:http";
import type { AddressInfo } from "node:net";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors } from "../support/subgraph.ts";

// The dispatcher is paced (HUB_WEBHOOK_RATE: deliveries are background work) and a consent
// withdrawal goes ahead of any backlog (CLAIM_SQL): through the gateway, on the real outbox, with a
// receiver that records when each delivery arrives. A rate of 10 per second keeps the test short
// and makes the pace visible: the backlog is 10 earns of one member and one earn each of 20 others
// (which the endpoint's 4 slots could send side by side), so 31 deliveries cannot arrive in much
// under 3 s however fast the receiver answers.

process.env.HUB_WEBHOOK_ALLOWED_HOSTS = "127.0.0.1";
process.env.HUB_DEMO = "0";

const RATE = 10;
let hub: TestHub;
let receiver: Server;
let base: string;
const received: { type: string; memberId: string; points: number | null; id: string; at: number }[] = [];

beforeAll(async () => {
  receiver = createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const p = JSON.parse(Buffer.concat(chunks).toString("utf8"));
      received.push({ type: p.type, memberId: p.data.memberId, points: p.data.points ?? null, id: p.id, at: Date.now() });
      res.end("ok");
    });
  });
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  base = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;
  hub = await startTestHub({ webhooks: { settings: { rate: RATE, pollMs: 100 } } });
}, 120_000);

afterAll(async () => {
  receiver?.closeAllConnections();
  receiver?.close();
  await hub?.close();
});

test("a paced dispatcher drains a backlog at its rate, a consent revocation queued behind it arrives first, and a batch's events arrive in its order", async () => {
  const admin = await hub.adminToken();
  const { registerPartner } = expectNoGraphQLErrors(
    await hub.gql(admin, "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }", { i: { name: "Paced Mart", category: "ECOMMERCE", issuePrice: "0.015", redemptionRate: "0.010" } }),
  );
  const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
  const token = await hub.token(createApiClient.clientId, createApiClient.clientSecret);
  const busy = await hub.memberWithPassword(token, { email: "paced-busy@example.com", externalRef: "P-1" });
  const quiet = await hub.memberWithPassword(token, { email: "paced-quiet@example.com", externalRef: "P-2" });
  const consent = async (session: string) =>
    expectNoGraphQLErrors(
      await hub.gql(session, "mutation($i: GrantConsentInput!) { grantConsent(input: $i) { id } }", { i: { partnerId: registerPartner.id, categories: ["ACTIVITY"], purpose: "ACCOUNT_SERVICING", noticeVersion: "v1" } }),
    ).grantConsent.id as string;
  await consent(await hub.memberSession(busy.login, busy.password)); // its earns' points are visible to the partner
  const session = await hub.memberSession(quiet.login, quiet.password);
  const grantId = await consent(session);
  await hub.flushEvents();

  // Twenty more members, one earn each (no consent: their points are withheld, the delivery still goes).
  const others: string[] = [];
  for (let i = 0; i < 20; i++)
    others.push(
      expectNoGraphQLErrors(await hub.gql(token, "mutation($input: EnrollMemberInput!) { enrollMember(input: $input) { id } }", { input: { email: `paced-${i}@example.com`, externalRef: `P-O${i}` } })).enrollMember.id,
    );
  await hub.flushEvents();

  // The endpoint, paused while the backlog builds: 10 earns of one member, one of each other member, then a revocation.
  const created = expectNoGraphQLErrors(
    await hub.gql(token, "mutation($i: CreateWebhookEndpointInput!) { createWebhookEndpoint(input: $i) { endpoint { id } } }", {
      i: { url: `${base}/paced`, eventTypes: ["POINTS_EARNED", "CONSENT_REVOKED"] },
    }),
  );
  const endpointId = created.createWebhookEndpoint.endpoint.id;
  expectNoGraphQLErrors(await hub.gql(token, "mutation($id: ID!) { pauseWebhookEndpoint(id: $id) { status } }", { id: endpointId }));
  // In one batch: one transaction, whose events reach the partner in the order they were written.
  const batch = expectNoGraphQLErrors(
    await hub.gql(token, "mutation($inputs: [AwardPointsInput!]!) { awardPointsBatch(inputs: $inputs) { accepted } }", {
      inputs: [
        ...Array.from({ length: 10 }, (_, i) => ({ memberId: busy.memberId, points: i + 1, idempotencyKey: `paced-${i}` })),
        ...others.map((memberId, i) => ({ memberId, points: 100, idempotencyKey: `paced-other-${i}` })),
      ],
    }),
  );
  expect(batch.awardPointsBatch.accepted).toBe(30);
  await hub.flushEvents();
  expectNoGraphQLErrors(await hub.gql(session, "mutation($id: ID!) { revokeConsent(consentId: $id) { id } }", { id: grantId }));
  await hub.flushEvents();
  expect(received).toHaveLength(0);

  expectNoGraphQLErrors(await hub.gql(token, "mutation($id: ID!) { resumeWebhookEndpoint(id: $id) { status } }", { id: endpointId }));
  const deadline = Date.now() + 30_000;
  while (new Set(received.map((r) => r.id)).size < 31 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));

  const seen = new Set<string>();
  const arrivals = received.filter((r) => !seen.has(r.id) && seen.add(r.id));
  expect(arrivals).toHaveLength(31);
  // The revocation was queued last, behind the backlog: it goes first (one delivery per claim at this rate).
  expect(arrivals[0]).toMatchObject({ type: "consent.revoked", memberId: quiet.memberId });
  // The busy member's earns in their order (the batch's input order); every other member's earn once.
  expect(arrivals.filter((r) => r.memberId === busy.memberId).map((r) => r.points)).toEqual(Array.from({ length: 10 }, (_, i) => i + 1));
  expect(new Set(arrivals.filter((r) => others.includes(r.memberId)).map((r) => r.memberId)).size).toBe(20);
  // The pace: a send starts 1/RATE s after the previous one. A slower machine only spreads them
  // more; unpaced, the endpoint's 4 slots send the 20 single earns side by side in well under 1 s.
  const spanMs = arrivals.at(-1)!.at - arrivals[0]!.at;
  expect(spanMs).toBeGreaterThanOrEqual(((arrivals.length - 1) / RATE) * 1000 - 100);
}, 120_000);
