import { ClientError, GraphQLClient } from "graphql-request";

/** Where the hub is and who we are (the demo seed prints these; a real partner gets them from the hub's operator). */
export interface HubConfig {
  /** The gateway's base URL, e.g. http://localhost:4000 */
  baseUrl: string;
  clientId: string;
  clientSecret: string;
  /** Why we read member data (sent as Coalition-Purpose on every request). */
  purpose?: "ACCOUNT_SERVICING" | "OFFER_TARGETING" | "ANALYTICS";
}

/** A client_credentials access token (15 minutes); refreshed by `Hub` a minute before it expires. */
export async function fetchToken(cfg: HubConfig): Promise<{ accessToken: string; expiresAt: number }> {
  const res = await fetch(`${cfg.baseUrl}/oauth/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded", authorization: `Basic ${Buffer.from(`${cfg.clientId}:${cfg.clientSecret}`).toString("base64")}` },
    body: new URLSearchParams({ grant_type: "client_credentials" }),
  });
  const body = (await res.json()) as { access_token?: string; expires_in?: number; error?: string; error_description?: string };
  if (!res.ok || !body.access_token) throw new Error(`token request refused: ${res.status} ${body.error ?? ""} ${body.error_description ?? ""}`);
  return { accessToken: body.access_token, expiresAt: Date.now() + (body.expires_in ?? 900) * 1000 };
}

/** The `extensions.code` of a GraphQL error (the hub's codes: docs/errors.md), or null. */
export function errorCode(e: unknown): string | null {
  if (e instanceof ClientError) return (e.response.errors?.[0]?.extensions?.code as string | undefined) ?? null;
  return null;
}

/** A typed GraphQL client with a fresh token (graphql-request + the codegen'd TypedDocumentNodes). */
export class Hub {
  private token: { accessToken: string; expiresAt: number } | null = null;
  readonly cfg: HubConfig;
  constructor(cfg: HubConfig) {
    this.cfg = cfg;
  }

  async accessToken(): Promise<string> {
    if (!this.token || this.token.expiresAt - Date.now() < 60_000) this.token = await fetchToken(this.cfg);
    return this.token.accessToken;
  }

  async client(): Promise<GraphQLClient> {
    return new GraphQLClient(`${this.cfg.baseUrl}/graphql`, {
      headers: { authorization: `Bearer ${await this.accessToken()}`, "coalition-purpose": this.cfg.purpose ?? "ACCOUNT_SERVICING" },
    });
  }
}
