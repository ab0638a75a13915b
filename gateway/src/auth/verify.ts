import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from "jose";
import { AUTHORITIES, type Authority, PERSON_ROLES, type PersonRole, type Principal, type Role } from "../../../lib/principal.ts";
import { isPurpose, type Purpose } from "../../../lib/vocabulary.ts";
import type { KeySet } from "./keys.ts";
import type { RevocationFeed } from "./revocation.ts";

/** Stable sub-codes of UNAUTHENTICATED, in `extensions.reason`. */
export type TokenFailure =
  | "TOKEN_MISSING"
  | "TOKEN_EXPIRED"
  | "TOKEN_NOT_YET_VALID"
  | "TOKEN_BAD_ISSUER"
  | "TOKEN_BAD_AUDIENCE"
  | "TOKEN_UNKNOWN_KID"
  | "TOKEN_ALG_NOT_ALLOWED"
  | "TOKEN_BAD_SIGNATURE"
  | "TOKEN_MALFORMED"
  | "TOKEN_WRONG_TYPE"
  | "TOKEN_REVOKED";

export class TokenError extends Error {
  readonly reason: TokenFailure;

  constructor(reason: TokenFailure, message: string) {
    super(message);
    this.reason = reason;
  }
}

export const ACCESS_TOKEN_TYP = "at+jwt";

export interface ExternalIdp {
  issuer: string;
  jwksUrl: string;
  audience: string;
  /** The claim holding the coalition member id. */
  memberClaim: string;
  /** Allowed algorithms (default RS256, ES256). */
  algorithms?: string[];
}

export interface VerifiedToken {
  principal: Principal;
  /** The token's default purpose (partner tokens). */
  purpose: Purpose | null;
  jti: string;
  /** Seconds since epoch. */
  exp: number;
}

const CACHE_MAX = 10_000;

/**
 * Verifies access tokens before planning. Every security-relevant option is explicit: algorithm
 * (ES256 only — `none` and HS* are refused before any key is touched), issuer, audience, `typ`,
 * required claims, and the key chosen by `kid` from our own key set. Verified tokens are cached
 * by their exact string until they expire (the hot path pays one Map lookup).
 */
export class TokenVerifier {
  private cache = new Map<string, VerifiedToken>();
  private remote?: ReturnType<typeof createRemoteJWKSet>;
  /** Checked on every request, cached or not: revocation wins over the cache within one poll. */
  revocations?: RevocationFeed;

  private readonly keys: KeySet;
  private readonly issuer: string;
  private readonly audience: string;
  private readonly externalIdp?: ExternalIdp;

  constructor(keys: KeySet, issuer: string, audience: string, externalIdp?: ExternalIdp) {
    this.keys = keys;
    this.issuer = issuer;
    this.audience = audience;
    this.externalIdp = externalIdp;
    if (externalIdp) this.remote = createRemoteJWKSet(new URL(externalIdp.jwksUrl));
  }

  async verify(token: string | null | undefined): Promise<VerifiedToken> {
    if (!token) throw new TokenError("TOKEN_MISSING", "A bearer token is required");
    const hit = this.cache.get(token);
    if (hit) {
      if (hit.exp * 1000 > Date.now()) return this.notRevoked(hit);
      this.cache.delete(token);
    }
    const verified = await this.verifyUncached(token);
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(token, verified);
    return this.notRevoked(verified);
  }

  private notRevoked(v: VerifiedToken): VerifiedToken {
    const p = v.principal;
    const why = this.revocations?.reason({ clientId: p.clientId ?? null, partnerId: p.partnerId, grantId: p.grantId ?? null, memberId: p.memberId ?? p.boundMemberId ?? null, personId: p.personRole ? p.sub : null });
    if (why) throw new TokenError("TOKEN_REVOKED", why);
    return v;
  }

  private async verifyUncached(token: string): Promise<VerifiedToken> {
    let header: ReturnType<typeof decodeProtectedHeader>;
    try {
      header = decodeProtectedHeader(token);
    } catch {
      throw new TokenError("TOKEN_MALFORMED", "The token is not a well-formed JWS");
    }
    if (token.split(".").length !== 3) throw new TokenError("TOKEN_MALFORMED", "The token is not a compact JWS");
    // The external IdP's tokens are told apart by their (unverified) issuer; verifyExternal then
    // checks everything against the IdP's own keys. Routing by unknown kid instead would send
    // our own freshly rotated keys to the IdP.
    if (this.externalIdp && this.remote && unverifiedIssuer(token) === this.externalIdp.issuer) return this.verifyExternal(token);
    if (header.alg !== "ES256") throw new TokenError("TOKEN_ALG_NOT_ALLOWED", `Algorithm ${String(header.alg)} is not accepted`);
    if (header.typ !== ACCESS_TOKEN_TYP) throw new TokenError("TOKEN_WRONG_TYPE", `Token type ${String(header.typ)} is not an access token`);
    if (!header.kid) throw new TokenError("TOKEN_UNKNOWN_KID", "The token names no key");
    let key = this.keys.verificationKey(header.kid);
    if (!key) {
      await this.keys.refreshForUnknownKid();
      key = this.keys.verificationKey(header.kid);
    }
    if (!key) throw new TokenError("TOKEN_UNKNOWN_KID", "The token's key is unknown or retired");
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, key, {
        algorithms: ["ES256"],
        issuer: this.issuer,
        audience: this.audience,
        typ: ACCESS_TOKEN_TYP,
        requiredClaims: ["sub", "exp", "iat", "jti", "role"],
      }));
    } catch (e) {
      throw mapJoseError(e);
    }
    return toVerified(payload);
  }

  private async verifyExternal(token: string): Promise<VerifiedToken> {
    const idp = this.externalIdp!;
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, this.remote!, { algorithms: idp.algorithms ?? ["RS256", "ES256"], issuer: idp.issuer, audience: idp.audience, requiredClaims: ["exp", idp.memberClaim] }));
    } catch (e) {
      if (e instanceof errors.JWKSNoMatchingKey) throw new TokenError("TOKEN_UNKNOWN_KID", "The token's key is unknown");
      throw mapJoseError(e);
    }
    const claim = payload[idp.memberClaim];
    if (typeof claim !== "string" || !claim || claim.length > 128) throw new TokenError("TOKEN_MALFORMED", `Claim ${idp.memberClaim} must hold the member id`);
    const memberId = claim;
    return {
      // The member signed in at the coalition's trusted IdP: its own session, with the member's authority.
      principal: { sub: memberId, role: "MEMBER", partnerId: null, memberId, scope: withMemberScope(payload.scope), purpose: null, authority: "PERSON" },
      purpose: null,
      jti: payload.jti ?? `${payload.iss}:${payload.sub}:${payload.iat}`,
      exp: payload.exp!,
    };
  }
}

function withMemberScope(scope: unknown): string {
  const s = new Set(typeof scope === "string" ? scope.split(" ").filter(Boolean) : []);
  s.add("member");
  return [...s].join(" ");
}

function unverifiedIssuer(token: string): string | undefined {
  try {
    return decodeJwt(token).iss;
  } catch {
    return undefined;
  }
}

/**
 * Claims → Principal, per the wave-2 token contract (README "Getting a token"): `authority` says
 * how the caller came by its authority (absent = CLIENT for API clients' older tokens, PERSON for a
 * member's). A token whose claims contradict its authority is malformed, so no combination the
 * authorization server never mints (a MEMBER partner view, a DELEGATED token without its app) reaches
 * the subgraphs.
 */
export function toVerified(payload: JWTPayload): VerifiedToken {
  const role = payload.role as Role;
  if (role !== "ADMIN" && role !== "PARTNER" && role !== "MEMBER") throw new TokenError("TOKEN_MALFORMED", "Unknown role");
  const str = (v: unknown) => (typeof v === "string" && v ? v : null);
  const partnerId = str(payload.partner_id);
  if (role === "PARTNER" && !partnerId) throw new TokenError("TOKEN_MALFORMED", "A partner token needs partner_id");
  const purpose = isPurpose(payload.purpose) ? payload.purpose : null;
  const sub = String(payload.sub);
  // A MEMBER token naming a partner but no authority was minted by the old token exchange, with
  // the member's full authority and no member present: refused, not honoured for its last minutes.
  if (payload.authority === undefined && role === "MEMBER" && partnerId) throw new TokenError("TOKEN_MALFORMED", "A member token from token exchange is no longer accepted");
  const rawAuthority = payload.authority ?? (role === "MEMBER" ? "PERSON" : "CLIENT");
  if (!AUTHORITIES.includes(rawAuthority as Authority)) throw new TokenError("TOKEN_MALFORMED", "Unknown authority");
  const authority = rawAuthority as Authority;
  const clientId = str(payload.client_id);
  const grantId = str(payload.grant_id);
  const personRole = payload.person_role === undefined ? null : PERSON_ROLES.includes(payload.person_role as PersonRole) ? (payload.person_role as PersonRole) : undefined;
  if (personRole === undefined) throw new TokenError("TOKEN_MALFORMED", "Unknown person_role");
  const boundMemberId = str(payload.bound_member_id);
  const limit = payload.redeem_daily_limit;
  const redeemDailyLimit = Number.isSafeInteger(limit) && (limit as number) >= 0 ? (limit as number) : null;
  switch (authority) {
    case "PARTNER_VIEW":
      if (role !== "PARTNER" || !boundMemberId) throw new TokenError("TOKEN_MALFORMED", "A partner view is a PARTNER token bound to one member");
      break;
    case "DELEGATED":
      if (role !== "MEMBER" || !partnerId || !clientId) throw new TokenError("TOKEN_MALFORMED", "A delegated token is a MEMBER token of a partner app");
      break;
    case "PERSON":
      if (role !== "MEMBER" && !personRole) throw new TokenError("TOKEN_MALFORMED", "A person token of an admin or partner staff needs person_role");
      break;
    case "CLIENT":
      if (role === "MEMBER") throw new TokenError("TOKEN_MALFORMED", "An API client's token is never a MEMBER token");
      break;
  }
  return {
    principal: {
      sub,
      role,
      partnerId,
      memberId: role === "MEMBER" ? sub : null,
      scope: typeof payload.scope === "string" ? payload.scope : "",
      // Partners declare a purpose per request; an app acting for a member may carry its grant's (logged with its reads).
      purpose: role === "PARTNER" || authority === "DELEGATED" ? purpose : null,
      authority,
      clientId,
      boundMemberId: authority === "PARTNER_VIEW" ? boundMemberId : null,
      personRole,
      grantId,
      redeemDailyLimit: authority === "DELEGATED" ? redeemDailyLimit : null,
    },
    purpose,
    jti: String(payload.jti),
    exp: payload.exp!,
  };
}

function mapJoseError(e: unknown): TokenError {
  if (e instanceof TokenError) return e;
  if (e instanceof errors.JWTExpired) return new TokenError("TOKEN_EXPIRED", "The token has expired");
  if (e instanceof errors.JWTClaimValidationFailed) {
    if (e.claim === "nbf" || e.claim === "iat") return new TokenError("TOKEN_NOT_YET_VALID", "The token is not valid yet");
    if (e.claim === "iss") return new TokenError("TOKEN_BAD_ISSUER", "The token was issued by someone else");
    if (e.claim === "aud") return new TokenError("TOKEN_BAD_AUDIENCE", "The token is meant for another audience");
    if (e.claim === "typ") return new TokenError("TOKEN_WRONG_TYPE", "The token is not an access token");
    return new TokenError("TOKEN_MALFORMED", `Claim ${e.claim} is missing or invalid`);
  }
  if (e instanceof errors.JOSEAlgNotAllowed) return new TokenError("TOKEN_ALG_NOT_ALLOWED", "The token's algorithm is not accepted");
  if (e instanceof errors.JWSSignatureVerificationFailed) return new TokenError("TOKEN_BAD_SIGNATURE", "The token's signature does not verify");
  return new TokenError("TOKEN_MALFORMED", "The token could not be read");
}
