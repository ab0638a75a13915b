import type { Purpose } from "../../../../lib/vocabulary.ts";
import { pageArgs, pageInfoOf } from "../../../../lib/pothos.ts";
import type { BiPage } from "../../../../lib/paging.ts";
import type { WebhookDelivery, WebhookEndpoint } from "../../../../prisma/generated/client/client.ts";
import { builder } from "../builder.ts";
import {
  createWebhookEndpoint,
  type DELIVERY_STATUSES,
  deleteWebhookEndpoint,
  deliveryCursor,
  listWebhookDeliveries,
  listWebhookEndpoints,
  MAX_DESCRIPTION_LENGTH,
  MAX_ENDPOINTS_PER_PARTNER,
  MAX_URL_LENGTH,
  replayWebhookDeliveries,
  replayWebhookDelivery,
  rotateWebhookSecret,
  setWebhookEndpointPaused,
  updateWebhookEndpoint,
} from "../webhooks/endpoints.ts";
import { WEBHOOK_EVENT_TYPES, type WebhookEventType } from "../webhooks/types.ts";
import { PurposeEnum } from "./enums.ts";
import { PageInfoRef } from "./offer.ts";
import { loadPartner, PartnerRef } from "./partner.ts";

// Webhooks (issue 17 §1): a partner's endpoints, their signing secrets and deliveries. The rules
// (who, what, input) live in webhooks/endpoints.ts; delivery in webhooks/dispatcher.ts.

const WHO_MANAGES = "The partner's own API client or a PARTNER_ADMIN of the partner (PARTNER_STAFF: FORBIDDEN); another partner's endpoint is NOT_FOUND.";

export const WebhookEventTypeEnum = builder.enumType("WebhookEventType", {
  description:
    "What a webhook endpoint can subscribe to. Each delivery is a POST of `{ id, type, occurredAt, partnerId, data }` (JSON; `type` is the payload type named in each value), signed per Standard Webhooks (docs/webhooks.md). Only events about the partner's own linked members and its own business; member data in `data` only as far as the member's consents to the partner allow for the endpoint's purpose, at the time of sending. Member erasure is not an event yet (the hub cannot erase members today).",
  values: Object.fromEntries(Object.entries(WEBHOOK_EVENT_TYPES).map(([k, d]) => [k, { description: d }])) as Record<WebhookEventType, { description: string }>,
});

const WebhookEndpointStatusEnum = builder.enumType("WebhookEndpointStatus", {
  description: "Whether an endpoint receives deliveries now.",
  values: {
    ACTIVE: { description: "Deliveries are sent." },
    PAUSED: { description: "Deliveries are recorded (in order) but not sent until the endpoint is resumed." },
  } as const,
});

const WebhookDeliveryStatusEnum = builder.enumType("WebhookDeliveryStatus", {
  description: "Where a delivery stands.",
  values: {
    PENDING: { description: "Not attempted yet (or replayed): sent as soon as the endpoint is active and the member's earlier deliveries to it are done." },
    RETRYING: { description: "An attempt failed; the next one is at nextAttemptAt (exponential backoff with jitter, for up to 3 days from the first attempt)." },
    DELIVERED: { description: "The endpoint answered 2xx." },
    DEAD: { description: "Gave up after the retry window (dead-lettered). Replay it with replayWebhookDelivery." },
  } as const,
});

const WebhookEndpointRef = builder.objectRef<WebhookEndpoint>("WebhookEndpoint").implement({
  description: "A partner's webhook endpoint. Its signing secret is never shown again after createWebhookEndpoint / rotateWebhookSecret.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "The endpoint's id." }),
    partner: t.field({ type: PartnerRef, description: "The partner it belongs to.", resolve: (e, _a, ctx) => loadPartner(ctx, e.partnerId) }),
    url: t.exposeString("url", { description: "Where deliveries are POSTed (http or https)." }),
    description: t.exposeString("description", { nullable: true, description: "A label for people." }),
    eventTypes: t.field({ type: [WebhookEventTypeEnum], description: "The event types it receives.", resolve: (e) => e.eventTypes as WebhookEventType[] }),
    purpose: t.field({ type: PurposeEnum, description: "The purpose under which member data in its payloads is consent-filtered.", resolve: (e) => e.purpose as Purpose }),
    status: t.field({ type: WebhookEndpointStatusEnum, description: "ACTIVE or PAUSED.", resolve: (e) => e.status }),
    secretRotatedAt: t.field({ type: "DateTime", nullable: true, description: "When the secret was last rotated (UTC); null if never.", resolve: (e) => e.secretRotatedAt }),
    previousSecretExpiresAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "Until when (UTC) the secret before the last rotation still signs deliveries (two signatures per delivery); null when only one secret is valid.",
      resolve: (e) => (e.previousSecretExpiresAt && e.previousSecretExpiresAt > new Date() ? e.previousSecretExpiresAt : null),
    }),
    createdAt: t.field({ type: "DateTime", description: "When it was registered (UTC).", resolve: (e) => e.createdAt }),
  }),
});

interface WithSecret {
  endpoint: WebhookEndpoint;
  secret: string;
}
const WebhookEndpointSecretRef = builder.objectRef<WithSecret>("WebhookEndpointSecret").implement({
  description: "An endpoint with its new signing secret. The secret is shown only in this response: store it now.",
  fields: (t) => ({
    endpoint: t.field({ type: WebhookEndpointRef, description: "The endpoint.", resolve: (s) => s.endpoint }),
    secret: t.exposeString("secret", { description: "The signing secret, `whsec_` + base64 of 32 random bytes (Standard Webhooks). Never retrievable again." }),
  }),
});

const WebhookDeliveryRef = builder.objectRef<WebhookDelivery>("WebhookDelivery").implement({
  description: "One event for one endpoint, and how its delivery went.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "The delivery's id (for replayWebhookDelivery)." }),
    eventId: t.exposeID("eventId", { description: "The event's id: the `webhook-id` header and the payload's `id` (the same for every attempt and replay; deduplicate by it)." }),
    eventType: t.field({ type: WebhookEventTypeEnum, description: "The event type.", resolve: (d) => d.eventType as WebhookEventType }),
    occurredAt: t.field({ type: "DateTime", description: "When the event happened (UTC).", resolve: (d) => d.occurredAt }),
    status: t.field({ type: WebhookDeliveryStatusEnum, description: "Where the delivery stands.", resolve: (d) => d.status }),
    attempts: t.exposeInt("attempts", { description: "Attempts so far (since it was created or last replayed)." }),
    lastResponseCode: t.int({ nullable: true, description: "HTTP status of the last attempt's response; null when there was none (timeout, refused, network error).", resolve: (d) => d.lastResponseStatus }),
    lastLatencyMs: t.int({ nullable: true, description: "Duration of the last attempt, in milliseconds.", resolve: (d) => d.lastLatencyMs }),
    lastAttemptAt: t.field({ type: "DateTime", nullable: true, description: "When the last attempt started (UTC).", resolve: (d) => d.lastAttemptAt }),
    nextAttemptAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "When the next attempt is due (UTC), for PENDING and RETRYING; null otherwise.",
      resolve: (d) => (d.status === "PENDING" || d.status === "RETRYING" ? d.nextAttemptAt : null),
    }),
    lastError: t.exposeString("lastError", { nullable: true, description: "Why the last attempt failed (e.g. `HTTP 503`, a timeout, a refused address); null after a success." }),
    deliveredAt: t.field({ type: "DateTime", nullable: true, description: "When it was delivered (UTC).", resolve: (d) => d.deliveredAt }),
    createdAt: t.field({ type: "DateTime", description: "When the hub recorded it for this endpoint (UTC).", resolve: (d) => d.createdAt }),
  }),
});

const WebhookDeliveryEdgeRef = builder.objectRef<WebhookDelivery>("WebhookDeliveryEdge").implement({
  description: "A delivery in a connection.",
  fields: (t) => ({
    cursor: t.string({ description: "Opaque cursor of this delivery.", resolve: (d) => deliveryCursor(d) }),
    node: t.field({ type: WebhookDeliveryRef, description: "The delivery.", resolve: (d) => d }),
  }),
});

const WebhookDeliveryConnectionRef = builder.objectRef<BiPage<WebhookDelivery>>("WebhookDeliveryConnection").implement({
  description: "A page of an endpoint's deliveries, newest first (Relay cursor connection, both directions).",
  fields: (t) => ({
    edges: t.field({ type: [WebhookDeliveryEdgeRef], description: "The deliveries of this page.", resolve: (p) => p.rows }),
    pageInfo: t.field({ type: PageInfoRef, description: "Whether items follow or precede this page, and the cursors to continue from.", resolve: (p) => pageInfoOf(p, deliveryCursor) }),
  }),
});

const CreateWebhookEndpointInput = builder.inputType("CreateWebhookEndpointInput", {
  description: "A new webhook endpoint. Nothing is stored when a field is invalid (BAD_USER_INPUT names the field).",
  fields: (t) => ({
    url: t.string({
      description: `Where to POST deliveries: an absolute http(s) URL, at most ${MAX_URL_LENGTH} characters, without credentials or #fragment. Its host must resolve only to public addresses (private, loopback and link-local ones are refused outside the demo).`,
    }),
    eventTypes: t.field({ type: [WebhookEventTypeEnum], description: "The event types to receive (at least one)." }),
    description: t.string({ required: false, description: `A label for people, at most ${MAX_DESCRIPTION_LENGTH} characters.` }),
    purpose: t.field({ type: PurposeEnum, required: false, description: "The purpose under which member data in payloads is consent-filtered; default ACCOUNT_SERVICING." }),
  }),
});

const UpdateWebhookEndpointInput = builder.inputType("UpdateWebhookEndpointInput", {
  description: "Changes to an endpoint; absent fields stay. Nothing is stored when a field is invalid.",
  fields: (t) => ({
    url: t.string({ required: false, description: "A new URL (same rules as at creation)." }),
    eventTypes: t.field({ type: [WebhookEventTypeEnum], required: false, description: "The new set of event types (at least one); applies to events recorded from now on." }),
    description: t.string({ required: false, description: `A new label, at most ${MAX_DESCRIPTION_LENGTH} characters.` }),
  }),
});

builder.queryFields((t) => ({
  webhookEndpoints: t.field({
    type: [WebhookEndpointRef],
    authScopes: { business: true },
    description: `The caller's webhook endpoints, oldest first (at most ${MAX_ENDPOINTS_PER_PARTNER} per partner). ${WHO_MANAGES} ADMIN: every partner's, or one partner's with partnerId.`,
    args: { partnerId: t.arg.id({ required: false, description: "ADMIN only: one partner's endpoints (ignored for a partner: always its own)." }) },
    resolve: (_r, { partnerId }, ctx) => listWebhookEndpoints(ctx.principal, partnerId == null ? null : String(partnerId)),
  }),
  webhookDeliveries: t.field({
    type: WebhookDeliveryConnectionRef,
    authScopes: { business: true },
    description: `An endpoint's deliveries, newest first: status, attempts, last response code and latency, next attempt time, last error. ${WHO_MANAGES} ADMIN: any endpoint.`,
    args: {
      endpointId: t.arg.id({ description: "The endpoint." }),
      status: t.arg({ type: WebhookDeliveryStatusEnum, required: false, description: "Only deliveries in this state." }),
      ...pageArgs(t.arg, "deliveries"),
    },
    resolve: (_r, a, ctx) => listWebhookDeliveries(ctx.principal, String(a.endpointId), a.status as (typeof DELIVERY_STATUSES)[number] | null, a),
  }),
}));

builder.mutationFields((t) => ({
  createWebhookEndpoint: t.field({
    type: WebhookEndpointSecretRef,
    authScopes: { partner: true },
    description: `Registers a webhook endpoint for the caller's partner and returns its signing secret (once). ${WHO_MANAGES}`,
    args: { input: t.arg({ type: CreateWebhookEndpointInput, description: "The endpoint." }) },
    resolve: (_r, { input }, ctx) => createWebhookEndpoint(ctx.principal, input),
  }),
  updateWebhookEndpoint: t.field({
    type: WebhookEndpointRef,
    authScopes: { partner: true },
    description: `Changes an endpoint's URL, event types or description (the secret stays). ${WHO_MANAGES}`,
    args: { id: t.arg.id({ description: "The endpoint." }), input: t.arg({ type: UpdateWebhookEndpointInput, description: "The changes." }) },
    resolve: (_r, { id, input }, ctx) => updateWebhookEndpoint(ctx.principal, String(id), input),
  }),
  rotateWebhookSecret: t.field({
    type: WebhookEndpointSecretRef,
    authScopes: { partner: true },
    description: `A new signing secret, returned once. The previous one keeps signing for overlapSeconds: meanwhile every delivery carries both signatures in webhook-signature. ${WHO_MANAGES}`,
    args: {
      id: t.arg.id({ description: "The endpoint." }),
      overlapSeconds: t.arg.int({ required: false, description: "Seconds the previous secret stays valid, 0–604,800 (7 days); default 86,400 (HUB_WEBHOOK_ROTATION_OVERLAP_SECONDS)." }),
    },
    resolve: (_r, { id, overlapSeconds }, ctx) => rotateWebhookSecret(ctx.principal, String(id), overlapSeconds),
  }),
  pauseWebhookEndpoint: t.field({
    type: WebhookEndpointRef,
    authScopes: { partner: true },
    description: `Stops sending to the endpoint; deliveries keep being recorded in order and go out on resume. Idempotent. ${WHO_MANAGES}`,
    args: { id: t.arg.id({ description: "The endpoint." }) },
    resolve: (_r, { id }, ctx) => setWebhookEndpointPaused(ctx.principal, String(id), true),
  }),
  resumeWebhookEndpoint: t.field({
    type: WebhookEndpointRef,
    authScopes: { partner: true },
    description: `Sends again, starting with the deliveries recorded while paused (in order per member). Idempotent. ${WHO_MANAGES}`,
    args: { id: t.arg.id({ description: "The endpoint." }) },
    resolve: (_r, { id }, ctx) => setWebhookEndpointPaused(ctx.principal, String(id), false),
  }),
  deleteWebhookEndpoint: t.field({
    type: WebhookEndpointRef,
    authScopes: { partner: true },
    description: `Deletes the endpoint and its delivery history; pending deliveries are not sent. Returns the deleted endpoint. ${WHO_MANAGES}`,
    args: { id: t.arg.id({ description: "The endpoint." }) },
    resolve: (_r, { id }, ctx) => deleteWebhookEndpoint(ctx.principal, String(id)),
  }),
  replayWebhookDelivery: t.field({
    type: WebhookDeliveryRef,
    authScopes: { partner: true },
    description: `Sends a delivery again, whatever its status (same event id: deduplicate by webhook-id), with a payload built from the member's consents now. ${WHO_MANAGES}`,
    args: { id: t.arg.id({ description: "The delivery." }) },
    resolve: (_r, { id }, ctx) => replayWebhookDelivery(ctx.principal, String(id)),
  }),
  replayWebhookDeliveries: t.field({
    type: "Int",
    authScopes: { partner: true },
    description: `Sends again every delivery of the endpoint whose event occurred in [from, to) (at most 31 days); returns how many deliveries were queued. ${WHO_MANAGES}`,
    args: {
      endpointId: t.arg.id({ description: "The endpoint." }),
      from: t.arg({ type: "DateTime", description: "Start of the time range (inclusive, UTC)." }),
      to: t.arg({ type: "DateTime", description: "End of the time range (exclusive, UTC)." }),
    },
    resolve: (_r, a, ctx) => replayWebhookDeliveries(ctx.principal, String(a.endpointId), a.from, a.to),
  }),
}));
