import { notFound } from "../../../../lib/errors.ts";
import { scopesOf } from "../../../../lib/principal.ts";
import type { AppGrant } from "../../../../prisma/generated/client/client.ts";
import { builder } from "../builder.ts";
import { appGrantsOf, issueActivationCode, revokeAppGrant, setMemberSignInDisabled } from "../services/sign-in.ts";
import { MemberRef } from "./member.ts";
import { PartnerRef, partnerRef } from "./partner.ts";

/** The member's own session (scope `member`), not a partner app acting for the member. */
const ownSession = (p: { role: string; scope: string }) => p.role === "MEMBER" && scopesOf(p).has("member");

const ActivationCodeRef = builder.objectRef<{ memberId: string; code: string; expiresAt: Date }>("ActivationCode").implement({
  description:
    "A one-time code with which a member sets a password on the hub's activation page (/account/activate). Shown only in this response; the hub keeps only its hash. The hub sends no e-mail: hand the code to the member.",
  fields: (t) => ({
    memberId: t.exposeID("memberId", { description: "The member the code activates." }),
    code: t.exposeString("code", { description: "The code, 16 letters and digits in groups of four (case, spaces and dashes do not matter)." }),
    expiresAt: t.field({ type: "DateTime", description: "When the code stops working (UTC), 7 days after issue.", resolve: (c) => c.expiresAt }),
  }),
});

export const AppGrantRef = builder.objectRef<AppGrant>("AppGrant").implement({
  description: "A member's grant to a partner app, recorded when the member approved the app on the hub's consent screen (a receipt: never edited; revoking sets revokedAt). The app's tokens carry only these scopes.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "The receipt id (the tokens' grant_id)." }),
    partner: t.field({ type: PartnerRef, nullable: true, description: "The partner whose app holds the grant.", resolve: (g) => (g.partnerId ? partnerRef(g.partnerId) : null) }),
    clientId: t.exposeString("clientId", { description: "The app's OAuth client id." }),
    appName: t.exposeString("appName", { description: "The app's name as shown on the consent screen." }),
    scopes: t.exposeStringList("scopes", { description: "The approved scopes (lib/principal.ts MEMBER_SCOPES)." }),
    redeemDailyLimit: t.exposeInt("redeemDailyLimit", { nullable: true, description: "With member:redeem: the most points a day the app may redeem (points/day, the coalition's time zone); null otherwise." }),
    grantedAt: t.field({ type: "DateTime", description: "When the member approved the app (UTC).", resolve: (g) => g.grantedAt }),
    revokedAt: t.field({ type: "DateTime", nullable: true, description: "When the grant was revoked (UTC); null while active.", resolve: (g) => g.revokedAt }),
  }),
});

builder.objectFields(MemberRef, (t) => ({
  appGrants: t.field({
    type: [AppGrantRef],
    description: "The partner apps the member approved (active and revoked), newest first. Only the member's own session (and admins) can see them.",
    resolve: async (m, _a, ctx) => {
      const p = ctx.principal;
      if (!(p.role === "ADMIN" || (ownSession(p) && p.memberId === m.id))) return [];
      return appGrantsOf(m.id);
    },
  }),
}));

builder.mutationFields((t) => ({
  issueActivationCode: t.field({
    type: ActivationCodeRef,
    authScopes: { business: true },
    description:
      "A new one-time activation code for a member's sign-in (the previous one stops working). A partner may ask only for a member linked to it that has not activated sign-in yet (call it right after enrollMember); an admin for any member, also to reset a forgotten password. Anything else is NOT_FOUND or BAD_USER_INPUT.",
    args: { memberId: t.arg.id({ description: "The member." }) },
    resolve: (_r, { memberId }, ctx) => issueActivationCode(ctx.principal, String(memberId)),
  }),
  revokeAppGrant: t.field({
    type: AppGrantRef,
    description:
      "The member withdraws a partner app's grant: the app's tokens are refused within 5 seconds and its refresh tokens stop working. Only the member's own session (or an admin); anything else is NOT_FOUND. Revoking twice keeps the first time.",
    args: { id: t.arg.id({ description: "The grant's receipt id." }) },
    resolve: (_r, { id }, ctx) => {
      const p = ctx.principal;
      if (!(p.role === "ADMIN" || ownSession(p))) throw notFound("AppGrant", String(id));
      return revokeAppGrant(p, String(id));
    },
  }),
  setMemberSignInDisabled: t.boolean({
    authScopes: { admin: true },
    description: "ADMIN disables (true) or re-enables (false) a member's sign-in. Disabling refuses every token of the member's sessions and app grants within 5 seconds. Returns the new state.",
    args: {
      memberId: t.arg.id({ description: "The member." }),
      disabled: t.arg.boolean({ description: "True to disable, false to enable." }),
    },
    resolve: async (_r, { memberId, disabled }, ctx) => {
      await setMemberSignInDisabled(ctx.principal, String(memberId), disabled);
      return disabled;
    },
  }),
}));
