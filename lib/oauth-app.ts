/**
 * A client that sends people to the hub's /oauth/authorize: a partner app or the hub's own member
 * app. The partner subgraph owns these clients and answers this shape on POST /internal/clients/app;
 * the gateway's authorization server reads it (it never reads partner tables).
 */
export interface OAuthApp {
  clientId: string;
  role: string;
  partnerId: string | null;
  appName: string;
  /** Exact redirect URIs the app may send members back to. */
  redirectUris: string[];
  /** Member scopes (lib/principal.ts MEMBER_SCOPES) the app may ask a member for. */
  allowedScopes: string[];
  /** No secret, PKCE only (the hub's own member app). */
  publicClient: boolean;
  /** Purpose a delegated read is logged under when the grant names none. */
  defaultPurpose: string;
}
