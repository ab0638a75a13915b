import { defaultFieldResolver, type GraphQLSchema } from "graphql";
import { HubError } from "./errors.ts";
import { authorityOf, hasMemberAuthority, type MemberScope, type Principal, scopesOf } from "./principal.ts";
import type { Purpose } from "./vocabulary.ts";

/**
 * How the subgraphs enforce the authority a token carries (DESIGN.md §3; lib/principal.ts says what
 * each Authority means). Three rules, each in one place:
 *
 * 1. Acting for a member (consents, links, redemption codes, claims) needs the member's own
 *    authority for that scope (`hasMemberAuthority`): scope-auth `memberAuthority` on the mutation.
 * 2. A DELEGATED token (a partner app under the member's grant) reads member data only within the
 *    scopes the member approved (`memberScope` on the field; null + FORBIDDEN with
 *    `extensions.scope` otherwise), and its reads are in the member's data-access log under the
 *    app's partner (`delegatedReader`).
 * 3. A PARTNER_VIEW token (token exchange: a partner's credentials + its own reference, no member
 *    present) is the partner's own view of ONE member: the member queries answer for that member
 *    only, everything else is FORBIDDEN (`guardPartnerView`, applied by the subgraph server to every
 *    root field of every subgraph, default deny).
 */

/** The error every refusal of this module raises: the caller is known, the action is not allowed. */
export function scopeForbidden(p: Principal, scope: MemberScope, what: string): HubError {
  const authority = authorityOf(p);
  const why =
    p.role !== "MEMBER"
      ? `${what} needs the member's own authority (its own session, or an app it granted "${scope}"); a ${p.role} token${authority === "PARTNER_VIEW" ? " from token exchange" : ""} never has it`
      : authority === "DELEGATED"
        ? `${what} needs the scope "${scope}", which the member did not grant this app`
        : `${what} needs the scope "${scope}"`;
  return new HubError("FORBIDDEN", why, { scope });
}

const scopeSets = new WeakMap<Principal, ReadonlySet<string>>();
/** The token's scopes as a Set, computed once per request's principal (the hot path pays one lookup). */
function scopeSet(p: Principal): ReadonlySet<string> {
  let s = scopeSets.get(p);
  if (!s) scopeSets.set(p, (s = scopesOf(p)));
  return s;
}

/**
 * May this caller read data of the scope `scope`? Only DELEGATED tokens are limited: the member's
 * own session, admins and partners (consent-gated per field elsewhere) are not scope-gated.
 */
export function mayReadScope(p: Principal, scope: MemberScope): boolean {
  if (p.authority !== "DELEGATED") return true;
  if (p.role !== "MEMBER" || !p.memberId) return false;
  const s = scopeSet(p);
  return s.has("member") || s.has(scope);
}

/** Throws FORBIDDEN (extensions.scope) unless `mayReadScope`: for resolvers that gate part of their answer. */
export function requireReadScope(p: Principal, scope: MemberScope, what: string): void {
  if (!mayReadScope(p, scope)) throw scopeForbidden(p, scope, what);
}

/** Throws FORBIDDEN (extensions.scope) unless the caller has the member's own authority for `scope`. */
export function requireMemberAuthority(p: Principal, scope: MemberScope, what: string): void {
  if (!hasMemberAuthority(p, scope)) throw scopeForbidden(p, scope, what);
}

/** The purpose a DELEGATED read is logged under when the grant states none. */
export const DELEGATED_DEFAULT_PURPOSE: Purpose = "ACCOUNT_SERVICING";

/**
 * For a DELEGATED token: the partner whose app reads and the purpose to log the read under (the
 * grant's, else ACCOUNT_SERVICING: an app the member signed in to serves the member's account).
 * Null for every other caller.
 */
export function delegatedReader(p: Pick<Principal, "authority" | "role" | "partnerId" | "purpose">): { partnerId: string; purpose: Purpose } | null {
  if (p.authority !== "DELEGATED" || p.role !== "MEMBER" || !p.partnerId) return null;
  return { partnerId: p.partnerId, purpose: p.purpose ?? DELEGATED_DEFAULT_PURPOSE };
}

export const isPartnerView = (p: Pick<Principal, "authority">): boolean => p.authority === "PARTNER_VIEW";

/**
 * The root fields a PARTNER_VIEW token may use: the member queries (`me` is the bound member;
 * `member` / `memberByPartnerRef` answer only for it) and the federation entry points the gateway
 * uses to fetch the same member's fields from the other subgraphs. Everything else (every
 * mutation, partner-level queries: offers, settlement, API clients, audience overlap, the partner
 * directory, transactions by id) is FORBIDDEN: a field added later is denied until listed here.
 */
export const PARTNER_VIEW_QUERIES: ReadonlySet<string> = new Set(["me", "member", "memberByPartnerRef", "viewer", "_entities", "_service", "__typename"]);

const guarded = new WeakSet<GraphQLSchema>();

/**
 * Wraps every root field of `schema` (Query, Mutation, Subscription) so that a PARTNER_VIEW
 * principal reaches only `PARTNER_VIEW_QUERIES`. Any other caller pays one property read per root
 * field. Idempotent per schema; the subgraph server applies it to the schema it serves.
 */
export function guardPartnerView(schema: GraphQLSchema): GraphQLSchema {
  if (guarded.has(schema)) return schema;
  guarded.add(schema);
  for (const root of [schema.getQueryType(), schema.getMutationType(), schema.getSubscriptionType()]) {
    if (!root) continue;
    const isQuery = root === schema.getQueryType();
    for (const field of Object.values(root.getFields())) {
      if (isQuery && PARTNER_VIEW_QUERIES.has(field.name)) continue;
      const resolve = field.resolve ?? defaultFieldResolver;
      const action = `${root.name}.${field.name}`;
      field.resolve = (source, args, ctx: { principal?: Principal }, info) => {
        if (ctx.principal?.authority === "PARTNER_VIEW") {
          throw new HubError(
            "FORBIDDEN",
            isQuery
              ? `A partner-view token (token exchange) reads only its one member (me, member, memberByPartnerRef); ${action} is not allowed`
              : `A partner-view token (token exchange) cannot change anything; ${action} needs the member's own authority or the partner's own API client`,
          );
        }
        return resolve(source, args, ctx, info);
      };
    }
  }
  return schema;
}
