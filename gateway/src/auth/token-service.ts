import { createHash, randomBytes, randomUUID } from "node:crypto";
import { SignJWT } from "jose";
import type { OAuthApp } from "../../../lib/oauth-app.ts";
import { IDENTITY_HEADER, signIdentity } from "../../../lib/internal-auth.ts";
import { log } from "../../../lib/logger.ts";
import { SERVICE_SUB } from "../../../lib/principal.ts";
import { ACCESS_TOKEN_TTL_SECONDS, type KeySet } from "./keys.ts";
import { ACCESS_TOKEN_TYP, TokenError, type TokenVerifier } from "./verify.ts";

export const GRANT_CLIENT_CREDENTIALS = "client_credentials";
export const GRANT_TOKEN_EXCHANGE = "urn:ietf:params:oauth:grant-type:token-exchange";
export const GRANT_AUTHORIZATION_CODE = "authorization_code";
export const GRANT_REFRESH_TOKEN = "refresh_token";
export const SUPPORTED_GRANTS = [GRANT_CLIENT_CREDENTIALS, GRANT_AUTHORIZATION_CODE, GRANT_REFRESH_TOKEN, GRANT_TOKEN_EXCHANGE];
/** Authorization codes live 60 s and work once (RFC 6749 §4.1.2 recommends at most 10 minutes). */
export const CODE_TTL_MS = 60_000;
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
  /** Introspection verifies access tokens exactly as the gateway does (signature, claims, revocation). */
  verifier?: TokenVerifier;
  /** Authorization code lifetime (tests shorten it). */
  codeTtlMs?: number;
}

/** A member grant as the member subgraph returns it. */
export interface GrantInfo {
  grantId: string;
  /** The member, or (kind PERSON) the person. */
  memberId: string;
  /** SESSION: a member's own sign-in; APP: a partner app's grant; PERSON: an admin's or partner staff's sign-in. */
  kind: "SESSION" | "APP" | "PERSON";
  personRole?: "ADMIN" | "PARTNER_ADMIN" | "PARTNER_STAFF";
  clientId: string;
  partnerId: string | null;
  scopes: string[];
  redeemDailyLimit: number | null;
}

interface IssuedCode {
  clientId: string;
  redirectUri: string;
  codeChallenge: string;
  grant: GrantInfo;
  expiresAt: number;
  used: boolean;
}

/** PKCE code_verifier (RFC 7636 §4.1): 43–128 unreserved characters. */
const VERIFIER = /^[A-Za-z0-9._~-]{43,128}$/;
export const s256 = (verifier: string) => createHash("sha256").update(verifier).digest("base64url");

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
  /**
   * Authorization codes, in this gateway's memory: they live 60 s and are redeemed at the gateway
   * that issued them in the embedded hub (several gateways behind a balancer would need a shared
   * store or sticky routing for /oauth/token — see ARCHITECTURE.md).
   */
  private codes = new Map<string, IssuedCode>();

  private readonly opts: TokenServiceOptions;

  constructor(opts: TokenServiceOptions) {
    this.opts = opts;
  }

  /** The code the authorization endpoint redirects with, after the member signed in (and approved). */
  issueCode(c: Omit<IssuedCode, "expiresAt" | "used">): string {
    const now = Date.now();
    if (this.codes.size > 10_000) for (const [k, v] of this.codes) if (v.expiresAt < now) this.codes.delete(k);
    const code = randomBytes(32).toString("base64url");
    this.codes.set(code, { ...c, expiresAt: now + (this.opts.codeTtlMs ?? CODE_TTL_MS), used: false });
    return code;
  }

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
    if (!SUPPORTED_GRANTS.includes(grant)) return oauthError(400, "unsupported_grant_type", `grant_type ${grant} is not supported`);
    if (grant === GRANT_AUTHORIZATION_CODE || grant === GRANT_REFRESH_TOKEN) {
      if (!clientId) return oauthError(401, "invalid_client", "client_id is required");
      if (this.limited(`client:${clientId}`) || this.limited(`ip:${ip}`))
        return { status: 429, headers: { ...noStore, "retry-after": "60" }, body: { error: "slow_down", error_description: "Too many failed client authentications; retry later" } };
      const app = await this.app(clientId, clientSecret);
      if (!app) {
        this.fail(`client:${clientId}`);
        this.fail(`ip:${ip}`);
        return oauthError(401, "invalid_client", "Unknown client, wrong secret, or a confidential client without its secret", basic ? { "www-authenticate": 'Basic realm="coalition-hub"' } : {});
      }
      return grant === GRANT_AUTHORIZATION_CODE ? this.codeGrant(app, get) : this.refreshGrant(app, get);
    }
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
      const token = await this.sign({
        sub: client.clientId,
        role: client.role,
        partner_id: client.partnerId,
        scope: client.scope,
        client_id: client.clientId,
        purpose: client.role === "PARTNER" ? client.defaultPurpose : undefined,
        authority: "CLIENT",
      });
      return { status: 200, headers: noStore, body: { access_token: token, token_type: "Bearer", expires_in: ACCESS_TOKEN_TTL_SECONDS, scope: client.scope } };
    }

    // Token exchange (RFC 8693): a partner's backend trades its credentials + its own reference for a
    // member for a PARTNER token bound to that member: exactly the partner's own consent-gated,
    // access-logged view of the member, never the member's authority (DESIGN.md §3).
    if (client.role !== "PARTNER" || !client.partnerId) return oauthError(400, "unauthorized_client", "Only partner clients may exchange tokens for members");
    const subjectToken = get("subject_token");
    const subjectType = get("subject_token_type");
    if (!subjectToken || !subjectType) return oauthError(400, "invalid_request", "subject_token and subject_token_type are required");
    if (subjectType !== SUBJECT_TYPE_PARTNER_MEMBER_REF) return oauthError(400, "invalid_request", `subject_token_type must be ${SUBJECT_TYPE_PARTNER_MEMBER_REF}`);
    const requested = get("requested_token_type");
    if (requested && requested !== ACCESS_TOKEN_TYPE) return oauthError(400, "invalid_request", `requested_token_type must be ${ACCESS_TOKEN_TYPE}`);
    const memberId = await this.memberByRef(client.partnerId, subjectToken);
    if (!memberId) return oauthError(400, "invalid_grant", "No member is linked to this partner under that reference");
    const scope = "hub:partner-view";
    const token = await this.sign({
      sub: client.clientId,
      role: "PARTNER",
      partner_id: client.partnerId,
      scope,
      client_id: client.clientId,
      purpose: client.defaultPurpose,
      authority: "PARTNER_VIEW",
      bound_member_id: memberId,
    });
    return { status: 200, headers: noStore, body: { access_token: token, issued_token_type: ACCESS_TOKEN_TYPE, token_type: "Bearer", expires_in: ACCESS_TOKEN_TTL_SECONDS, scope } };
  }

  private async codeGrant(app: OAuthApp, get: (k: string) => string | undefined): Promise<TokenResponse> {
    const code = get("code");
    const verifier = get("code_verifier");
    const redirectUri = get("redirect_uri");
    if (!code || !redirectUri) return oauthError(400, "invalid_request", "code and redirect_uri are required");
    if (!verifier) return oauthError(400, "invalid_request", "code_verifier is required (PKCE)");
    if (!VERIFIER.test(verifier)) return oauthError(400, "invalid_request", "code_verifier must be 43–128 unreserved characters");
    const issued = this.codes.get(code);
    if (!issued || issued.clientId !== app.clientId) return oauthError(400, "invalid_grant", "Unknown authorization code, or issued to another client");
    if (issued.used) {
      // RFC 6749 §4.1.2: a code used twice revokes what it produced (someone else has it).
      this.codes.delete(code);
      await this.internal(this.opts.memberOrigin(), "auth/grants/revoke", { grantId: issued.grant.grantId, reason: "CODE_REUSE" });
      return oauthError(400, "invalid_grant", "The authorization code was already used; its tokens are revoked");
    }
    issued.used = true;
    if (issued.expiresAt <= Date.now()) return oauthError(400, "invalid_grant", "The authorization code has expired");
    if (issued.redirectUri !== redirectUri) return oauthError(400, "invalid_grant", "redirect_uri does not match the authorization request");
    if (s256(verifier) !== issued.codeChallenge) return oauthError(400, "invalid_grant", "code_verifier does not match the code_challenge");
    // People who are not members get no refresh token: they sign in again after 15 minutes.
    if (issued.grant.kind === "PERSON") return this.grantTokens(app, issued.grant, null);
    const active = await this.internal(this.opts.memberOrigin(), "auth/grants/active", { grantId: issued.grant.grantId });
    if (active.status !== 200) return oauthError(400, "invalid_grant", "The grant was revoked");
    const refresh = await this.internal(this.opts.memberOrigin(), "auth/refresh/issue", { grantId: issued.grant.grantId });
    if (refresh.status !== 200) throw new Error(`refresh token issue failed: HTTP ${refresh.status}`);
    return this.grantTokens(app, active.body as GrantInfo, refresh.body.refreshToken as string);
  }

  private async refreshGrant(app: OAuthApp, get: (k: string) => string | undefined): Promise<TokenResponse> {
    const refreshToken = get("refresh_token");
    if (!refreshToken) return oauthError(400, "invalid_request", "refresh_token is required");
    if (refreshToken.length > 200) return oauthError(400, "invalid_grant", "Unknown refresh token");
    const requested = get("scope");
    const res = await this.internal(this.opts.memberOrigin(), "auth/refresh/rotate", { refreshToken, clientId: app.clientId });
    if (res.status !== 200) return oauthError(400, "invalid_grant", typeof res.body?.message === "string" ? res.body.message : "Unknown refresh token");
    const grant = res.body as GrantInfo & { refreshToken: string };
    if (requested?.split(" ").some((s) => s && !grant.scopes.includes(s))) return oauthError(400, "invalid_scope", "A refresh cannot widen the grant's scopes");
    return this.grantTokens(app, grant, grant.refreshToken);
  }

  /** Access token claims of a member grant (the token contract in README "Getting a token"). */
  private async grantTokens(app: OAuthApp, g: GrantInfo, refreshToken: string | null): Promise<TokenResponse> {
    const scope = g.scopes.join(" ");
    const claims: Record<string, unknown> =
      g.kind === "PERSON"
        ? {
            sub: g.memberId,
            role: g.personRole === "ADMIN" ? "ADMIN" : "PARTNER",
            person_role: g.personRole,
            partner_id: g.personRole === "ADMIN" ? undefined : g.partnerId,
            scope,
            authority: "PERSON",
            client_id: app.clientId,
            grant_id: g.grantId,
            purpose: g.personRole === "ADMIN" ? undefined : "ACCOUNT_SERVICING",
          }
        : g.kind === "SESSION"
          ? { sub: g.memberId, role: "MEMBER", scope, authority: "PERSON", client_id: app.clientId, grant_id: g.grantId }
          : {
              sub: g.memberId,
              role: "MEMBER",
              partner_id: g.partnerId,
              client_id: app.clientId,
              azp: app.clientId,
              act: { sub: app.clientId },
              scope,
              authority: "DELEGATED",
              grant_id: g.grantId,
              redeem_daily_limit: g.scopes.includes("member:redeem") ? (g.redeemDailyLimit ?? 0) : undefined,
            };
    const token = await this.sign(claims);
    return { status: 200, headers: noStore, body: { access_token: token, token_type: "Bearer", expires_in: ACCESS_TOKEN_TTL_SECONDS, ...(refreshToken ? { refresh_token: refreshToken } : {}), scope } };
  }

  /**
   * RFC 7009. The client authenticates (a public client by its client_id). A refresh token revokes
   * its grant (the member's session or the app grant); an access token of a grant likewise. An API
   * client's own token has no grant: revoke the client instead (unsupported_token_type). Unknown or
   * foreign tokens are answered 200 as the RFC asks, and nothing changes.
   */
  async revoke(params: URLSearchParams | Record<string, unknown>, authorization: string | undefined, ip: string): Promise<TokenResponse> {
    const auth = await this.requestClient(params, authorization, ip);
    if ("status" in auth) return auth;
    const token = auth.get("token");
    if (!token) return oauthError(400, "invalid_request", "token is required");
    const ok: TokenResponse = { status: 200, headers: noStore, body: {} };
    if (token.split(".").length === 3 && this.opts.verifier) {
      try {
        const v = await this.opts.verifier.verify(token);
        if (v.principal.clientId !== auth.clientId) return ok;
        if (!v.principal.grantId) return oauthError(400, "unsupported_token_type", "An API client's token has no grant to revoke: revoke the client (revokeApiClient)");
        if (v.principal.personRole) await this.internal(this.opts.partnerOrigin(), "auth/person-sessions/revoke", { sessionId: v.principal.grantId });
        else await this.internal(this.opts.memberOrigin(), "auth/grants/revoke", { grantId: v.principal.grantId, reason: "SIGN_OUT" });
      } catch (e) {
        if (!(e instanceof TokenError)) throw e;
      }
      return ok;
    }
    await this.internal(this.opts.memberOrigin(), "auth/refresh/revoke", { refreshToken: token, clientId: auth.clientId });
    return ok;
  }

  /**
   * RFC 7662. For our JWT access tokens too: the same checks as the gateway (signature, claims,
   * revocation feed). A partner's client sees only its own tokens; an ADMIN client any.
   */
  async introspect(params: URLSearchParams | Record<string, unknown>, authorization: string | undefined, ip: string): Promise<TokenResponse> {
    const auth = await this.requestClient(params, authorization, ip);
    if ("status" in auth) return auth;
    const token = auth.get("token");
    if (!token) return oauthError(400, "invalid_request", "token is required");
    const inactive: TokenResponse = { status: 200, headers: noStore, body: { active: false } };
    const maySee = (clientId: string | null | undefined) => auth.role === "ADMIN" || clientId === auth.clientId;
    if (token.split(".").length === 3 && this.opts.verifier) {
      try {
        const v = await this.opts.verifier.verify(token);
        const p = v.principal;
        if (!maySee(p.clientId)) return inactive;
        return {
          status: 200,
          headers: noStore,
          body: {
            active: true,
            token_type: "access_token",
            scope: p.scope,
            client_id: p.clientId,
            sub: p.sub,
            exp: v.exp,
            iss: this.opts.issuer,
            aud: this.opts.audience,
            jti: v.jti,
            role: p.role,
            authority: p.authority,
            partner_id: p.partnerId ?? undefined,
            grant_id: p.grantId ?? undefined,
            bound_member_id: p.boundMemberId ?? undefined,
            person_role: p.personRole ?? undefined,
            redeem_daily_limit: p.redeemDailyLimit ?? undefined,
          },
        };
      } catch (e) {
        if (!(e instanceof TokenError)) throw e;
        return inactive;
      }
    }
    const res = await this.internal(this.opts.memberOrigin(), "auth/refresh/introspect", { refreshToken: token });
    if (res.status !== 200 || !maySee(res.body.clientId)) return inactive;
    const g = res.body as GrantInfo & { expiresAt: string };
    return {
      status: 200,
      headers: noStore,
      body: { active: true, token_type: "refresh_token", scope: g.scopes.join(" "), client_id: g.clientId, sub: g.memberId, exp: Math.floor(Date.parse(g.expiresAt) / 1000), grant_id: g.grantId },
    };
  }

  /** Client authentication for revocation and introspection: confidential (secret) or public app. */
  private async requestClient(
    params: URLSearchParams | Record<string, unknown>,
    authorization: string | undefined,
    ip: string,
  ): Promise<TokenResponse | { clientId: string; role: string; get: (k: string) => string | undefined }> {
    const get = (k: string) => {
      const v = params instanceof URLSearchParams ? params.get(k) : params[k];
      return typeof v === "string" && v.length <= 4096 ? v : undefined;
    };
    let clientId = get("client_id");
    let secret = get("client_secret");
    const basic = authorization?.match(/^Basic\s+(.+)$/i);
    if (basic) {
      const decoded = Buffer.from(basic[1], "base64").toString("utf8");
      const colon = decoded.indexOf(":");
      try {
        if (colon < 0) throw new Error("no colon");
        clientId = decodeURIComponent(decoded.slice(0, colon).replace(/\+/g, " "));
        secret = decodeURIComponent(decoded.slice(colon + 1).replace(/\+/g, " "));
      } catch {
        return oauthError(401, "invalid_client", "Malformed Basic credentials", { "www-authenticate": 'Basic realm="coalition-hub"' });
      }
    }
    if (!clientId) return oauthError(401, "invalid_client", "Client authentication required");
    if (this.limited(`client:${clientId}`) || this.limited(`ip:${ip}`))
      return { status: 429, headers: { ...noStore, "retry-after": "60" }, body: { error: "slow_down", error_description: "Too many failed client authentications; retry later" } };
    const app = await this.app(clientId, secret);
    if (app) return { clientId: app.clientId, role: app.role, get };
    const client = secret ? await this.authenticate(clientId, secret) : null;
    if (client) return { clientId: client.clientId, role: client.role, get };
    this.fail(`client:${clientId}`);
    this.fail(`ip:${ip}`);
    return oauthError(401, "invalid_client", "Unknown client or wrong secret");
  }

  /** A partner app (with its secret) or the public member app (without one). */
  async app(clientId: string, clientSecret?: string): Promise<OAuthApp | null> {
    const res = await this.internal(this.opts.partnerOrigin(), "clients/app", clientSecret === undefined ? { clientId } : { clientId, clientSecret });
    if (res.status !== 200) return null;
    const app = res.body as OAuthApp;
    // A confidential app must authenticate; only the public client may come without a secret.
    if (clientSecret === undefined && !app.publicClient) return null;
    return app;
  }

  /** Calls an owner's internal endpoint (service identity). */
  async call(which: "member" | "partner", route: string, body: unknown): Promise<{ status: number; body: any }> {
    return this.internal(which === "member" ? this.opts.memberOrigin() : this.opts.partnerOrigin(), route, body);
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
