import type { Consent } from "../../../../prisma/generated/client/client.ts";
import { builder } from "../builder.ts";
import { consentStatus, grantConsent, revokeConsent } from "../services/consents.ts";
import { ConsentStatusEnum, DataCategoryEnum, PurposeEnum } from "./enums.ts";
import { MemberRef } from "./member.ts";
import { PartnerRef, partnerRef } from "./partner.ts";

export const ConsentRef = builder.objectRef<Consent>("Consent").implement({
  description:
    "A consent receipt: the member lets one partner read some data categories for one purpose, until it expires or the member revokes it. Receipts are never edited; a new grant is a new receipt, and what a partner may read is the union of its active receipts.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "The receipt id." }),
    partner: t.field({ type: PartnerRef, description: "The partner the consent was given to.", resolve: (c) => partnerRef(c.partnerId) }),
    categories: t.field({ type: [DataCategoryEnum], description: "The data categories the partner may read.", resolve: (c) => c.categories }),
    purpose: t.field({ type: PurposeEnum, description: "The only purpose these reads may serve.", resolve: (c) => c.purpose }),
    status: t.field({
      type: ConsentStatusEnum,
      description: "ACTIVE, REVOKED or EXPIRED, derived at the time of the request.",
      resolve: (c, _a, ctx) => consentStatus(c, ctx.now),
    }),
    grantedAt: t.field({ type: "DateTime", description: "When the member granted it (UTC).", resolve: (c) => c.grantedAt }),
    expiresAt: t.field({ type: "DateTime", nullable: true, description: "When it stops counting by itself (UTC); null = until revoked.", resolve: (c) => c.expiresAt }),
    revokedAt: t.field({ type: "DateTime", nullable: true, description: "When the member revoked it (UTC); null while not revoked.", resolve: (c) => c.revokedAt }),
    noticeVersion: t.exposeString("noticeVersion", { description: "Version of the privacy notice the member saw when granting." }),
    collectionMethod: t.exposeString("collectionMethod", {
      description: "How the consent was collected: MEMBER_APP (the coalition's member app), PARTNER_APP (a partner's app with a member token) or IMPORT (migrated records, demo data).",
    }),
    jurisdiction: t.exposeString("jurisdiction", { nullable: true, description: "Jurisdiction whose law governs the consent, ISO 3166-1 alpha-2 (e.g. CN), when given." }),
    policyUrl: t.exposeString("policyUrl", { nullable: true, description: "URL of the privacy notice the member was shown, when given." }),
  }),
});

builder.objectFields(MemberRef, (t) => ({
  consents: t.field({
    type: [ConsentRef],
    nullable: true,
    authScopes: { memberScope: "member" },
    description:
      'The member\'s consent receipts (active, revoked and expired), newest first. The member and admins see all; a partner sees only the receipts given to it. An app acting for the member (delegated token) never sees them: null with FORBIDDEN (extensions.scope = "member").',
    resolve: (m, _a, ctx) => ctx.loaders.consents.load(m.id),
  }),
}));

const GrantConsentInput = builder.inputType("GrantConsentInput", {
  description: "A consent to grant. Nothing is written when a field is invalid (BAD_USER_INPUT names the field).",
  fields: (t) => ({
    partnerId: t.id({ description: "The partner to share with; the member must be linked to it." }),
    categories: t.field({ type: [DataCategoryEnum], description: "The data categories to share (at least one)." }),
    purpose: t.field({ type: PurposeEnum, description: "The one purpose the partner may read them for." }),
    expiresAt: t.field({ type: "DateTime", required: false, description: "When the consent stops counting by itself; in the future, at most 5 years ahead. Omit for until revoked." }),
    noticeVersion: t.string({ description: "Version of the privacy notice shown to the member (1–64 characters)." }),
    jurisdiction: t.string({ required: false, description: "Jurisdiction whose law governs the consent, ISO 3166-1 alpha-2, e.g. CN." }),
    policyUrl: t.string({ required: false, description: "http(s) URL of the privacy notice shown to the member." }),
  }),
});

builder.mutationFields((t) => ({
  grantConsent: t.field({
    type: ConsentRef,
    authScopes: { memberAuthority: "member:consents" },
    description:
      "The member lets a linked partner read data categories for one purpose. Effective from the next request; returns the receipt. Needs the member's own authority: its own session, or an app it granted member:consents (else FORBIDDEN with extensions.scope); a partner token never suffices.",
    args: { input: t.arg({ type: GrantConsentInput, description: "What to share, with whom, for what." }) },
    resolve: (_r, { input }, ctx) => grantConsent(ctx.principal, input),
  }),
  revokeConsent: t.field({
    type: ConsentRef,
    authScopes: { memberAuthority: "member:consents" },
    description:
      "The member withdraws a consent (as easy as granting). It stops counting from the very next request and the partner is notified. Revoking again changes nothing; another member's receipt is NOT_FOUND. Needs the member's own authority (its session, or an app granted member:consents).",
    args: { consentId: t.arg.id({ description: "The receipt id." }) },
    resolve: (_r, { consentId }, ctx) => revokeConsent(ctx.principal, String(consentId)),
  }),
}));
