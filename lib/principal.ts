/** Who is calling, as verified by the gateway and re-asserted to the subgraphs. */
export type Role = "ADMIN" | "PARTNER" | "MEMBER";
export const ROLES: readonly Role[] = ["ADMIN", "PARTNER", "MEMBER"];

export type Purpose = "ACCOUNT_SERVICING" | "OFFER_TARGETING" | "ANALYTICS";
export const PURPOSES: readonly Purpose[] = ["ACCOUNT_SERVICING", "OFFER_TARGETING", "ANALYTICS"];

export interface Principal {
  /** The token's subject: an API client id for ADMIN/PARTNER, the member id for MEMBER. */
  sub: string;
  role: Role;
  /** PARTNER: the caller's partner. MEMBER: the partner whose app obtained the member token, if any. */
  partnerId: string | null;
  /** MEMBER: the member this token speaks for. */
  memberId: string | null;
  /** Space-separated OAuth scopes granted to the token. */
  scope: string;
  /** PARTNER: the purpose this request declared (Coalition-Purpose header or the client's default). */
  purpose: Purpose | null;
}

/**
 * The internal "service" principal: the gateway's token service calling a subgraph's internal
 * endpoints (verify a client secret, resolve a partner-member reference). Never reaches GraphQL.
 */
export const SERVICE_SUB = "service:gateway";
