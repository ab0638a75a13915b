import { AsyncLocalStorage } from "node:async_hooks";
import type { Prisma } from "./db.ts";
import type { SchemaName } from "./events/catalogue.ts";
import { emitFrom } from "./events/outbox.ts";
import type { Principal } from "./principal.ts";

/**
 * The admin audit trail (issue 18 §6): every admin and partner-admin action, recorded append-only
 * with who, when, what, before and after.
 *
 * `recordAudit(tx, principal, { action, targetType, targetId, before, after, partnerId? })` writes the
 * catalogued `audit.recorded` event to the acting subgraph's outbox in the caller's transaction, so an
 * entry exists if and only if the change committed, in any subgraph. The partner subgraph (owner of
 * people) consumes it into `partner.AuditEntry` (append-only: triggers refuse UPDATE, DELETE and
 * TRUNCATE), which admins query (`auditTrail`) and export (`GET /exports/audit`).
 *
 * Which subgraph acts is a property of the action: each action is catalogued below with its
 * producer, so the event lands in the outbox of the schema whose transaction `tx` is. A new
 * admin action = one entry here + one `recordAudit` call in the transaction that does it.
 *
 * Secrets never reach the trail: `before`/`after` pass through `redactSecrets` (any key that names a
 * secret, a password, a hash, a token, a TOTP seed or a private key is replaced by "[redacted]", at
 * any depth), so a call site that hands over a whole row cannot leak one.
 */

export interface AuditActionSpec {
  /** The subgraph whose transaction performs the action (its outbox carries the event). */
  producer: SchemaName;
  /** What the action is, for people reading the trail (GraphQL `auditActions`). */
  description: string;
}

/** Every audited action. Names are `<target>.<what happened>`; the producer is the acting subgraph. */
export const AUDIT_ACTIONS = {
  // Partners and their terms (partner subgraph).
  "partner.created": { producer: "partner", description: "An admin registered a partner (name, category, slug, earn rate, first rates)." },
  "partner.rates_changed": { producer: "partner", description: "An admin appended a rate change (issue price, redemption rate, effective from) to a partner's rate history." },
  "partner.earn_rate_changed": { producer: "partner", description: "An admin changed a partner's earn rate (points per currency unit before the tier multiplier)." },
  "partner.activated": { producer: "partner", description: "An admin activated a partner." },
  "partner.deactivated": { producer: "partner", description: "An admin deactivated a partner (its clients get no tokens, its earns are refused)." },
  // API clients and partner apps (partner subgraph). Secrets are never recorded, only that they changed.
  "api_client.created": { producer: "partner", description: "An API client was created (its secret is shown once to the caller, never recorded)." },
  "api_client.revoked": { producer: "partner", description: "An API client was revoked (its tokens stop working within seconds)." },
  "api_client.origins_changed": { producer: "partner", description: "An API client's allowed browser origins (CORS) changed." },
  "partner_app.created": { producer: "partner", description: "A partner app (an OAuth client acting for members) was registered." },
  // Rate limits (partner subgraph): before/after are the limits in force (defaults included).
  "partner.limits_changed": { producer: "partner", description: "An admin set a partner's rate limits (requests and cost per minute; null = back to the default)." },
  "api_client.limits_changed": { producer: "partner", description: "An admin set an API client's (or partner app's) own rate limits." },
  // Webhook endpoints (partner subgraph; the partner's API client or a PARTNER_ADMIN). Secrets never, only that they rotated.
  "webhook_endpoint.created": { producer: "partner", description: "A partner registered a webhook endpoint (URL, event types, purpose)." },
  "webhook_endpoint.updated": { producer: "partner", description: "A partner changed a webhook endpoint's URL, event types or description." },
  "webhook_endpoint.secret_rotated": { producer: "partner", description: "A partner rotated a webhook endpoint's signing secret (the previous one signs until the overlap ends)." },
  "webhook_endpoint.status_changed": { producer: "partner", description: "A partner paused or resumed a webhook endpoint." },
  "webhook_endpoint.deleted": { producer: "partner", description: "A partner deleted a webhook endpoint and its delivery history." },
  "webhook_delivery.replayed": { producer: "partner", description: "A partner sent webhook deliveries again (one delivery, or an endpoint's deliveries in a time range)." },
  // People (partner subgraph).
  "person.invited": { producer: "partner", description: "A person (admin or partner staff) was invited." },
  "person.disabled": { producer: "partner", description: "A person was disabled (their sessions end within seconds)." },
  "person.enabled": { producer: "partner", description: "A disabled person was enabled again." },
  // Offers (partner subgraph).
  "offer.created": { producer: "partner", description: "A co-issuer created a DRAFT offer (its terms and co-issuers)." },
  "offer.updated": { producer: "partner", description: "A co-issuer edited an offer's terms (approvals cleared)." },
  "offer.approved": { producer: "partner", description: "A co-issuer approved an offer's terms." },
  "offer.status_changed": { producer: "partner", description: "A co-issuer submitted, paused, resumed or ended an offer (activation by the last approval is offer.approved)." },
  // Settlement, redemptions and adjustments (points subgraph).
  "settlement.run_created": { producer: "points", description: "An admin created (computed) a settlement run for a period." },
  "settlement.run_recomputed": { producer: "points", description: "An admin recomputed a draft settlement run." },
  "settlement.run_approved": { producer: "points", description: "An admin approved a settlement run (its postings are settled)." },
  "settlement.dispute_opened": { producer: "points", description: "A partner disputed a settlement line." },
  "settlement.dispute_resolved": { producer: "points", description: "An admin resolved a settlement dispute (accepted with an adjustment, or rejected)." },
  "points.redeemed_manually": { producer: "points", description: "An admin redeemed a member's points without a member-issued code." },
  "points.adjusted": { producer: "points", description: "An admin credited or debited a member's wallet by hand." },
  "points.hold_resolved_by_admin": { producer: "points", description: "An admin captured or voided a partner's pending hold (a partner resolving its own holds is its checkout, not audited)." },
  "points.reversed": { producer: "points", description: "An admin or partner reversed a points transaction." },
  // Program (points subgraph; the program helper's room).
  "program.changed": { producer: "points", description: "An admin changed the loyalty program (tiers, earn tables, benefits, bonuses, retention)." },
  // Members' sign-in, by an admin (member subgraph). Codes and passwords never, only that one was issued.
  "member.enrolled_by_admin": { producer: "member", description: "An admin enrolled a member through the API (a partner's enrolment is its business; the member's email is not copied into the append-only trail)." },
  "member.activation_code_issued": { producer: "member", description: "An admin issued a member a new sign-in activation code (e.g. to reset a forgotten password); the previous one stopped working." },
  "member.sign_in_disabled": { producer: "member", description: "An admin disabled or re-enabled a member's sign-in." },
  "app_grant.revoked": { producer: "member", description: "An admin revoked a member's grant to a partner app (a member's own revocation is the member's, not audited here)." },
  // Dead letters: one action per owner, since each subgraph owns its outbox.
  "dead_letter.replayed.member": { producer: "member", description: "An admin replayed a dead-lettered event of the member subgraph." },
  "dead_letter.replayed.points": { producer: "points", description: "An admin replayed a dead-lettered event of the points subgraph." },
  "dead_letter.replayed.partner": { producer: "partner", description: "An admin replayed a dead-lettered event of the partner subgraph." },
} as const satisfies Record<string, AuditActionSpec>;

export type AuditAction = keyof typeof AUDIT_ACTIONS;
export const AUDIT_ACTION_NAMES = Object.keys(AUDIT_ACTIONS) as AuditAction[];

export function isAuditAction(action: string): action is AuditAction {
  return Object.hasOwn(AUDIT_ACTIONS, action);
}

/** The actions a subgraph records (its transactions emit them). */
export type AuditActionOf<S extends SchemaName> = { [A in AuditAction]: (typeof AUDIT_ACTIONS)[A]["producer"] extends S ? A : never }[AuditAction];

/** JSON values as stored in `before` / `after`. */
export type AuditJson = string | number | boolean | null | AuditJson[] | { [key: string]: AuditJson };

export interface AuditRecord {
  action: AuditAction;
  /** The kind of thing acted on: Partner, ApiClient, PartnerApp, Person, Offer, SettlementRun, SettlementDispute, PointsTransaction, Member, DeadLetterEvent, Program. */
  targetType: string;
  targetId: string;
  /** The target's relevant fields before the action (null when it did not exist). Secrets are redacted. */
  before: unknown;
  /** ... and after it (null when it no longer exists). */
  after: unknown;
  /** The partner the action concerns, when there is one (a partner's own client, an admin acting on a partner). */
  partnerId?: string | null;
}

/** The fields of the acting principal the trail records (services' narrower Actor types fit; extra fields are read when present). */
export type AuditPrincipal = Pick<Principal, "sub" | "role"> & Partial<Pick<Principal, "authority" | "personRole" | "clientId" | "partnerId">>;

const SECRET_KEY = /secret|password|passwd|hash|token|totp|otp|private|signing|credential|apikey|api_key|jwk|activation/i;
export const REDACTED = "[redacted]";

/**
 * A JSON copy of `value` with every secret-looking key's value replaced by "[redacted]" (any depth),
 * Dates as ISO strings, bigints as decimal strings, Prisma decimals as strings, undefined dropped.
 */
export function redactSecrets(value: unknown): AuditJson {
  if (value === null || value === undefined) return null;
  if (value instanceof Date) return value.toISOString();
  if (typeof value === "bigint") return value.toString();
  if (typeof value === "string" || typeof value === "boolean") return value;
  if (typeof value === "number") return Number.isFinite(value) ? value : String(value);
  if (Array.isArray(value)) return value.map(redactSecrets);
  if (typeof value === "object") {
    // Prisma.Decimal and other value objects: their string form.
    if (typeof (value as { toFixed?: unknown }).toFixed === "function" && typeof (value as { toJSON?: unknown }).toJSON === "function") return String(value);
    const out: Record<string, AuditJson> = {};
    for (const [k, v] of Object.entries(value)) {
      if (v === undefined) continue;
      out[k] = SECRET_KEY.test(k) ? (v === null ? null : REDACTED) : redactSecrets(v);
    }
    return out;
  }
  return String(value);
}

/** The request the audited action belongs to (set by lib/subgraph-server.ts around each GraphQL execution). */
const auditRequest = new AsyncLocalStorage<{ requestId: string }>();

/** Runs `fn` with `requestId` as the request audit entries recorded inside it belong to. */
export function withAuditRequest<T>(requestId: string, fn: () => T): T {
  return auditRequest.run({ requestId }, fn);
}

/**
 * Records one admin or partner-admin action in `tx` (the transaction that performs it): the
 * `audit.recorded` event in the acting subgraph's outbox. Returns the event id (= the audit entry's id).
 */
export async function recordAudit(tx: Prisma.TransactionClient, principal: AuditPrincipal, record: AuditRecord): Promise<string> {
  const spec: AuditActionSpec = AUDIT_ACTIONS[record.action];
  if (!spec) throw new Error(`recordAudit: ${record.action} is not in AUDIT_ACTIONS (lib/audit.ts)`);
  const p = principal as Principal;
  return emitFrom(tx, spec.producer, "audit.recorded", {
    action: record.action,
    source: spec.producer,
    targetType: record.targetType,
    targetId: record.targetId,
    partnerId: record.partnerId ?? null,
    actor: {
      sub: p.sub,
      role: p.role,
      authority: p.authority ?? (p.role === "MEMBER" ? "PERSON" : "CLIENT"),
      personRole: p.personRole ?? null,
      clientId: p.clientId ?? null,
      partnerId: p.partnerId ?? null,
    },
    requestId: auditRequest.getStore()?.requestId ?? null,
    at: new Date().toISOString(),
    before: redactSecrets(record.before),
    after: redactSecrets(record.after),
  });
}
