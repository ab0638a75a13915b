import type { Authority, Principal } from "../../../../lib/principal.ts";
import { builder } from "../builder.ts";
import { PurposeEnum, RoleEnum } from "./enums.ts";
import { MemberRef } from "./member.ts";
import { loadPartner, PartnerRef } from "./partner.ts";
import { PersonRoleEnum } from "./people.ts";
import { RateLimitStatusRef } from "./rate-limits.ts";

/**
 * `viewer`: who the hub takes the caller to be, for any valid token (issue 17 §6, "fewer guesses").
 * Read from the verified principal the gateway forwards; nothing is looked up but the partner.
 */
const AuthorityEnum = builder.enumType("Authority", {
  description: "How a token came by its authority.",
  values: {
    CLIENT: { description: "An API client's own token (client credentials): a partner's or the operator's backend." },
    PERSON: { description: "A person signed in at the hub: a member in the hub's member app, or an admin or partner staff in the console." },
    DELEGATED: { description: "A partner app acting for a member, with only the scopes the member approved (authorization code + PKCE)." },
    PARTNER_VIEW: { description: "A partner's view of one member (token exchange): that partner's consent-gated reads of that member only." },
  } as const,
});

const ViewerRef = builder.objectRef<Principal>("Viewer").implement({
  description: "The caller as the hub sees it: role, partner, scopes and purpose in force for this request.",
  fields: (t) => ({
    role: t.field({ type: RoleEnum, description: "ADMIN, PARTNER or MEMBER.", resolve: (p) => p.role }),
    authority: t.field({ type: AuthorityEnum, description: "How the token came by its authority.", resolve: (p): Authority => p.authority ?? "CLIENT" }),
    clientId: t.string({ nullable: true, description: "The OAuth client the token was issued to (API client, partner app or the hub's own app).", resolve: (p) => p.clientId ?? null }),
    partner: t.field({
      type: PartnerRef,
      nullable: true,
      description: "The partner the caller acts for or as (a partner's client or staff, or a partner app acting for a member); null for admins and members' own sessions.",
      resolve: (p, _a, ctx) => (p.partnerId ? loadPartner(ctx, p.partnerId) : null),
    }),
    member: t.field({
      type: MemberRef,
      nullable: true,
      description: "The member the token speaks for (a member's session or an app acting for one) or is bound to (a partner view); null otherwise.",
      resolve: (p) => {
        const id = p.memberId ?? p.boundMemberId ?? null;
        return id ? { id } : null;
      },
    }),
    personRole: t.field({ type: PersonRoleEnum, nullable: true, description: "For an admin or partner staff signed in as a person: the person's role; null otherwise.", resolve: (p) => p.personRole ?? null }),
    scopes: t.stringList({ description: "The OAuth scopes the token carries (e.g. hub:partner, member:wallet).", resolve: (p) => p.scope.split(/\s+/).filter(Boolean) }),
    limits: t.field({
      type: [RateLimitStatusRef],
      description:
        "The caller's rate limits as the gateway counted them for this request (this request included): the partner's and the API client's requests and estimated cost per 60-second window. Empty for callers that are not limited (admins, members' own sessions).",
      resolve: (_p, _a, ctx) => ctx.rateLimits ?? [],
    }),
    purpose: t.field({
      type: PurposeEnum,
      nullable: true,
      description: "For a partner: the purpose in force for this request (the Coalition-Purpose header, or the client's default); for an app acting for a member, its grant's purpose; null otherwise.",
      resolve: (p) => p.purpose ?? null,
    }),
  }),
});

builder.queryField("viewer", (t) =>
  t.field({
    type: ViewerRef,
    description: "Who am I: the caller as the hub sees it, for any valid token.",
    resolve: (_r, _a, ctx) => ctx.principal,
  }),
);
