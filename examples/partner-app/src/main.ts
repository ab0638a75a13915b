import { randomUUID } from "node:crypto";
import { errorCode, Hub, type HubConfig } from "./hub.ts";
import { AwardByRef, CreateWebhookEndpoint, DeleteWebhookEndpoint, Viewer } from "./operations.ts";
import { dayOf, type OwnAward, type Reconciliation, reconcileDay } from "./reconcile.ts";
import { type Delivery, WebhookReceiver } from "./webhooks.ts";

/**
 * The example partner integration, end to end (issue 17 §7):
 * 1. a client_credentials token; `viewer` says which partner we are;
 * 2. a local webhook receiver, registered for POINTS_EARNED, verifying signatures (standardwebhooks);
 * 3. awards by our own member references, idempotent: each is sent twice with the same key (a
 *    retry after a lost response) and the hub answers the same transaction; one unknown reference
 *    comes back NOT_FOUND;
 * 4. one POINTS_EARNED delivery per award arrives, signed, deduplicated by webhook-id;
 * 5. reconciliation of today (UTC): the paged list and the streamed CSV against our own log and
 *    the hub's totals.
 */

export interface RunOptions extends HubConfig {
  /** Our references of members linked to us, e.g. the demo's ShopMall members SM-0001, SM-0002. */
  memberRefs: string[];
  /** How long to wait for the webhooks (ms). */
  webhookTimeoutMs?: number;
}

export interface RunReport {
  partner: { id: string; slug: string };
  awards: OwnAward[];
  /** Every retry with the same idempotency key returned the same transaction. */
  idempotent: boolean;
  unknownRefCode: string | null;
  webhooks: { received: Delivery[]; rejected: number; duplicates: number; allArrived: boolean };
  reconciliation: Reconciliation;
}

export async function run(opts: RunOptions): Promise<RunReport> {
  const hub = new Hub(opts);
  const client = await hub.client();
  const { viewer } = await client.request(Viewer);
  if (!viewer.partner) throw new Error(`${opts.clientId} is not a partner client (role ${viewer.role})`);

  const receiver = new WebhookReceiver();
  const url = await receiver.listen();
  const { createWebhookEndpoint } = await client.request(CreateWebhookEndpoint, { input: { url, eventTypes: ["POINTS_EARNED"], description: "example partner app" } });
  receiver.useSecret(createWebhookEndpoint.secret);

  try {
    const awards: OwnAward[] = [];
    let idempotent = true;
    for (const [i, memberRef] of opts.memberRefs.entries()) {
      const input = { externalRef: memberRef, points: 10 * (i + 1), idempotencyKey: `example-${randomUUID()}`, reference: `till-7/receipt-${i + 1}` };
      const first = (await client.request(AwardByRef, { input })).awardPoints;
      // The same request again (say the response was lost on the way): the hub returns the original.
      const again = (await client.request(AwardByRef, { input })).awardPoints;
      if (again.id !== first.id) idempotent = false;
      awards.push({ idempotencyKey: input.idempotencyKey, memberRef, points: first.points64, reference: input.reference, transactionId: first.id });
    }
    let unknownRefCode: string | null = null;
    try {
      await client.request(AwardByRef, { input: { externalRef: `NOT-A-MEMBER-${randomUUID().slice(0, 8)}`, points: 1, idempotencyKey: `example-${randomUUID()}` } });
    } catch (e) {
      unknownRefCode = errorCode(e);
    }

    const refs = new Set(awards.map((a) => a.memberRef));
    const allArrived = await receiver.waitFor(
      (events) => [...refs].every((r) => events.some((e) => e.type.toUpperCase().replace(".", "_").includes("EARNED") && e.data.partnerRef === r)),
      opts.webhookTimeoutMs ?? 30_000,
    );
    const reconciliation = await reconcileDay(hub, awards, dayOf(new Date()));
    return {
      partner: { id: viewer.partner.id, slug: viewer.partner.slug },
      awards,
      idempotent,
      unknownRefCode,
      webhooks: { received: [...receiver.events.values()], rejected: receiver.rejected, duplicates: receiver.duplicates, allArrived },
      reconciliation,
    };
  } finally {
    await client.request(DeleteWebhookEndpoint, { id: createWebhookEndpoint.endpoint.id }).catch(() => undefined);
    await receiver.close();
  }
}

// `npm start` in examples/partner-app (or `npx tsx examples/partner-app/src/main.ts`): against the
// demo hub of `npm start` by default.
if (import.meta.url === `file://${process.argv[1]}`) {
  const report = await run({
    baseUrl: process.env.HUB_URL ?? "http://localhost:4000",
    clientId: process.env.CLIENT_ID ?? "demo-shopmall",
    clientSecret: process.env.CLIENT_SECRET ?? "demo-shopmall-secret",
    memberRefs: (process.env.MEMBER_REFS ?? "SM-0001,SM-0002").split(","),
  });
  process.stdout.write(`${JSON.stringify({ ...report, webhooks: { ...report.webhooks, received: report.webhooks.received.length } }, null, 2)}\n`);
  const ok = report.idempotent && report.unknownRefCode === "NOT_FOUND" && report.webhooks.allArrived && report.reconciliation.mismatched.length === 0 && report.reconciliation.exportMatchesTotals;
  process.exit(ok ? 0 : 1);
}
