import type { Person } from "../../../../prisma/generated/client/client.ts";
import { builder } from "../builder.ts";
import { invitePerson, listPeople, setPersonDisabled } from "../services/people.ts";
import { PartnerRef } from "./partner.ts";

const PersonRef = builder.objectRef<Person>("Person").implement({
  description: "A person who is not a member: a coalition admin (ADMIN, signs in with a TOTP second factor) or a partner's staff (PARTNER_ADMIN, PARTNER_STAFF). Never carries a password or TOTP secret.",
  fields: (t) => ({
    id: t.exposeID("id", { description: "The person id (the sub of the person's tokens)." }),
    email: t.exposeString("email", { description: "The sign-in login (lower-cased)." }),
    displayName: t.exposeString("displayName", { nullable: true, description: "Name to show, when given." }),
    role: t.exposeString("role", { description: "ADMIN, PARTNER_ADMIN or PARTNER_STAFF." }),
    partner: t.field({ type: PartnerRef, nullable: true, description: "The partner of partner staff; null for an ADMIN.", resolve: (p, _a, ctx) => (p.partnerId ? ctx.loaders.partnerById.load(p.partnerId) : null) }),
    activated: t.boolean({ description: "True once the person set a password with the activation code.", resolve: (p) => !!p.passwordHash }),
    disabledAt: t.field({ type: "DateTime", nullable: true, description: "When the person was disabled (UTC); null while active.", resolve: (p) => p.disabledAt }),
    createdAt: t.field({ type: "DateTime", description: "When the person was invited (UTC).", resolve: (p) => p.createdAt }),
  }),
});

const InvitationRef = builder.objectRef<{ person: Person; activationCode: string; expiresAt: Date }>("PersonInvitation").implement({
  description: "An invitation: hand the one-time activation code to the person, who sets a password at /account/activate (an ADMIN also receives its TOTP secret there, once). Shown only in this response.",
  fields: (t) => ({
    person: t.field({ type: PersonRef, description: "The invited person.", resolve: (i) => i.person }),
    activationCode: t.exposeString("activationCode", { description: "The one-time code (16 characters in groups of four)." }),
    expiresAt: t.field({ type: "DateTime", description: "When the code stops working (UTC), 7 days after the invitation.", resolve: (i) => i.expiresAt }),
  }),
});

export const PersonRoleEnum = builder.enumType("PersonRole", {
  description: "The roles of people who are not members.",
  values: {
    ADMIN: { description: "A coalition admin: everything an ADMIN may do; TOTP required at sign-in." },
    PARTNER_ADMIN: { description: "A partner's administrator: its partner's data, and may invite and disable its partner's staff." },
    PARTNER_STAFF: { description: "A partner's staff member: its partner's data." },
  } as const,
});

builder.queryFields((t) => ({
  people: t.field({
    type: [PersonRef],
    authScopes: { business: true },
    description: "People who are not members, newest first (at most 1,000): an admin sees all, a partner its own staff.",
    resolve: (_r, _a, ctx) => listPeople(ctx.principal),
  }),
}));

builder.mutationFields((t) => ({
  invitePerson: t.field({
    type: InvitationRef,
    authScopes: { business: true },
    description:
      "Invites a person: an admin invites anyone (ADMIN, or staff of any partner); a partner's PARTNER_ADMIN (signed in) invites staff of its own partner. Anything else is NOT_FOUND. A known email is BAD_USER_INPUT.",
    args: {
      email: t.arg.string({ description: "The person's e-mail, the sign-in login." }),
      role: t.arg({ type: PersonRoleEnum, description: "The person's role." }),
      partnerId: t.arg.id({ required: false, description: "The partner of partner staff; omitted for ADMIN." }),
      displayName: t.arg.string({ required: false, description: "Name to show, 1–100 characters." }),
    },
    resolve: (_r, args, ctx) => invitePerson(ctx.principal, args),
  }),
  setPersonDisabled: t.field({
    type: PersonRef,
    authScopes: { business: true },
    description: "Disables (true) or re-enables (false) a person: disabling refuses the person's tokens within 5 seconds. An admin for anyone; a PARTNER_ADMIN for its own partner's staff; else NOT_FOUND.",
    args: {
      personId: t.arg.id({ description: "The person." }),
      disabled: t.arg.boolean({ description: "True to disable, false to enable." }),
    },
    resolve: (_r, { personId, disabled }, ctx) => setPersonDisabled(ctx.principal, String(personId), disabled),
  }),
}));
