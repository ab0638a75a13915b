import { builder } from "../builder.ts";
import { type AudienceOverlapResult, audienceOverlap } from "../services/audience.ts";
import { PartnerRef, partnerRef } from "./partner.ts";

const AudienceOverlapRef = builder.objectRef<AudienceOverlapResult>("AudienceOverlap").implement({
  description: "Members linked to both partners who consented to ANALYTICS with each of them. A k-anonymous aggregate: suppressed below the minimum cohort, and rounded.",
  fields: (t) => ({
    partner: t.field({ type: PartnerRef, description: "The calling partner.", resolve: (o) => partnerRef(o.partnerId) }),
    withPartner: t.field({ type: PartnerRef, description: "The other partner.", resolve: (o) => partnerRef(o.withPartnerId) }),
    members: t.exposeInt("members", {
      nullable: true,
      description: "Number of members, rounded down to a multiple of `granularity` and never below `minimumCohort`; null when suppressed.",
    }),
    suppressed: t.exposeBoolean("suppressed", { description: "True when fewer members than the minimum cohort qualify: no number is given." }),
    minimumCohort: t.exposeInt("minimumCohort", { description: "The smallest cohort the hub reports (members)." }),
    granularity: t.exposeInt("granularity", { description: "Counts are rounded down to a multiple of this (members)." }),
  }),
});

builder.queryFields((t) => ({
  audienceOverlap: t.field({
    type: AudienceOverlapRef,
    nullable: true,
    authScopes: { partner: true },
    description: "How many of your members are also members of another partner, among those who consented to ANALYTICS with both (k-anonymous).",
    args: { withPartnerId: t.arg.id({ description: "The other partner." }) },
    resolve: (_r, { withPartnerId }, ctx) => audienceOverlap(ctx.principal, String(withPartnerId), ctx.settings, ctx.now),
  }),
}));
