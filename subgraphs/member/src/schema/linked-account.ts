import type { LinkedAccount } from "../../../../prisma/generated/client/client.ts";
import { builder } from "../builder.ts";
import { confirmPartnerLink, declinePartnerLink, linkPartnerAccount } from "../services/members.ts";
import { MemberRef } from "./member.ts";
import { PartnerRef, partnerRef } from "./partner.ts";

export const LinkedAccountRef = builder.objectRef<LinkedAccount>("LinkedAccount").implement({
  description: "A member's account at one partner brand, known there by the partner's own reference (or a partner's request to link, until the member confirms it).",
  fields: (t) => ({
    partner: t.field({ type: PartnerRef, description: "The partner brand.", resolve: (l) => partnerRef(l.partnerId) }),
    externalRef: t.exposeString("externalRef", { description: "The member's id in that partner's systems." }),
    linkedAt: t.field({ type: "DateTime", description: "When the link (or the partner's link request) was made (UTC).", resolve: (l) => l.linkedAt }),
    confirmedAt: t.field({
      type: "DateTime",
      nullable: true,
      description: "When the link took effect (UTC): at enrolment for a member the partner enrolled, at the member's confirmation for an existing member; null while it is a request.",
      resolve: (l) => l.confirmedAt,
    }),
  }),
});

builder.objectFields(MemberRef, (t) => ({
  linkedAccounts: t.field({
    type: [LinkedAccountRef],
    nullable: true,
    authScopes: { memberScope: "member:profile" },
    description:
      "The partner brands the member is linked to, oldest first. A partner sees only its own link; the member and admins see all. An app acting for the member needs member:profile (else null with FORBIDDEN, extensions.scope).",
    resolve: (m, _a, ctx) => ctx.loaders.linkedAccounts.load(m.id),
  }),
  linkRequests: t.field({
    type: [LinkedAccountRef],
    nullable: true,
    authScopes: { memberScope: "member" },
    description:
      'Partners asking to link this member (they enrolled an email that already belonged to the member). Nothing is shared until the member confirms. The member and admins see them; partners see none; an app acting for the member gets null with FORBIDDEN (extensions.scope = "member").',
    resolve: (m, _a, ctx) => ctx.loaders.linkRequests.load(m.id),
  }),
}));

builder.mutationFields((t) => ({
  linkPartnerAccount: t.field({
    type: LinkedAccountRef,
    authScopes: { partner: true },
    description:
      "Sets the calling partner's reference for a member already linked to it (re-keying; the same reference again is a no-op). A member not linked to the caller is NOT_FOUND: to link a member you do not see yet, call enrollMember with the member's email, which links an existing member.",
    args: {
      memberId: t.arg.id({ description: "The member's coalition-wide id." }),
      externalRef: t.arg.string({ description: "The member's id in your systems (1–128 printable ASCII characters, no spaces); unique within your partner." }),
    },
    resolve: (_r, { memberId, externalRef }, ctx) => linkPartnerAccount(ctx.principal, String(memberId), externalRef),
  }),
  confirmPartnerLink: t.field({
    type: LinkedAccountRef,
    authScopes: { memberAuthority: "member:links" },
    description:
      "The member accepts a partner's link request: the partner then sees the member (personal data still only under consent). Confirming an active link changes nothing; no request from that partner is NOT_FOUND. Needs the member's own authority (its session, or an app granted member:links); a partner token never suffices.",
    args: { partnerId: t.arg.id({ description: "The partner that asked to link." }) },
    resolve: (_r, { partnerId }, ctx) => confirmPartnerLink(ctx.principal, String(partnerId)),
  }),
  declinePartnerLink: t.field({
    type: "Boolean",
    authScopes: { memberAuthority: "member:links" },
    description: "The member turns a partner's link request down. True when a request was removed. Needs the member's own authority (its session, or an app granted member:links).",
    args: { partnerId: t.arg.id({ description: "The partner that asked to link." }) },
    resolve: (_r, { partnerId }, ctx) => declinePartnerLink(ctx.principal, String(partnerId)),
  }),
}));
