import { z } from "zod";
import { recordAudit } from "../../../../lib/audit.ts";
import { loadEnv } from "../../../../lib/config.ts";
import { badInput, forbidden, notFound } from "../../../../lib/errors.ts";
import { isUuid, parseInput } from "../../../../lib/input.ts";
import { type BiPage, encodeCursor, keysetOrderBy, keysetPage, keysetWhere, type PageArgs, pageRequest } from "../../../../lib/paging.ts";
import type { Principal } from "../../../../lib/principal.ts";
import { PURPOSES } from "../../../../lib/vocabulary.ts";
import type { Prisma, WebhookDelivery, WebhookEndpoint } from "../../../../prisma/generated/client/client.ts";
import { prisma } from "../db.ts";
import { TX_OPTIONS } from "../services/domain.ts";
import { wakeDispatchers } from "./wake.ts";
import { encryptSecret, newSecret } from "./secrets.ts";
import { WEBHOOK_EVENT_TYPE_NAMES } from "./types.ts";
import { urlAddressProblem, urlFormProblem, urlPolicy } from "./url-guard.ts";

/**
 * Partners' webhook endpoints and their deliveries (issue 17 §1), the rules of who may do what:
 * - manage (create, rotate, pause, resume, delete, replay): the partner's own API client
 *   (client_credentials) or a PARTNER_ADMIN person of that partner. PARTNER_STAFF, partner-view
 *   tokens and members: FORBIDDEN. Another partner's endpoint: NOT_FOUND (indistinguishable from none).
 * - read (endpoints, deliveries): the same, and ADMIN (every partner's).
 * Input is checked whole before anything is written: BAD_USER_INPUT names the field, nothing is stored.
 */

type Actor = Pick<Principal, "sub" | "role" | "partnerId" | "personRole" | "authority">;

export const MAX_ENDPOINTS_PER_PARTNER = 20;
export const MAX_URL_LENGTH = 2_048;
export const MAX_DESCRIPTION_LENGTH = 500;

/** The partner whose webhooks the actor manages: its own, as an API client or PARTNER_ADMIN; else FORBIDDEN. */
export function managingPartner(actor: Actor): string {
  const authority = actor.authority ?? "CLIENT";
  if (actor.role === "PARTNER" && actor.partnerId && (authority === "CLIENT" || (authority === "PERSON" && actor.personRole === "PARTNER_ADMIN"))) return actor.partnerId;
  throw forbidden("Only the partner's API client or a PARTNER_ADMIN manages its webhooks");
}

/** null = every partner (ADMIN); else the one partner the actor may read the webhooks of. */
function readingPartner(actor: Actor): string | null {
  if (actor.role === "ADMIN") return null;
  return managingPartner(actor);
}

/** What the audit trail keeps of an endpoint: never its secrets, only when they rotated. */
function endpointAuditView(e: WebhookEndpoint) {
  return {
    url: e.url,
    description: e.description,
    eventTypes: e.eventTypes,
    purpose: e.purpose,
    status: e.status,
    secretRotatedAt: e.secretRotatedAt,
    previousSecretExpiresAt: e.previousSecretExpiresAt,
  };
}

type EndpointAction = "webhook_endpoint.created" | "webhook_endpoint.updated" | "webhook_endpoint.secret_rotated" | "webhook_endpoint.status_changed" | "webhook_endpoint.deleted";

/** Records a partner's change of one of its endpoints, in the transaction that makes it. */
const auditEndpoint = (tx: Prisma.TransactionClient, actor: Actor, action: EndpointAction, before: WebhookEndpoint | null, after: WebhookEndpoint | null) =>
  recordAudit(tx, actor, {
    action,
    targetType: "WebhookEndpoint",
    targetId: (after ?? before)!.id,
    partnerId: (after ?? before)!.partnerId,
    before: before && endpointAuditView(before),
    after: after && endpointAuditView(after),
  });

const Url = z
  .string({ error: "url is required" })
  .max(MAX_URL_LENGTH, `url is at most ${MAX_URL_LENGTH} characters`)
  .superRefine((u, ctx) => {
    const why = urlFormProblem(u);
    if (why) ctx.addIssue({ code: "custom", message: why });
  });

const EventTypes = z
  .array(z.enum(WEBHOOK_EVENT_TYPE_NAMES as [string, ...string[]], { error: "eventTypes holds an unknown event type" }))
  .min(1, "eventTypes needs at least one event type")
  .max(WEBHOOK_EVENT_TYPE_NAMES.length * 2, "eventTypes is too long")
  .transform((ts) => [...new Set(ts)].sort());

const CreateInput = z.object({
  url: Url,
  eventTypes: EventTypes,
  description: z.string().trim().max(MAX_DESCRIPTION_LENGTH, `description is at most ${MAX_DESCRIPTION_LENGTH} characters`).nullish(),
  purpose: z.enum(PURPOSES, { error: "purpose is not a Purpose" }).nullish(),
});

async function checkReachable(url: string): Promise<void> {
  const why = await urlAddressProblem(url, urlPolicy());
  if (why) throw badInput(why, "input.url");
}

/** Creates an endpoint; the signing secret is in the result only (never readable again). */
export async function createWebhookEndpoint(actor: Actor, raw: unknown): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  const partnerId = managingPartner(actor);
  const { input } = parseInput(z.object({ input: CreateInput }), { input: raw });
  await checkReachable(input.url);
  const secret = newSecret();
  const endpoint = await prisma().$transaction(async (tx) => {
    await tx.$executeRaw`SELECT pg_advisory_xact_lock(hashtext(${`webhooks:${partnerId}`}))`;
    if ((await tx.webhookEndpoint.count({ where: { partnerId } })) >= MAX_ENDPOINTS_PER_PARTNER) throw badInput(`A partner has at most ${MAX_ENDPOINTS_PER_PARTNER} webhook endpoints`, "input");
    const created = await tx.webhookEndpoint.create({
      data: {
        partnerId,
        url: input.url,
        description: input.description ?? null,
        eventTypes: input.eventTypes,
        purpose: input.purpose ?? "ACCOUNT_SERVICING",
        secretEncrypted: encryptSecret(secret),
        createdBy: actor.personRole ? `person:${actor.sub}` : actor.sub,
      },
    });
    await auditEndpoint(tx, actor, "webhook_endpoint.created", null, created);
    return created;
  }, TX_OPTIONS);
  return { endpoint, secret };
}

const UpdateInput = z.object({
  url: Url.optional(),
  eventTypes: EventTypes.optional(),
  description: z.string().trim().max(MAX_DESCRIPTION_LENGTH, `description is at most ${MAX_DESCRIPTION_LENGTH} characters`).nullish(),
});

/** The actor's endpoint by id (row-locked in `tx` when given); NOT_FOUND for another partner's or none. */
async function ownEndpoint(actor: Actor, id: string, manage: boolean): Promise<WebhookEndpoint> {
  const partnerId = manage ? managingPartner(actor) : readingPartner(actor);
  if (!isUuid(id)) throw notFound("WebhookEndpoint", id);
  const e = await prisma().webhookEndpoint.findUnique({ where: { id } });
  if (!e || (partnerId !== null && e.partnerId !== partnerId)) throw notFound("WebhookEndpoint", id);
  return e;
}

export async function updateWebhookEndpoint(actor: Actor, id: string, raw: unknown): Promise<WebhookEndpoint> {
  const e = await ownEndpoint(actor, id, true);
  const { input } = parseInput(z.object({ input: UpdateInput }), { input: raw });
  if (input.url) await checkReachable(input.url);
  return prisma().$transaction(async (tx) => {
    const before = await lockedEndpoint(tx, e.id);
    const after = await tx.webhookEndpoint.update({
      where: { id: e.id },
      data: {
        ...(input.url ? { url: input.url } : {}),
        ...(input.eventTypes ? { eventTypes: input.eventTypes } : {}),
        ...(input.description !== undefined ? { description: input.description } : {}),
        updatedAt: new Date(),
      },
    });
    await auditEndpoint(tx, actor, "webhook_endpoint.updated", before, after);
    return after;
  }, TX_OPTIONS);
}

/** The endpoint's row as it is now, locked until `tx` ends (the audit's before is the row the change replaced). */
async function lockedEndpoint(tx: Prisma.TransactionClient, id: string): Promise<WebhookEndpoint> {
  await tx.$queryRaw`SELECT 1 FROM "partner"."WebhookEndpoint" WHERE id = ${id}::uuid FOR UPDATE`;
  const row = await tx.webhookEndpoint.findUnique({ where: { id } });
  if (!row) throw notFound("WebhookEndpoint", id);
  return row;
}

const MAX_OVERLAP_SECONDS = 7 * 86_400;

/**
 * A new signing secret; the previous one keeps signing (both signatures sent) for `overlapSeconds`
 * (default HUB_WEBHOOK_ROTATION_OVERLAP_SECONDS), so a receiver can switch without losing a delivery.
 * A rotation during an overlap drops the oldest secret at once.
 */
export async function rotateWebhookSecret(actor: Actor, id: string, overlapSeconds: number | null | undefined, now = new Date()): Promise<{ endpoint: WebhookEndpoint; secret: string }> {
  const e = await ownEndpoint(actor, id, true);
  const overlap = overlapSeconds ?? loadEnv().HUB_WEBHOOK_ROTATION_OVERLAP_SECONDS;
  if (!Number.isInteger(overlap) || overlap < 0 || overlap > MAX_OVERLAP_SECONDS) throw badInput(`overlapSeconds must be a whole number of seconds in 0–${MAX_OVERLAP_SECONDS}`, "overlapSeconds");
  const secret = newSecret();
  const endpoint = await prisma().$transaction(async (tx) => {
    const before = await lockedEndpoint(tx, e.id);
    const after = await tx.webhookEndpoint.update({
      where: { id: e.id },
      data: {
        previousSecretEncrypted: overlap > 0 ? before.secretEncrypted : null,
        previousSecretExpiresAt: overlap > 0 ? new Date(now.getTime() + overlap * 1000) : null,
        secretEncrypted: encryptSecret(secret),
        secretRotatedAt: now,
        updatedAt: now,
      },
    });
    await auditEndpoint(tx, actor, "webhook_endpoint.secret_rotated", before, after);
    return after;
  }, TX_OPTIONS);
  return { endpoint, secret };
}

/** Paused: deliveries wait (still created, in order) and go out on resume. Idempotent both ways. */
export async function setWebhookEndpointPaused(actor: Actor, id: string, paused: boolean): Promise<WebhookEndpoint> {
  const e = await ownEndpoint(actor, id, true);
  const updated = await prisma().$transaction(async (tx) => {
    const before = await lockedEndpoint(tx, e.id);
    const after = await tx.webhookEndpoint.update({ where: { id: e.id }, data: { status: paused ? "PAUSED" : "ACTIVE", updatedAt: new Date() } });
    await auditEndpoint(tx, actor, "webhook_endpoint.status_changed", before, after);
    return after;
  }, TX_OPTIONS);
  if (!paused) wakeDispatchers();
  return updated;
}

/** Deletes the endpoint and its deliveries (pending ones are never sent). */
export async function deleteWebhookEndpoint(actor: Actor, id: string): Promise<WebhookEndpoint> {
  const e = await ownEndpoint(actor, id, true);
  return prisma().$transaction(async (tx) => {
    const before = await lockedEndpoint(tx, e.id);
    await tx.webhookEndpoint.delete({ where: { id: e.id } });
    await auditEndpoint(tx, actor, "webhook_endpoint.deleted", before, null);
    return before;
  }, TX_OPTIONS);
}

/** The actor's endpoints (ADMIN: every partner's, or one partner's), oldest first. */
export async function listWebhookEndpoints(actor: Actor, partnerId: string | null | undefined): Promise<WebhookEndpoint[]> {
  const own = readingPartner(actor);
  if (partnerId != null && !isUuid(partnerId)) return [];
  const where = own !== null ? { partnerId: own } : partnerId ? { partnerId } : {};
  return prisma().webhookEndpoint.findMany({ where, orderBy: [{ createdAt: "asc" }, { id: "asc" }], take: 1_000 });
}

export const DELIVERY_STATUSES = ["PENDING", "RETRYING", "DELIVERED", "DEAD"] as const;
export type DeliveryStatus = (typeof DELIVERY_STATUSES)[number];

/** A page of an endpoint's deliveries, newest first (keyset on createdAt, id), either direction. */
export async function listWebhookDeliveries(actor: Actor, endpointId: string, status: DeliveryStatus | null | undefined, args: PageArgs): Promise<BiPage<WebhookDelivery>> {
  pageRequest(args, isUuid); // bad paging arguments are BAD_USER_INPUT before the endpoint is looked up
  const e = await ownEndpoint(actor, endpointId, false);
  return keysetPage(args, isUuid, (q) =>
    prisma().webhookDelivery.findMany({
      where: { endpointId: e.id, ...(status ? { status } : {}), ...keysetWhere(q, "createdAt", "id") },
      orderBy: keysetOrderBy(q, "createdAt", "id"),
      take: q.limit,
    }),
  );
}

export const deliveryCursor = (d: WebhookDelivery) => encodeCursor(d.createdAt, d.id);

/** The delivery if the actor may see it (its partner's, or ADMIN), else NOT_FOUND. */
async function ownDelivery(actor: Actor, id: string, manage: boolean): Promise<WebhookDelivery> {
  const partnerId = manage ? managingPartner(actor) : readingPartner(actor);
  if (!isUuid(id)) throw notFound("WebhookDelivery", id);
  const d = await prisma().webhookDelivery.findUnique({ where: { id } });
  if (!d || (partnerId !== null && d.partnerId !== partnerId)) throw notFound("WebhookDelivery", id);
  return d;
}

/**
 * Sends a delivery again (same event id: receivers that deduplicate by `webhook-id` apply it once),
 * whatever its status, as soon as the endpoint is active and the member's earlier deliveries are
 * done. The attempt count restarts; the payload is built again from today's consents.
 */
export async function replayWebhookDelivery(actor: Actor, id: string): Promise<WebhookDelivery> {
  const d = await ownDelivery(actor, id, true);
  const replayed = await prisma().$transaction(async (tx) => {
    const after = await tx.webhookDelivery.update({
      where: { id: d.id },
      data: { status: "PENDING", attempts: 0, nextAttemptAt: new Date(), lockedUntil: null, deadAt: null },
    });
    await recordAudit(tx, actor, {
      action: "webhook_delivery.replayed",
      targetType: "WebhookDelivery",
      targetId: d.id,
      partnerId: d.partnerId,
      before: { endpointId: d.endpointId, eventId: d.eventId, status: d.status, attempts: d.attempts },
      after: { endpointId: after.endpointId, eventId: after.eventId, status: after.status, attempts: after.attempts },
    });
    return after;
  }, TX_OPTIONS);
  wakeDispatchers();
  return replayed;
}

const MAX_REPLAY_DAYS = 31;

/** Replays every delivery of the endpoint whose event occurred in [from, to); returns how many. */
export async function replayWebhookDeliveries(actor: Actor, endpointId: string, from: Date, to: Date): Promise<number> {
  const e = await ownEndpoint(actor, endpointId, true);
  if (!(from instanceof Date) || !(to instanceof Date) || from >= to) throw badInput("from must be before to", "to");
  if (to.getTime() - from.getTime() > MAX_REPLAY_DAYS * 86_400_000) throw badInput(`A replay covers at most ${MAX_REPLAY_DAYS} days`, "to");
  const count = await prisma().$transaction(async (tx) => {
    const where = { endpointId: e.id, occurredAt: { gte: from, lt: to } };
    const byStatus = async () => Object.fromEntries((await tx.webhookDelivery.groupBy({ by: ["status"], where, _count: { _all: true } })).map((g) => [g.status, g._count._all]));
    const before = await byStatus();
    const { count } = await tx.webhookDelivery.updateMany({ where, data: { status: "PENDING", attempts: 0, nextAttemptAt: new Date(), lockedUntil: null, deadAt: null } });
    // One entry for the range: the endpoint, the range, and the deliveries by status before and after.
    await recordAudit(tx, actor, {
      action: "webhook_delivery.replayed",
      targetType: "WebhookEndpoint",
      targetId: e.id,
      partnerId: e.partnerId,
      before: { from, to, deliveriesByStatus: before },
      after: { from, to, deliveriesByStatus: await byStatus(), replayed: count },
    });
    return count;
  }, TX_OPTIONS);
  wakeDispatchers();
  return count;
}

export { ownEndpoint as webhookEndpointFor };
