import { HubError, notFound } from "../../../../lib/errors.ts";
import type { Member } from "../../../../prisma/generated/client/client.ts";
import { nodeIdOptions } from "../../../../lib/global-id.ts";
import { builder } from "../builder.ts";
import { NodeRef } from "./node-ref.ts";
import type { MemberContext } from "../context.ts";
import { readsUngated } from "../../../../lib/principal.ts";
import { DATA_CATEGORIES, type DataCategory } from "../../../../lib/vocabulary.ts";
import { lifecycleOf, rfmOf } from "../services/lifecycle.ts";
import { enrollMember, memberByPartnerRef } from "../services/members.ts";
import { DataCategoryEnum, LifecycleEnum } from "./enums.ts";

export const MemberRef = builder.objectRef<Member>("Member");

/**
 * Reads one consent-gated field. Members reading themselves and admins pass (admin reads of
 * personal data are logged); a partner needs an active consent for (member, itself, category,
 * the request's purpose), else the field is null with CONSENT_REQUIRED and the rest still answers.
 * Every read that passes for a partner lands in the request's data-access log batch.
 */
export async function gated<T>(ctx: MemberContext, memberId: string, category: DataCategory, value: () => T): Promise<T> {
  if (!readsUngated(ctx.principal, memberId)) {
    const scopes = await ctx.loaders.sharedScopes.load(memberId);
    if (!scopes.has(category)) {
      throw new HubError("CONSENT_REQUIRED", `The member has not consented to share ${category} with you for ${ctx.principal.purpose ?? "an undeclared purpose"}`, {
        category,
      });
    }
  }
  ctx.accessLog.record(memberId, category);
  return value();
}

const RfmRef = builder.objectRef<ReturnType<typeof rfmOf>>("RfmScores").implement({
  description: "RFM scores of a member (1 = lowest, 5 = highest), from points activity in the rolling 12 months (UTC months). For offer eligibility.",
  inaccessible: true,
  fields: (t) => ({
    recency: t.exposeInt("recency", { description: "5: last activity under 30 days ago; 4: under 60; 3: under 90; 2: under 180; 1: older or never." }),
    frequency: t.exposeInt("frequency", { description: "5: 24+ activities (earns and redemptions) in 12 months; 4: 12+; 3: 6+; 2: 2+; 1: fewer." }),
    monetary: t.exposeInt("monetary", { description: "5: 20,000+ points earned in 12 months; 4: 5,000+; 3: 1,000+; 2: 200+; 1: fewer." }),
    activities12m: t.exposeInt("activities12m", { description: "Earns and redemptions in the rolling 12 months." }),
    earnedPoints12m: t.field({
      type: "BigInt",
      description: "Points earned in the rolling 12 months net of reversals, in points (64-bit, a decimal string; internal, so no deprecated Int twin).",
      resolve: (r) => r.earnedPoints12m,
    }),
  }),
});

MemberRef.implement({
  description: "A coalition member: one identity across every partner brand. Personal fields are gated per data category: a partner sees them only under the member's active consent for the request's purpose.",
  interfaces: [NodeRef],
  fields: (t) => ({
    id: t.exposeID("id", { description: "The member's coalition-wide id." }),
    nodeId: t.id(nodeIdOptions("Member")),
    displayName: t.string({
      nullable: true,
      authScopes: { memberScope: "member:profile" },
      description:
        "Name to show. Data category PROFILE_BASIC: null with CONSENT_REQUIRED for a partner without consent. An app acting for the member (delegated token) needs member:profile: else null with FORBIDDEN (extensions.scope).",
      resolve: (m, _a, ctx) => gated(ctx, m.id, "PROFILE_BASIC", () => m.displayName),
    }),
    email: t.string({
      nullable: true,
      authScopes: { memberScope: "member:profile" },
      description: "Email address, lower-case, unique in the coalition. Data category PROFILE_CONTACT; an app acting for the member needs member:profile.",
      resolve: (m, _a, ctx) => gated(ctx, m.id, "PROFILE_CONTACT", () => m.email),
    }),
    phone: t.string({
      nullable: true,
      authScopes: { memberScope: "member:profile" },
      description: "Phone number in E.164 form, e.g. +8613800138000. Data category PROFILE_CONTACT; an app acting for the member needs member:profile.",
      resolve: (m, _a, ctx) => gated(ctx, m.id, "PROFILE_CONTACT", () => m.phone),
    }),
    birthday: t.string({
      nullable: true,
      authScopes: { memberScope: "member:profile" },
      description: "Date of birth as YYYY-MM-DD (a calendar date, no time zone). Data category PROFILE_BASIC; an app acting for the member needs member:profile.",
      resolve: (m, _a, ctx) => gated(ctx, m.id, "PROFILE_BASIC", () => m.birthday),
    }),
    // Like id, not personal data of any category: every caller that sees the member sees it.
    joinedAt: t.field({ type: "DateTime", description: "When the member joined the coalition (UTC).", resolve: (m) => m.joinedAt }),
    lifecycle: t.field({
      type: LifecycleEnum,
      nullable: true,
      // No named scope covers segments: only the member's own session (scope `member`).
      authScopes: { memberScope: "member" },
      description:
        'Lifecycle segment now. Data category SEGMENTS: null with CONSENT_REQUIRED for a partner without consent. Not readable by an app acting for the member (null with FORBIDDEN, extensions.scope = "member").',
      resolve: (m, _a, ctx) => gated(ctx, m.id, "SEGMENTS", () => lifecycleOf(m, ctx.now, ctx.settings)),
    }),
    sharedScopes: t.field({
      type: [DataCategoryEnum],
      inaccessible: true,
      description:
        "The data categories the current caller may read for this member: all six for the member itself and admins; for a partner, the categories of the member's active consents for (that partner, the request's purpose). Computed per request, never cached. For the query planner (@requires) only.",
      resolve: async (m, _a, ctx) => {
        const scopes = await ctx.loaders.sharedScopes.load(m.id);
        return DATA_CATEGORIES.filter((c) => scopes.has(c));
      },
    }),
    segment: t.field({
      type: LifecycleEnum,
      inaccessible: true,
      description: "The member's lifecycle segment, not consent-gated: used by other subgraphs for offer eligibility only (@requires).",
      resolve: (m, _a, ctx) => lifecycleOf(m, ctx.now, ctx.settings),
    }),
    rfm: t.field({
      type: RfmRef,
      inaccessible: true,
      description: "RFM scores, not consent-gated: used by other subgraphs for offer eligibility only (@requires).",
      resolve: async (m, _a, ctx) => rfmOf(m.lastActivityAt, await ctx.loaders.activityTotals.load(m.id), ctx.now),
    }),
  }),
});

builder.asEntity(MemberRef, {
  key: builder.selection<{ id: string }>("id"),
  // Batched, and the same visibility rule as the queries: an unlinked member's reference is null.
  resolveReference: (ref, ctx) => ctx.loaders.memberById.load(ref.id),
});

builder.queryFields((t) => ({
  me: t.field({
    type: MemberRef,
    nullable: true,
    authScopes: { member: true, partnerView: true },
    description:
      "The member the token speaks for: a member token's member, or the one member a partner-view token (token exchange) is bound to, seen exactly as that partner sees it (consent-gated per field and purpose, access-logged).",
    resolve: async (_r, _a, ctx) => {
      const id = ctx.principal.role === "MEMBER" ? ctx.principal.memberId : ctx.principal.boundMemberId;
      const m = id ? await ctx.loaders.memberById.load(id) : null;
      if (!m) throw notFound("Member");
      return m;
    },
  }),
  member: t.field({
    type: MemberRef,
    nullable: true,
    description: "A member by id. A partner sees only members linked to it (a partner-view token only the member it is bound to); admins see all; anything else is NOT_FOUND.",
    args: { id: t.arg.id({ description: "The member's coalition-wide id." }) },
    resolve: async (_r, { id }, ctx) => {
      const m = await ctx.loaders.memberById.load(String(id));
      if (!m) throw notFound("Member", String(id));
      return m;
    },
  }),
  memberByPartnerRef: t.field({
    type: MemberRef,
    nullable: true,
    description: "A member by a partner's own reference for it. A partner may ask only with its own partnerId (else NOT_FOUND; a partner-view token only for the member it is bound to); admins with any.",
    args: {
      partnerId: t.arg.id({ description: "The partner whose reference this is." }),
      externalRef: t.arg.string({ description: "The member's id in that partner's systems." }),
    },
    resolve: async (_r, { partnerId, externalRef }, ctx) => {
      const m = await memberByPartnerRef(ctx.principal, String(partnerId), externalRef);
      if (!m) throw notFound("Member");
      ctx.loaders.memberById.prime(m.id, m);
      return m;
    },
  }),
}));

const EnrollMemberInput = builder.inputType("EnrollMemberInput", {
  description: "A new member. Validated: nothing is written when a field is invalid (BAD_USER_INPUT names the field).",
  fields: (t) => ({
    email: t.string({ description: "Email address; trimmed and lower-cased; identifies the member across the coalition." }),
    displayName: t.string({ required: false, description: "Name to show, 1–100 characters." }),
    phone: t.string({ required: false, description: "Phone number with country code, e.g. +8613800138000 (spaces and dashes are removed)." }),
    birthday: t.string({ required: false, description: "Date of birth as YYYY-MM-DD, between 1900-01-01 and today." }),
    externalRef: t.string({
      required: false,
      description: "The member's id in the calling partner's systems (1–128 printable ASCII characters, no spaces). Required for a partner; not allowed for an admin.",
    }),
  }),
});

builder.mutationFields((t) => ({
  enrollMember: t.field({
    type: MemberRef,
    authScopes: { business: true },
    description:
      "Enrols a member. A partner's call also links the new member to it under externalRef. If the email already belongs to a member, a partner gets BAD_USER_INPUT with extensions.linkPending = true: a link request now waits for that member's confirmation (confirmPartnerLink), because a linked partner can act for the member. Repeating a call is a no-op. An admin enrols only; an existing email is BAD_USER_INPUT. Personal fields of the returned member follow the usual consent rules.",
    args: { input: t.arg({ type: EnrollMemberInput, description: "The member to enrol." }) },
    resolve: async (_r, { input }, ctx) => (await enrollMember(ctx.principal, input)).member,
  }),
}));
