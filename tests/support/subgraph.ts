import { IDENTITY_HEADER, REQUEST_ID_HEADER, internalKey, signIdentity } from "../../lib/internal-auth.ts";
import type { MemberScope, Principal } from "../../lib/principal.ts";

/** The internal secret every test hub and test subgraph uses. */
export const TEST_INTERNAL_SECRET = "test-internal-secret-0123456789abcdef0123456789";
export const testInternalKey = internalKey(TEST_INTERNAL_SECRET);

export const adminPrincipal = (sub = "test-admin"): Principal => ({ sub, role: "ADMIN", partnerId: null, memberId: null, scope: "", purpose: null });
export const partnerPrincipal = (partnerId: string, purpose: Principal["purpose"] = "ACCOUNT_SERVICING"): Principal => ({
  sub: `client-${partnerId}`,
  role: "PARTNER",
  partnerId,
  memberId: null,
  scope: "",
  purpose,
});
/** The member's own session (scope `member`: the member's full authority). */
export const memberPrincipal = (memberId: string, partnerId: string | null = null): Principal => ({
  sub: memberId,
  role: "MEMBER",
  partnerId,
  memberId,
  scope: "member",
  purpose: null,
  authority: "PERSON",
});
/** A partner app acting for the member under the member's grant of `scopes` (lib/principal.ts MEMBER_SCOPES). */
export const delegatedPrincipal = (
  memberId: string,
  partnerId: string,
  scopes: MemberScope[],
  opts: { clientId?: string; grantId?: string; redeemDailyLimit?: number; purpose?: Principal["purpose"] } = {},
): Principal => ({
  sub: memberId,
  role: "MEMBER",
  partnerId,
  memberId,
  scope: scopes.join(" "),
  purpose: opts.purpose ?? null,
  authority: "DELEGATED",
  clientId: opts.clientId ?? `app-${partnerId}`,
  grantId: opts.grantId ?? `grant-${memberId}-${partnerId}`,
  ...(opts.redeemDailyLimit !== undefined ? { redeemDailyLimit: opts.redeemDailyLimit } : {}),
});
/** A token-exchange token: the partner's own view of the one member it is bound to. */
export const partnerViewPrincipal = (partnerId: string, boundMemberId: string, purpose: Principal["purpose"] = "ACCOUNT_SERVICING"): Principal => ({
  ...partnerPrincipal(partnerId, purpose),
  authority: "PARTNER_VIEW",
  clientId: `client-${partnerId}`,
  boundMemberId,
});

export interface GraphQLResult<T = Record<string, unknown>> {
  data?: T | null;
  errors?: { message: string; path?: (string | number)[]; extensions?: Record<string, unknown> }[];
}

/** POSTs a GraphQL request straight to a subgraph, as the gateway would (signed identity). */
export async function callSubgraph<T = Record<string, unknown>>(url: string, principal: Principal, query: string, variables: Record<string, unknown> = {}): Promise<GraphQLResult<T>> {
  const res = await fetch(url, {
    method: "POST",
    headers: {
      "content-type": "application/json",
      [IDENTITY_HEADER]: await signIdentity(testInternalKey, principal),
      [REQUEST_ID_HEADER]: `test-${Math.random().toString(36).slice(2)}`,
    },
    body: JSON.stringify({ query, variables }),
  });
  return (await res.json()) as GraphQLResult<T>;
}

/** Calls a subgraph's internal endpoint with the gateway's SERVICE identity. */
export async function callInternal(baseUrl: string, route: string, body: unknown): Promise<{ status: number; body: unknown }> {
  const res = await fetch(new URL(`/internal/${route}`, baseUrl), {
    method: "POST",
    headers: { "content-type": "application/json", [IDENTITY_HEADER]: await signIdentity(testInternalKey, { sub: "service:gateway", role: "SERVICE" }) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: await res.json() };
}

export function expectNoGraphQLErrors<T>(r: GraphQLResult<T>): T {
  if (r.errors?.length) throw new Error(`GraphQL errors: ${JSON.stringify(r.errors, null, 2)}`);
  if (!r.data) throw new Error("no data");
  return r.data;
}
