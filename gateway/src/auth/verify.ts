import { createRemoteJWKSet, decodeJwt, decodeProtectedHeader, errors, jwtVerify, type JWTPayload } from "jose";
import { type Authority, PERSON_ROLES, type PersonRole, PURPOSES, type Principal, type Purpose, type Role } from "../../../lib/principal.ts";
import type { KeySet } from "./keys.ts";

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
  | "TOKEN_WRONG_TYPE";

export class TokenError extends Error {
  constructor(
    readonly reason: TokenFailure,
    message: string,
  ) {
    super(message);
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

  constructor(
    private readonly keys: KeySet,
    private readonly issuer: string,
    private readonly audience: string,
    private readonly externalIdp?: ExternalIdp,
  ) {
    if (externalIdp) this.remote = createRemoteJWKSet(new URL(externalIdp.jwksUrl));
  }

  async verify(token: string | null | undefined): Promise<VerifiedToken> {
    if (!token) throw new TokenError("TOKEN_MISSING", "A bearer token is required");
    const hit = this.cache.get(token);
    if (hit) {
      if (hit.exp * 1000 > Date.now()) return hit;
      this.cache.delete(token);
    }
    const verified = await this.verifyUncached(token);
    if (this.cache.size >= CACHE_MAX) this.cache.delete(this.cache.keys().next().value as string);
    this.cache.set(token, verified);
    return verified;
  }

  private async verifyUncached(token: string): Promise<VerifiedToken> {
    let header;
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

/** Which authorities each role's tokens may carry (lib/principal.ts); anything else is malformed. */
const AUTHORITIES_OF: Record<Role, readonly Authority[]> = {
  ADMIN: ["CLIENT", "PERSON"],
  PARTNER: ["CLIENT", "PERSON", "PARTNER_VIEW"],
  MEMBER: ["PERSON", "DELEGATED"],
};

export function toVerified(payload: JWTPayload): VerifiedToken {
  const role = payload.role as Role;
  if (role !== "ADMIN" && role !== "PARTNER" && role !== "MEMBER") throw new TokenError("TOKEN_MALFORMED", "Unknown role");
  const partnerId = typeof payload.partner_id === "string" ? payload.partner_id : null;
  if (role === "PARTNER" && !partnerId) throw new TokenError("TOKEN_MALFORMED", "A partner token needs partner_id");
  const purpose = PURPOSES.includes(payload.purpose as Purpose) ? (payload.purpose as Purpose) : null;
  const sub = String(payload.sub);
  const str = (v: unknown) => (typeof v === "string" && v ? v : null);
  // Tokens from before authorities existed: API clients' (CLIENT) and members' own (PERSON). A
  // MEMBER token naming a partner was minted by the old token exchange with the member's full
  // authority and no member present: refused, not honoured for the rest of its 15 minutes.
  if (payload.authority === undefined && role === "MEMBER" && partnerId) throw new TokenError("TOKEN_MALFORMED", "A member token from token exchange is no longer accepted");
  const authority = (payload.authority ?? (role === "MEMBER" ? "PERSON" : "CLIENT")) as Authority;
  if (!AUTHORITIES_OF[role].includes(authority)) throw new TokenError("TOKEN_MALFORMED", `A ${role} token cannot carry authority ${String(payload.authority)}`);
  const boundMemberId = str(payload.bound_member_id);
  if (authority === "PARTNER_VIEW" && !boundMemberId) throw new TokenError("TOKEN_MALFORMED", "A partner-view token needs bound_member_id");
  if (authority === "DELEGATED" && !partnerId) throw new TokenError("TOKEN_MALFORMED", "A delegated token needs partner_id (the app's partner)");
  const personRole = PERSON_ROLES.includes(payload.person_role as PersonRole) ? (payload.person_role as PersonRole) : null;
  const act = payload.act as { sub?: unknown } | undefined;
  // RFC 8693 §4.1: the actor is the app; it must be the client the token was issued to.
  const clientId = str(payload.client_id) ?? str(payload.azp) ?? str(act?.sub);
  const limit = payload.redeem_daily_limit;
  return {
    principal: {
      sub,
      role,
      partnerId,
      memberId: role === "MEMBER" ? sub : null,
      scope: typeof payload.scope === "string" ? payload.scope : "",
      // Partners declare a purpose per request; an app acting for a member may carry its grant's.
      purpose: role === "PARTNER" || authority === "DELEGATED" ? purpose : null,
      authority,
      clientId,
      ...(boundMemberId ? { boundMemberId } : {}),
      ...(personRole ? { personRole } : {}),
      ...(str(payload.grant_id) ? { grantId: str(payload.grant_id) } : {}),
      ...(typeof limit === "number" && Number.isSafeInteger(limit) && limit >= 0 ? { redeemDailyLimit: limit } : {}),
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
