import { SignJWT, jwtVerify, errors as joseErrors } from "jose";
import { PURPOSES, ROLES, type Principal } from "./principal.ts";

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

export async function signIdentity(key: Uint8Array, principal: InternalPrincipal, ttlSeconds = IDENTITY_TTL_SECONDS): Promise<string> {
  const claims: Record<string, unknown> = { role: principal.role };
  if (principal.role !== "SERVICE") {
    const p = principal as Principal;
    Object.assign(claims, { partner_id: p.partnerId, member_id: p.memberId, scope: p.scope, purpose: p.purpose });
  }
  return new SignJWT(claims)
    .setProtectedHeader({ alg: ALG, typ: "hub-identity+jwt" })
    .setIssuer(ISSUER)
    .setAudience(AUDIENCE)
    .setSubject(principal.sub)
    .setIssuedAt()
    .setExpirationTime(`${ttlSeconds}s`)
    .sign(key);
}

export class IdentityError extends Error {}

/** Verifies the gateway's assertion; throws IdentityError for anything but a valid, current one. */
export async function verifyIdentity(key: Uint8Array, token: string | undefined | null): Promise<InternalPrincipal> {
  if (!token) throw new IdentityError("missing gateway identity");
  try {
    const { payload } = await jwtVerify(token, key, { algorithms: [ALG], issuer: ISSUER, audience: AUDIENCE, typ: "hub-identity+jwt", requiredClaims: ["sub", "exp", "iat"] });
    const role = payload.role;
    if (role === "SERVICE") return { sub: String(payload.sub), role };
    if (!ROLES.includes(role as never)) throw new IdentityError("bad role");
    const purpose = payload.purpose ?? null;
    if (purpose !== null && !PURPOSES.includes(purpose as never)) throw new IdentityError("bad purpose");
    return {
      sub: String(payload.sub),
      role: role as Principal["role"],
      partnerId: (payload.partner_id as string | null) ?? null,
      memberId: (payload.member_id as string | null) ?? null,
      scope: (payload.scope as string) ?? "",
      purpose: purpose as Principal["purpose"],
    };
  } catch (e) {
    if (e instanceof IdentityError) throw e;
    if (e instanceof joseErrors.JOSEError) throw new IdentityError(e.code);
    throw new IdentityError("malformed gateway identity");
  }
}
