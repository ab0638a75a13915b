import type { Purpose } from "./vocabulary.ts";

/** Who is calling, as verified by the gateway and re-asserted to the subgraphs. */
export type Role = "ADMIN" | "PARTNER" | "MEMBER";
export const ROLES: readonly Role[] = ["ADMIN", "PARTNER", "MEMBER"];

/**
 * How the caller came by its authority (DESIGN.md §3: machines and people differ, and a machine
 * acts for a person only with that person's own grant).
 * - CLIENT: an API client's own token (client_credentials): ADMIN or PARTNER, a machine.
 * - PERSON: a person signed in at the hub: a member's own session (MEMBER), or a coalition admin /
 *   partner staff member (ADMIN / PARTNER, with `personRole`).
 * - DELEGATED: a partner app acting for a member under the member's recorded grant (authorization
 *   code + PKCE): role MEMBER, `memberId` the member, `partnerId` + `clientId` the app, and only the
 *   scopes the member approved.
 * - PARTNER_VIEW: RFC 8693 token exchange of a partner's credentials + its own reference for a
 *   member, without the member: role PARTNER, bound to one member (`boundMemberId`). Exactly the
 *   partner's own consent-gated, access-logged view of that member; never the member's authority.
 */
export type Authority = "CLIENT" | "PERSON" | "DELEGATED" | "PARTNER_VIEW";
export const AUTHORITIES: readonly Authority[] = ["CLIENT", "PERSON", "DELEGATED", "PARTNER_VIEW"];

/** The roles of people who are not members (invited; ADMIN needs a second factor). */
export type PersonRole = "ADMIN" | "PARTNER_ADMIN" | "PARTNER_STAFF";
export const PERSON_ROLES: readonly PersonRole[] = ["ADMIN", "PARTNER_ADMIN", "PARTNER_STAFF"];

export interface Principal {
  /** The token's subject: an API client id (CLIENT, PARTNER_VIEW), the member id (MEMBER), the person id (PERSON staff/admin). */
  sub: string;
  role: Role;
  /** PARTNER: the caller's partner. MEMBER: the partner whose app holds the token (DELEGATED), else null. */
  partnerId: string | null;
  /** MEMBER: the member this token speaks for. */
  memberId: string | null;
  /** Space-separated OAuth scopes granted to the token. */
  scope: string;
  /** PARTNER: the purpose this request declared (Coalition-Purpose header or the client's default). */
  purpose: Purpose | null;
  /** How the caller came by its authority; absent means CLIENT (API clients, internal tests). */
  authority?: Authority;
  /** The OAuth client the token was issued to (API client, partner app, the hub's own member app). */
  clientId?: string | null;
  /** PARTNER_VIEW: the one member this token may be used about. */
  boundMemberId?: string | null;
  /** PERSON (non-member): the person's role. */
  personRole?: PersonRole | null;
  /** The grant or sign-in session the token belongs to (revocation is by grant/session). */
  grantId?: string | null;
  /** DELEGATED with `member:redeem`: the most points a day the member allowed this app to redeem (time zone: the coalition's). */
  redeemDailyLimit?: number | null;
}

/**
 * Scopes a MEMBER token can carry. `member` is the member's full authority and is only ever issued
 * to the member's own session; a partner app gets the named scopes the member approved.
 */
export const MEMBER_SCOPES = {
  member: "Everything the member may do: only the member's own session at the hub.",
  "member:profile": "Read my name, birthday, e-mail, phone and linked brands.",
  "member:wallet": "Read my points balance, expiring points, tier and activity.",
  "member:offers": "Read the offers I can use, and my claimed offers.",
  "member:offers:claim": "Claim offers for me.",
  "member:redeem": "Create redemption codes to spend my points at this app's brand, up to a daily limit I set.",
  "member:consents": "Grant and withdraw my data-sharing consents.",
  "member:links": "Confirm or decline brands' requests to link my account.",
} as const;
export type MemberScope = keyof typeof MEMBER_SCOPES;

export function scopesOf(p: Pick<Principal, "scope">): Set<string> {
  return new Set(p.scope.split(" ").filter(Boolean));
}

/**
 * True when the principal speaks with the member's own authority for `scope`: a MEMBER token of the
 * member's own session (`member`), or a DELEGATED one that carries exactly that scope. Never true for
 * a PARTNER token, exchanged or not.
 */
export function hasMemberAuthority(p: Principal, scope: MemberScope): boolean {
  if (p.role !== "MEMBER" || !p.memberId) return false;
  const s = scopesOf(p);
  return s.has("member") || s.has(scope);
}

/**
 * Is a read of this member's data exempt from consent? Yes for the member itself (its own session,
 * or an app acting for it: that one is limited by the scopes the member granted, not by consents)
 * and for admins; every other caller (a partner, another member) reads consent-gated data only
 * under the member's consent. The one rule behind every gated field of every subgraph.
 */
export function readsUngated(p: Pick<Principal, "role" | "memberId">, memberId: string): boolean {
  return p.role === "ADMIN" || (p.role === "MEMBER" && p.memberId === memberId);
}

/** The authority, defaulting the absent value of older assertions to CLIENT. */
export const authorityOf = (p: Principal): Authority => p.authority ?? (p.role === "MEMBER" ? "PERSON" : "CLIENT");

/**
 * The internal "service" principal: the gateway's token service calling a subgraph's internal
 * endpoints (verify a client secret, resolve a partner-member reference). Never reaches GraphQL.
 */
export const SERVICE_SUB = "service:gateway";
