import { createSecretKey, type KeyObject } from "node:crypto";
import { SignJWT, jwtVerify, errors as joseErrors } from "jose";
import { AUTHORITIES, PERSON_ROLES, ROLES, type Principal } from "./principal.ts";
import { isPurpose } from "./vocabulary.ts";

/**
 * The gateway re-asserts the verified caller to the subgraphs as its own short-lived JWT in the
 * `x-hub-identity` header. HS256 with a secret shared only inside the hub: the trust boundary is
 * the hub itself, signing and verifying cost microseconds (this runs on every subgraph fetch), and
 * the algorithm is pinned on both sides so no external token can be replayed here.
 */
export const IDENTITY_HEADER = "x-hub-identity";
export const REQUEST_ID_HEADER = "x-request-id";
export const OPERATION_NAME_HEADER = "x-hub-operation";
const ISSUER = "coalition-hub/gateway";
const AUDIENCE = "coalition-hub/subgraphs";
const ALG = "HS256";
/** Long enough for one federated request, short enough that a leaked header is soon useless. */
export const IDENTITY_TTL_SECONDS = 60;

export type ServiceRole = "SERVICE";
export type InternalPrincipal = Principal | { sub: string; role: ServiceRole };

export function internalKey(secret: string): Uint8Array {
  if (secret.length < 32) throw new Error("HUB_INTERNAL_SECRET must be at least 32 characters");
  return new TextEncoder().encode(secret);
}

/**
 * The secret as a Node KeyObject, made once per key: given the raw bytes, jose imports a key on
 * every sign and verify (measured: the largest part of an HS256 operation here).
 */
const keyObjects = new WeakMap<Uint8Array, KeyObject>();
function keyObject(key: Uint8Array): KeyObject {
  let k = keyObjects.get(key);
  if (!k) keyObjects.set(key, (k = createSecretKey(key)));
  return k;
}

export async function signIdentity(key: Uint8Array, principal: InternalPrincipal, ttlSeconds = IDENTITY_TTL_SECONDS): Promise<string> {
  const claims: Record<string, unknown> = { role: principal.role };
  if (principal.role !== "SERVICE") {
    const p = principal as Principal;
    Object.assign(claims, { partner_id: p.partnerId, member_id: p.memberId, scope: p.scope, purpose: p.purpose });
    if (p.authority) claims.authority = p.authority;
    if (p.clientId) claims.client_id = p.clientId;
    if (p.boundMemberId) claims.bound_member_id = p.boundMemberId;
    if (p.personRole) claims.person_role = p.personRole;
    if (p.grantId) claims.grant_id = p.grantId;
    if (typeof p.redeemDailyLimit === "number") claims.redeem_daily_limit = p.redeemDailyLimit;
  }
  return new SignJWT(claims)
    .setProtectedHeader({ alg: ALG, typ: "hub-identity+jwt" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(principal.sub)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(keyObject(key));
}

const serviceTokens = new WeakMap<Uint8Array, { token: string; sub: string; until: number }>();

/**
 * The SERVICE identity (relays, the token service's internal calls), signed once and reused for
 * 3/4 of its life (the receiver still sees at least 15 s of validity), as the gateway reuses a caller's.
 */
export async function serviceIdentity(key: Uint8Array, sub: string): Promise<string> {
  const hit = serviceTokens.get(key);
  const now = Date.now();
  if (hit && hit.until > now && hit.sub === sub) return hit.token;
  const token = await signIdentity(key, { sub, role: "SERVICE" });
  serviceTokens.set(key, { token, sub, until: now + IDENTITY_TTL_SECONDS * 750 });
  return token;
}

export class IdentityError extends Error {}

/**
 * Verified assertions by their exact string, until they expire: the gateway reuses one assertion
 * per caller for up to 45 s, so a subgraph sees the same string on request after request. A hit
 * is the same bytes under the same key, so the same answer, as long as `exp` has not passed (the
 * only time-dependent check: no nbf, no clock tolerance, no maximum age).
 */
const verified = new WeakMap<Uint8Array, Map<string, { principal: InternalPrincipal; expMs: number }>>();
const VERIFIED_MAX = 10_000;

/** Verifies the gateway's assertion; throws IdentityError for anything but a valid, current one. */
export async function verifyIdentity(key: Uint8Array, token: string | undefined | null): Promise<InternalPrincipal> {
  if (!token) throw new IdentityError("missing gateway identity");
  let cache = verified.get(key);
  if (!cache) verified.set(key, (cache = new Map()));
  const hit = cache.get(token);
  if (hit) {
    if (hit.expMs > Date.now()) return { ...hit.principal };
    cache.delete(token);
  }
  const { principal, expMs } = await verifyUncached(key, token);
  if (cache.size >= VERIFIED_MAX) cache.delete(cache.keys().next().value as string);
  cache.set(token, { principal, expMs });
  return { ...principal };
}

async function verifyUncached(key: Uint8Array, token: string): Promise<{ principal: InternalPrincipal; expMs: number }> {
  try {
    const { payload } = await jwtVerify(token, keyObject(key), { algorithms: [ALG], issuer: ISSUER, audience: AUDIENCE, typ: "hub-identity+jwt", requiredClaims: ["sub", "exp", "iat"] });
    const role = payload.role;
    const expMs = Number(payload.exp) * 1000;
    if (role === "SERVICE") return { principal: { sub: String(payload.sub), role }, expMs };
    if (!ROLES.includes(role as never)) throw new IdentityError("bad role");
    const purpose = payload.purpose ?? null;
    if (purpose !== null && !isPurpose(purpose)) throw new IdentityError("bad purpose");
    if (payload.authority !== undefined && !AUTHORITIES.includes(payload.authority as never)) throw new IdentityError("bad authority");
    if (payload.person_role !== undefined && !PERSON_ROLES.includes(payload.person_role as never)) throw new IdentityError("bad person role");
    const str = (v: unknown) => (typeof v === "string" ? v : null);
    return {
      principal: {
        sub: String(payload.sub),
        role: role as Principal["role"],
        partnerId: (payload.partner_id as string | null) ?? null,
        memberId: (payload.member_id as string | null) ?? null,
        scope: (payload.scope as string) ?? "",
        purpose: purpose as Principal["purpose"],
        ...(payload.authority ? { authority: payload.authority as Principal["authority"] } : {}),
        ...(str(payload.client_id) ? { clientId: str(payload.client_id) } : {}),
        ...(str(payload.bound_member_id) ? { boundMemberId: str(payload.bound_member_id) } : {}),
        ...(str(payload.person_role) ? { personRole: str(payload.person_role) as Principal["personRole"] } : {}),
        ...(str(payload.grant_id) ? { grantId: str(payload.grant_id) } : {}),
        ...(Number.isSafeInteger(payload.redeem_daily_limit) ? { redeemDailyLimit: payload.redeem_daily_limit as number } : {}),
      },
      expMs,
    };
  } catch (e) {
    if (e instanceof IdentityError) throw e;
    if (e instanceof joseErrors.JOSEError) throw new IdentityError(e.code);
    throw new IdentityError("malformed gateway identity");
  }
}
