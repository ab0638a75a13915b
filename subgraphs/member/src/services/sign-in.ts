import { randomBytes } from "node:crypto";
import { recordAudit } from "../../../../lib/audit.ts";
import { badInput, forbidden, notFound } from "../../../../lib/errors.ts";
import { hashPassword, newActivationCode, normalizeActivationCode, passwordProblem, sha256, signInDelayMs, verifyPassword } from "../../../../lib/password.ts";
import { MEMBER_SCOPES } from "../../../../lib/principal.ts";
import { isUuid } from "../../../../lib/input.ts";
import type { AppGrant } from "../../../../prisma/generated/client/client.ts";
import { plumbingPrisma, prisma } from "../db.ts";
import type { Actor } from "./domain.ts";

/**
 * Members' sign-in (DESIGN.md §3): passwords, one-time activation codes, the progressive delay
 * after failed sign-ins, and the member's grants (own sessions and approved partner apps) with
 * their rotating refresh tokens. The gateway's authorization server reaches these only through
 * /internal/auth/* (service identity); members see and revoke their app grants through GraphQL.
 */

export type { AppGrant };

export const ACTIVATION_TTL_MS = 7 * 86_400_000;
/** Refresh tokens live 30 days (each use rotates it). */
export const REFRESH_TTL_MS = 30 * 86_400_000;
/** Revocations stay in the gateway's feed this long: longer than any access token lives (15 min). */
export const FEED_WINDOW_MS = 20 * 60_000;

const clean = (v: unknown, max: number) => (typeof v === "string" && v.length > 0 && v.length <= max ? v : null);

/** The member a login names: the member number (the coalition-wide id) or the e-mail. */
async function memberIdByLogin(login: string): Promise<string | null> {
  const l = login.trim();
  if (isUuid(l)) return (await prisma().member.findUnique({ where: { id: l.toLowerCase() }, select: { id: true } }))?.id ?? null;
  if (!l.includes("@") || l.length > 254) return null;
  return (await prisma().member.findUnique({ where: { email: l.toLowerCase() }, select: { id: true } }))?.id ?? null;
}

/**
 * A new one-time activation code for a member's sign-in (shown once; only its hash is kept).
 * ADMIN: any member, also to reset a forgotten password. PARTNER: only a member linked to it
 * (confirmed link) who has not set a password yet — a partner must never be able to take over
 * an account the member already uses.
 */
export async function issueActivationCode(actor: Actor, memberId: string, now = new Date()): Promise<{ memberId: string; code: string; expiresAt: Date }> {
  if (actor.role !== "ADMIN" && actor.role !== "PARTNER") throw forbidden("Only an admin or the member's partner issues activation codes");
  if (!isUuid(memberId)) throw notFound("Member", memberId);
  const member = await prisma().member.findUnique({
    where: { id: memberId },
    select: { id: true, credential: { select: { passwordHash: true } }, linkedAccounts: { where: { partnerId: actor.partnerId ?? undefined }, select: { confirmedAt: true } } },
  });
  if (!member) throw notFound("Member", memberId);
  if (actor.role === "PARTNER") {
    if (!actor.partnerId || !member.linkedAccounts.some((l) => l.confirmedAt)) throw notFound("Member", memberId);
    if (member.credential?.passwordHash) throw badInput("The member has already activated sign-in; only an admin can issue a new code", "memberId");
  }
  const code = newActivationCode();
  const expiresAt = new Date(now.getTime() + ACTIVATION_TTL_MS);
  const data = { activationCodeHash: sha256(normalizeActivationCode(code)), activationExpiresAt: expiresAt, updatedAt: now };
  await prisma().$transaction(async (tx) => {
    const before = await tx.memberCredential.findUnique({ where: { memberId } });
    await tx.memberCredential.upsert({ where: { memberId }, create: { memberId, ...data }, update: data });
    // An admin's code can reset a password someone uses: audited (a partner's, only before first sign-in, is enrolment's routine).
    if (actor.role === "ADMIN")
      await recordAudit(tx, actor, { action: "member.activation_code_issued", targetType: "Member", targetId: memberId, before: credentialAuditView(before), after: credentialAuditView({ ...before, ...data }) });
  });
  return { memberId, code, expiresAt };
}

export type AuthOutcome<T> = { ok: true; value: T } | { ok: false; error: "invalid" | "throttled" | "bad_password"; retryAfterMs?: number; message?: string };

/**
 * Sets the password with a one-time activation code (the activation page). The code is consumed
 * by the same guarded UPDATE that stores the password, so it works once.
 */
export async function activate(rawLogin: unknown, rawCode: unknown, rawPassword: unknown, now = new Date()): Promise<AuthOutcome<{ memberId: string }>> {
  const login = clean(rawLogin, 254);
  const code = clean(rawCode, 64);
  const problem = passwordProblem(rawPassword);
  if (problem) return { ok: false, error: "bad_password", message: problem };
  if (!login || !code) return { ok: false, error: "invalid" };
  const memberId = await memberIdByLogin(login);
  if (!memberId) return { ok: false, error: "invalid" };
  const hash = sha256(normalizeActivationCode(code));
  const cred = await prisma().memberCredential.findUnique({ where: { memberId } });
  if (!cred?.activationCodeHash || cred.activationCodeHash !== hash || !cred.activationExpiresAt || cred.activationExpiresAt <= now || cred.disabledAt) return { ok: false, error: "invalid" };
  const passwordHash = await hashPassword(rawPassword as string);
  const { count } = await prisma().memberCredential.updateMany({
    where: { memberId, activationCodeHash: hash },
    data: { passwordHash, activationCodeHash: null, activationExpiresAt: null, failedCount: 0, nextAttemptAt: null, updatedAt: now },
  });
  return count ? { ok: true, value: { memberId } } : { ok: false, error: "invalid" };
}

/**
 * Checks a member's password. Throttled per account without a hard lock: the attempt first claims
 * the account with a guarded UPDATE that moves `nextAttemptAt` past now (by the delay this attempt
 * would earn if it fails); an attempt that finds the account inside its delay is refused WITHOUT
 * running the password hash, so a flood of guesses costs one hash per delay window, not one per
 * guess, and the member signs in as soon as the delay has passed. An unknown login costs no hash
 * either (the answer is the same "invalid" as a wrong password).
 */
export async function signIn(rawLogin: unknown, rawPassword: unknown, now = new Date()): Promise<AuthOutcome<{ memberId: string }>> {
  const login = clean(rawLogin, 254);
  const password = clean(rawPassword, 1024);
  if (!login || !password) return { ok: false, error: "invalid" };
  const memberId = await memberIdByLogin(login);
  if (!memberId) return { ok: false, error: "invalid" };
  const cred = await prisma().memberCredential.findUnique({ where: { memberId } });
  if (!cred?.passwordHash || cred.disabledAt) return { ok: false, error: "invalid" };
  if (cred.nextAttemptAt && cred.nextAttemptAt > now) return { ok: false, error: "throttled", retryAfterMs: cred.nextAttemptAt.getTime() - now.getTime() };
  const claimUntil = new Date(now.getTime() + signInDelayMs(cred.failedCount + 1));
  const claimed = await prisma().memberCredential.updateMany({
    where: { memberId, failedCount: cred.failedCount, OR: [{ nextAttemptAt: null }, { nextAttemptAt: { lte: now } }] },
    data: { nextAttemptAt: claimUntil },
  });
  if (!claimed.count) return { ok: false, error: "throttled", retryAfterMs: signInDelayMs(cred.failedCount + 1) };
  if (await verifyPassword(password, cred.passwordHash)) {
    await prisma().memberCredential.update({ where: { memberId }, data: { failedCount: 0, nextAttemptAt: null } });
    return { ok: true, value: { memberId } };
  }
  await prisma().memberCredential.update({ where: { memberId }, data: { failedCount: { increment: 1 } } });
  return { ok: false, error: "invalid", retryAfterMs: claimUntil.getTime() - now.getTime() };
}

/** The scopes a partner app may be granted (never `member`: that is the member's own session). */
export const APP_SCOPES = Object.keys(MEMBER_SCOPES).filter((s) => s !== "member");

export interface NewGrant {
  memberId: string;
  kind: "SESSION" | "APP";
  clientId: string;
  partnerId: string | null;
  appName: string;
  scopes: string[];
  redeemDailyLimit: number | null;
}

/** Records a grant (the member signed in, or approved an app on the consent screen). */
export async function createGrant(g: NewGrant, now = new Date()): Promise<AppGrant> {
  const cred = await prisma().memberCredential.findUnique({ where: { memberId: g.memberId }, select: { disabledAt: true } });
  if (!cred || cred.disabledAt) throw forbidden("The member cannot sign in");
  return prisma().appGrant.create({ data: { ...g, grantedAt: now } });
}

/** An active grant by id (null when revoked, unknown or the member is disabled). */
export async function activeGrant(grantId: string): Promise<AppGrant | null> {
  if (!isUuid(grantId)) return null;
  const g = await prisma().appGrant.findUnique({ where: { id: grantId }, include: { member: { select: { credential: { select: { disabledAt: true } } } } } });
  if (!g || g.revokedAt || g.member.credential?.disabledAt) return null;
  const { member: _m, ...grant } = g;
  return grant;
}

export async function issueRefreshToken(grantId: string, now = new Date()): Promise<string> {
  const token = randomBytes(32).toString("base64url");
  await prisma().refreshToken.create({ data: { tokenHash: sha256(token), grantId, createdAt: now, expiresAt: new Date(now.getTime() + REFRESH_TTL_MS) } });
  return token;
}

export async function revokeGrant(grantId: string, reason: string, now = new Date()): Promise<boolean> {
  if (!isUuid(grantId)) return false;
  const { count } = await prisma().appGrant.updateMany({ where: { id: grantId, revokedAt: null }, data: { revokedAt: now, revokedReason: reason } });
  return count > 0;
}

/**
 * Refresh with rotation: the presented token is consumed by a guarded UPDATE (`usedAt IS NULL`) and
 * a new one issued. A token already used (a copy that leaked, or a replay) revokes the whole grant —
 * every refresh and access token of that family — and the answer is invalid_grant.
 */
export async function rotateRefreshToken(rawToken: unknown, clientId: string, now = new Date()): Promise<{ ok: true; grant: AppGrant; refreshToken: string } | { ok: false; reason: string }> {
  const token = clean(rawToken, 200);
  if (!token) return { ok: false, reason: "unknown refresh token" };
  const row = await prisma().refreshToken.findUnique({ where: { tokenHash: sha256(token) }, include: { grant: true } });
  if (!row || row.grant.clientId !== clientId) return { ok: false, reason: "unknown refresh token" };
  if (row.usedAt) {
    await revokeGrant(row.grantId, "REFRESH_REUSE", now);
    return { ok: false, reason: "refresh token already used: the grant is revoked" };
  }
  if (row.expiresAt <= now) return { ok: false, reason: "refresh token expired" };
  const consumed = await prisma().refreshToken.updateMany({ where: { tokenHash: row.tokenHash, usedAt: null }, data: { usedAt: now } });
  if (!consumed.count) {
    await revokeGrant(row.grantId, "REFRESH_REUSE", now);
    return { ok: false, reason: "refresh token already used: the grant is revoked" };
  }
  const grant = await activeGrant(row.grantId);
  if (!grant) return { ok: false, reason: "the grant was revoked" };
  return { ok: true, grant, refreshToken: await issueRefreshToken(grant.id, now) };
}

/** RFC 7009 for refresh tokens: revokes the token's grant (only when presented by its own client). */
export async function revokeByRefreshToken(rawToken: unknown, clientId: string, now = new Date()): Promise<void> {
  const token = clean(rawToken, 200);
  if (!token) return;
  const row = await prisma().refreshToken.findUnique({ where: { tokenHash: sha256(token) }, include: { grant: { select: { clientId: true } } } });
  if (row && row.grant.clientId === clientId) await revokeGrant(row.grantId, "SIGN_OUT", now);
}

/** RFC 7662 for refresh tokens. */
export async function introspectRefreshToken(rawToken: unknown, now = new Date()): Promise<(AppGrant & { expiresAt: Date }) | null> {
  const token = clean(rawToken, 200);
  if (!token) return null;
  const row = await prisma().refreshToken.findUnique({ where: { tokenHash: sha256(token) } });
  if (!row || row.usedAt || row.expiresAt <= now) return null;
  const grant = await activeGrant(row.grantId);
  return grant ? { ...grant, expiresAt: row.expiresAt } : null;
}

/**
 * What the gateway must refuse now although the tokens still verify: grants revoked and members
 * whose sign-in was disabled within the feed window (older ones' tokens have expired anyway).
 */
export async function revocationFeed(now = new Date()): Promise<{ grants: string[]; members: string[] }> {
  const since = new Date(now.getTime() - FEED_WINDOW_MS);
  const [grants, members] = await Promise.all([
    plumbingPrisma().appGrant.findMany({ where: { revokedAt: { gte: since } }, select: { id: true } }),
    plumbingPrisma().memberCredential.findMany({ where: { disabledAt: { gte: since } }, select: { memberId: true } }),
  ]);
  return { grants: grants.map((g) => g.id), members: members.map((m) => m.memberId) };
}

/** The member's partner-app grants (not its own sessions), newest first. */
export async function appGrantsOf(memberId: string): Promise<AppGrant[]> {
  return prisma().appGrant.findMany({ where: { memberId, kind: "APP" }, orderBy: [{ grantedAt: "desc" }, { id: "asc" }], take: 500 });
}

/** The member withdraws an app's grant: its tokens are refused within seconds (revocation feed). */
export async function revokeAppGrant(actor: Actor, grantId: string, now = new Date()): Promise<AppGrant> {
  const g = isUuid(grantId) ? await prisma().appGrant.findUnique({ where: { id: grantId } }) : null;
  const mine = g && actor.role === "MEMBER" && actor.memberId === g.memberId && g.kind === "APP";
  if (!g || !(mine || actor.role === "ADMIN")) throw notFound("AppGrant", grantId);
  if (actor.role !== "ADMIN") {
    await revokeGrant(g.id, "MEMBER", now);
    return prisma().appGrant.findUniqueOrThrow({ where: { id: g.id } });
  }
  return prisma().$transaction(async (tx) => {
    await tx.appGrant.updateMany({ where: { id: g.id, revokedAt: null }, data: { revokedAt: now, revokedReason: "ADMIN" } });
    const after = await tx.appGrant.findUniqueOrThrow({ where: { id: g.id } });
    const view = (x: AppGrant) => ({ memberId: x.memberId, kind: x.kind, clientId: x.clientId, partnerId: x.partnerId, scopes: x.scopes, revokedAt: x.revokedAt, revokedReason: x.revokedReason });
    await recordAudit(tx, actor, { action: "app_grant.revoked", targetType: "AppGrant", targetId: g.id, partnerId: g.partnerId, before: view(g), after: view(after) });
    return after;
  });
}

/** ADMIN disables (or re-enables) a member's sign-in; disabling stops every token within seconds. */
export async function setMemberSignInDisabled(actor: Actor, memberId: string, disabled: boolean, now = new Date()): Promise<void> {
  if (actor.role !== "ADMIN") throw forbidden("Only an admin disables a member's sign-in");
  if (!isUuid(memberId) || !(await prisma().member.findUnique({ where: { id: memberId }, select: { id: true } }))) throw notFound("Member", memberId);
  const data = { disabledAt: disabled ? now : null, updatedAt: now };
  await prisma().$transaction(async (tx) => {
    const before = await tx.memberCredential.findUnique({ where: { memberId } });
    await tx.memberCredential.upsert({ where: { memberId }, create: { memberId, ...data }, update: data });
    await recordAudit(tx, actor, { action: "member.sign_in_disabled", targetType: "Member", targetId: memberId, before: credentialAuditView(before), after: credentialAuditView({ ...before, ...data }) });
  });
}

/** What the audit trail keeps of a member's sign-in: states and times, never a hash or a code. */
function credentialAuditView(c: { passwordHash?: string | null; activationExpiresAt?: Date | null; disabledAt?: Date | null } | null) {
  // Key names avoid the redacted words (lib/audit.ts SECRET_KEY): these are facts, not secrets.
  return { signInSetUp: Boolean(c?.passwordHash), newCodeValidUntil: c?.activationExpiresAt ?? null, disabledAt: c?.disabledAt ?? null };
}
