import { randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import { IDENTITY_HEADER, signIdentity } from "../../../lib/internal-auth.ts";
import { log } from "../../../lib/logger.ts";
import { SERVICE_SUB } from "../../../lib/principal.ts";
import { ACCESS_TOKEN_TTL_SECONDS, type KeySet } from "./keys.ts";
import { ACCESS_TOKEN_TYP } from "./verify.ts";

export const GRANT_CLIENT_CREDENTIALS = "client_credentials";
export const GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
export const SUBJECT_TYPE_PARTNER_MEMBER_REF = "urn:coalition:partner-member-ref";
export const ACCESS_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:access_token";

export interface TokenResponse {
  status: number;
  headers: Record<string, string>;
  body: Record<string, unknown>;
}

interface AuthenticatedClient {
  clientId: string;
  role: "ADMIN" | "PARTNER";
  partnerId: string | null;
  defaultPurpose: string;
  scope: string;
}

export interface TokenServiceOptions {
  keys: KeySet;
  issuer: string;
  audience: string;
  internalKey: Uint8Array;
  /** Base URLs (origins) of the owning subgraphs. */
  partnerOrigin: () => string;
  memberOrigin: () => string;
}

const noStore = { "cache-control": "no-store", pragma: "no-cache", "content-type": "application/json; charset=utf-8" };

function oauthError(status: number, error: string, description: string, extra: Record<string, string> = {}): TokenResponse {
  return { status, headers: { ...noStore, ...extra }, body: { error, error_description: description } };
}

/** Failed client authentications allowed per key (client id or IP) per window. */
const FAILURES_ALLOWED = 10;
const FAILURE_WINDOW_MS = 60_000;

/**
 * The hub's OAuth 2.0 token endpoint (RFC 6749 client credentials, RFC 8693 token exchange). It
 * owns no data: client secrets are checked by the partner subgraph and partner-member references
 * resolved by the member subgraph, each through an internal endpoint called with the gateway's
 * SERVICE identity (which GraphQL refuses).
 */
export class TokenService {
  private failures = new Map<string, { count: number; since: number }>();

  constructor(private readonly opts: TokenServiceOptions) {}

  async handle(params: URLSearchParams | Record<string, unknown>, authorization: string | undefined, ip: string): Promise<TokenResponse> {
    const get = (k: string) => {
      const v = params instanceof URLSearchParams ? params.get(k) : params[k];
      return typeof v === "string" && v.length <= 4096 ? v : undefined;
    };
    let clientId = get("client_id");
    let clientSecret = get("client_secret");
    const basic = authorization?.match(/^Basic\s+(.+)$/i);
    if (basic) {
      const decoded = Buffer.from(basic[1], "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      if (colon < 0) return oauthError(401, "invalid_client", "Malformed Basic credentials", { "www-authenticate": 'Basic realm="coalition-hub"' });
      // RFC 6749 §2.3.1: one authentication method per request.
      if (clientSecret !== undefined) return oauthError(400, "invalid_request", "Use HTTP Basic or client_secret in the body, not both");
      try {
        // Form-urlencoded before base64 (RFC 6749 §2.3.1); a bad escape is bad credentials, not a 500.
        clientId = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, " "));
        clientSecret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, " "));
      } catch {
        return oauthError(401, "invalid_client", "Malformed Basic credentials", { "www-authenticate": 'Basic realm="coalition-hub"' });
      }
    }
    const grant = get("grant_type");
    if (!grant) return oauthError(400, "invalid_request", "grant_type is required");
    if (grant !== GRANT_CLIENT_CREDENTIALS && grant !== GRANT_TOKEN_EXCHANGE) return oauthError(400, "unsupported_grant_type", `grant_type ${grant} is not supported`);
    if (!clientId || !clientSecret) return oauthError(401, "invalid_client", "Client authentication required (HTTP Basic or client_id/client_secret)", basic ? { "www-authenticate": 'Basic realm="coalition-hub"' } : {});

    if (this.limited(`client:${clientId}`) || this.limited(`ip:${ip}`)) {
      return { status: 429, headers: { ...noStore, "retry-after": "60" }, body: { error: "slow_down", error_description: "Too many failed client authentications; retry later", code: "RATE_LIMITED" } };
    }
    const client = await this.authenticate(clientId, clientSecret);
    if (!client) {
      this.fail(`client:${clientId}`);
      this.fail(`ip:${ip}`);
      return oauthError(401, "invalid_client", "Unknown client or wrong secret", basic ? { "www-authenticate": 'Basic realm="coalition-hub"' } : {});
    }

    if (grant === GRANT_CLIENT_CREDENTIALS) {
      const token = await this.sign({ sub: client.clientId, role: client.role, partner_id: client.partnerId, scope: client.scope, client_id: client.clientId, purpose: client.role === "PARTNER" ? client.defaultPurpose : undefined });
      return { status: 200, headers: noStore, body: { access_token: token, token_type: "Bearer", expires_in: ACCESS_TOKEN_TTL_SECONDS, scope: client.scope } };
    }

    // Token exchange: a partner's backend trades its credentials + its own reference for a member
    // for a PARTNER_VIEW token: the partner's own consent-gated, access-logged view of that one
    // member (e.g. for its front end), never the member's authority (DESIGN.md §3). The purpose is
    // the client's default (the Coalition-Purpose header overrides it as for any partner token).
    if (client.role !== "PARTNER" || !client.partnerId) return oauthError(400, "unauthorized_client", "Only partner clients may exchange tokens for members");
    const subjectToken = get("subject_token");
    const subjectType = get("subject_token_type");
    if (!subjectToken || !subjectType) return oauthError(400, "invalid_request", "subject_token and subject_token_type are required");
    if (subjectType !== SUBJECT_TYPE_PARTNER_MEMBER_REF) return oauthError(400, "invalid_request", `subject_token_type must be ${SUBJECT_TYPE_PARTNER_MEMBER_REF}`);
    const requested = get("requested_token_type");
    if (requested && requested !== ACCESS_TOKEN_TYPE) return oauthError(400, "invalid_request", `requested_token_type must be ${ACCESS_TOKEN_TYPE}`);
    const memberId = await this.memberByRef(client.partnerId, subjectToken);
    if (!memberId) return oauthError(400, "invalid_grant", "No member is linked to this partner under that reference");
    const token = await this.sign({
      sub: client.clientId,
      role: "PARTNER",
      partner_id: client.partnerId,
      scope: client.scope,
      client_id: client.clientId,
      purpose: client.defaultPurpose,
      authority: "PARTNER_VIEW",
      bound_member_id: memberId,
    });
    return { status: 200, headers: noStore, body: { access_token: token, issued_token_type: ACCESS_TOKEN_TYPE, token_type: "Bearer", expires_in: ACCESS_TOKEN_TTL_SECONDS, scope: client.scope } };
  }

  private async sign(claims: Record<string, unknown>): Promise<string> {
    const { kid, privateKey } = this.opts.keys.signing();
    const { sub, ...rest } = claims;
    return new SignJWT(Object.fromEntries(Object.entries(rest).filter(([, v]) => v !== undefined)))
      .setProtectedHeader({ alg: "ES256", kid, typ: ACCESS_TOKEN_TYP })
      .setIssuer(this.opts.issuer)
      .setAudience(this.opts.audience)
      .setSubject(String(sub))
      .setIssuedAt()
      .setExpirationTime(`${ACCESS_TOKEN_TTL_SECONDS}s`)
      .setJti(randomUUID())
      .sign(privateKey);
  }

  private async internal(origin: string, route: string, body: unknown): Promise<{ status: number; body: any }> {
    const res = await fetch(`${origin}/internal/${route}`, {
      method: "POST",
      headers: { "content-type": "application/json", [IDENTITY_HEADER]: await signIdentity(this.opts.internalKey, { sub: SERVICE_SUB, role: "SERVICE" }) },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: await res.json().catch(() => ({})) };
  }

  private async authenticate(clientId: string, clientSecret: string): Promise<AuthenticatedClient | null> {
    const res = await this.internal(this.opts.partnerOrigin(), "clients/authenticate", { clientId, clientSecret });
    if (res.status === 200) return res.body as AuthenticatedClient;
    if (res.status !== 401) log.error("client authentication failed upstream", { status: res.status });
    return null;
  }

  private async memberByRef(partnerId: string, externalRef: string): Promise<string | null> {
    const res = await this.internal(this.opts.memberOrigin(), "members/by-partner-ref", { partnerId, externalRef });
    if (res.status === 200 && typeof res.body?.memberId === "string") return res.body.memberId;
    return null;
  }

  private limited(key: string): boolean {
    const f = this.failures.get(key);
    if (!f) return false;
    if (Date.now() - f.since > FAILURE_WINDOW_MS) {
      this.failures.delete(key);
      return false;
    }
    return f.count >= FAILURES_ALLOWED;
  }

  private fail(key: string) {
    const f = this.failures.get(key);
    if (!f || Date.now() - f.since > FAILURE_WINDOW_MS) this.failures.set(key, { count: 1, since: Date.now() });
    else f.count++;
    if (this.failures.size > 100_000) this.failures.clear(); // bounded memory under a spray of client ids
  }
}
