import { AUDIT_ACTION_NAMES, AUDIT_ACTIONS } from "../../../../lib/audit.ts";
import { pageArgs, pageInfoOf } from "../../../../lib/pothos.ts";
import type { BiPage } from "../../../../lib/paging.ts";
import { builder } from "../builder.ts";
import { type AuditEntry, encodeCursor, exportAuditTrail, listAuditTrail, MAX_EXPORT_PAGE } from "../services/audit/reads.ts";
import { PageInfoRef } from "./offer.ts";
import { PartnerRef } from "./partner.ts";

// The admin audit trail (issue 18 §6): lib/audit.ts records, services/audit/ stores and reads.

const json = (v: unknown) => (v === null || v === undefined ? null : JSON.stringify(v));

const AuditActorRef = builder.objectRef<AuditEntry>("AuditActor").implement({
  description: "Who performed an audited action, as the gateway verified it.",
  fields: (t) => ({
    id: t.exposeString("actorSub", { description: "The token's subject: a person id (people who sign in), an API client id (machines), `cli:<user>` (the operator's command line)." }),
    role: t.exposeString("actorRole", { description: "ADMIN or PARTNER (MEMBER never performs an audited action)." }),
    authority: t.exposeString("actorAuthority", { description: "How the caller came by its authority: CLIENT (an API client's own token) or PERSON (a signed-in person)." }),
    personRole: t.exposeString("actorPersonRole", { nullable: true, description: "ADMIN, PARTNER_ADMIN or PARTNER_STAFF for a person; null for an API client." }),
    clientId: t.exposeString("actorClientId", { nullable: true, description: "The OAuth client the token was issued to (the API client, or the hub console for people)." }),
    partner: t.field({
      type: PartnerRef,
      nullable: true,
      description: "The actor's partner (a partner's client or staff); null for admins.",
      resolve: (e, _a, ctx) => (e.actorPartnerId ? ctx.loaders.partnerById.load(e.actorPartnerId) : null),
    }),
  }),
});

const AuditEntryRef = builder.objectRef<AuditEntry>("AuditEntry").implement({
  description:
    "One admin or partner-admin action, recorded append-only in the transaction that performed it: who, when, what, before and after. Secrets (client secrets, password hashes, TOTP seeds, activation codes) are never recorded.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "The entry's id (the id of the audit.recorded event that carried it)." }),
    at: t.field({ type: "DateTime", description: "When the action was performed (UTC).", resolve: (e) => e.at }),
    action: t.exposeString("action", { description: "What was done, e.g. `partner.deactivated`: one of `auditActions`." }),
    source: t.exposeString("source", { description: "The subgraph whose transaction performed it: member, points or partner." }),
    targetType: t.exposeString("targetType", { description: "The kind of thing acted on: Partner, ApiClient, Person, Offer, SettlementRun, SettlementLine, Member, PointsTransaction, DeadLetterEvent, Program." }),
    targetId: t.exposeString("targetId", { description: "Its id (an API client's client id; a partner, person, offer, run, line, member or transaction uuid; an event id)." }),
    partner: t.field({
      type: PartnerRef,
      nullable: true,
      description: "The partner the action concerns, when there is one.",
      resolve: (e, _a, ctx) => (e.partnerId ? ctx.loaders.partnerById.load(e.partnerId) : null),
    }),
    actor: t.field({ type: AuditActorRef, description: "Who did it.", resolve: (e) => e }),
    requestId: t.exposeString("requestId", { nullable: true, description: "The request id of the API call that did it (as in the error responses and logs); null from the command line." }),
    before: t.string({
      nullable: true,
      description: "The target's relevant fields before the action, as JSON object text; null when it did not exist yet. Points are whole points, money a decimal string in the coalition's currency, times ISO-8601 UTC.",
      resolve: (e) => json(e.before),
    }),
    after: t.string({ nullable: true, description: "The same fields after the action, as JSON object text.", resolve: (e) => json(e.after) }),
  }),
});

const AuditEntryEdgeRef = builder.objectRef<AuditEntry>("AuditEntryEdge").implement({
  description: "An audit entry in a connection.",
  fields: (t) => ({
    cursor: t.string({ description: "Opaque cursor of this entry.", resolve: (e) => encodeCursor(e) }),
    node: t.field({ type: AuditEntryRef, description: "The entry.", resolve: (e) => e }),
  }),
});

const AuditEntryConnectionRef = builder.objectRef<BiPage<AuditEntry>>("AuditEntryConnection").implement({
  description: "A page of the audit trail, newest first (Relay cursor connection, both directions).",
  fields: (t) => ({
    edges: t.field({ type: [AuditEntryEdgeRef], description: "The entries of this page.", resolve: (p) => p.rows }),
    pageInfo: t.field({ type: PageInfoRef, description: "Whether items follow or precede this page, and the cursors to continue from.", resolve: (p) => pageInfoOf(p, encodeCursor) }),
  }),
});

const AuditFilterInput = builder.inputType("AuditTrailFilter", {
  description: "Which entries of the audit trail to return; every given field must match (AND). All optional.",
  fields: (t) => ({
    actorId: t.string({ required: false, description: "Only actions by this actor (AuditActor.id: a person id, an API client id)." }),
    action: t.string({ required: false, description: "Only this action, e.g. `settlement.run_approved` (one of `auditActions`)." }),
    targetType: t.string({ required: false, description: "Only actions on this kind of target, e.g. Partner." }),
    targetId: t.string({ required: false, description: "Only actions on this target id." }),
    partnerId: t.id({ required: false, description: "Only actions concerning this partner." }),
    from: t.field({ type: "DateTime", required: false, description: "Only actions at or after this time (UTC)." }),
    to: t.field({ type: "DateTime", required: false, description: "Only actions before this time (UTC)." }),
  }),
});

const AuditExportFormatEnum = builder.enumType("AuditExportFormat", {
  description: "The format of an audit trail export.",
  values: {
    CSV: { description: "RFC 4180 CSV, CRLF line ends, a header line on the first page; before/after as JSON text; cells starting with = + - @ are prefixed with ' (no spreadsheet formulas)." },
    JSON: { description: "A JSON array of entries (id, at, action, source, targetType, targetId, partnerId, actor fields, requestId, before, after as objects)." },
  } as const,
});

const AuditExportRef = builder.objectRef<{ format: "CSV" | "JSON"; content: string; entries: number; endCursor: string | null }>("AuditTrailExport").implement({
  description: "One page of an audit trail export. Fetch the next page with `after: endCursor` until endCursor is null; concatenate the pages' content (CSV) or their arrays (JSON).",
  fields: (t) => ({
    format: t.field({ type: AuditExportFormatEnum, description: "The format of `content`.", resolve: (x) => x.format }),
    content: t.exposeString("content", { description: "The entries of this page in that format." }),
    entries: t.exposeInt("entries", { description: "How many entries this page holds." }),
    endCursor: t.exposeString("endCursor", { nullable: true, description: "Pass as `after` for the next page; null when this is the last." }),
  }),
});

const AuditActionInfoRef = builder.objectRef<{ name: string; source: string; description: string }>("AuditActionInfo").implement({
  description: "An action the audit trail records.",
  fields: (t) => ({
    name: t.exposeString("name", { description: "The action's name, as in AuditEntry.action." }),
    source: t.exposeString("source", { description: "The subgraph that performs it: member, points or partner." }),
    description: t.exposeString("description", { description: "What it is." }),
  }),
});

builder.queryFields((t) => ({
  auditTrail: t.field({
    type: AuditEntryConnectionRef,
    authScopes: { admin: true },
    description: "ADMIN only (FORBIDDEN otherwise). The audit trail of admin and partner-admin actions, newest first, filtered.",
    args: {
      filter: t.arg({ type: AuditFilterInput, required: false, description: "Which entries; omit for all." }),
      ...pageArgs(t.arg, "entries"),
    },
    resolve: (_r, args, ctx) => listAuditTrail(ctx.principal, args),
  }),
  auditTrailExport: t.field({
    type: AuditExportRef,
    authScopes: { admin: true },
    description: `ADMIN only (FORBIDDEN otherwise). The filtered audit trail as CSV or JSON, newest first, one page of up to ${MAX_EXPORT_PAGE.toLocaleString("en")} entries per call (follow endCursor).`,
    args: {
      filter: t.arg({ type: AuditFilterInput, required: false, description: "Which entries; omit for all." }),
      format: t.arg({ type: AuditExportFormatEnum, description: "CSV or JSON." }),
      first: t.arg.int({ required: false, description: `Entries per page, 1–${MAX_EXPORT_PAGE.toLocaleString("en")}; default ${MAX_EXPORT_PAGE.toLocaleString("en")}.` }),
      after: t.arg.string({ required: false, description: "endCursor of the previous page." }),
    },
    resolve: (_r, args, ctx) => exportAuditTrail(ctx.principal, args),
  }),
  auditActions: t.field({
    type: [AuditActionInfoRef],
    authScopes: { admin: true },
    description: "ADMIN only. Every action the audit trail records, with the subgraph that performs it.",
    resolve: () => AUDIT_ACTION_NAMES.map((name) => ({ name, source: AUDIT_ACTIONS[name].producer, description: AUDIT_ACTIONS[name].description })),
  }),
}));
