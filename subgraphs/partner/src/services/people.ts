import { Secret, TOTP } from "otpauth";
import { z } from "zod";
import { recordAudit } from "../../../../lib/audit.ts";
import { Prisma } from "../../../../lib/db.ts";
import { badInput, notFound } from "../../../../lib/errors.ts";
import { hashPassword, newActivationCode, normalizeActivationCode, passwordProblem, sha256, signInDelayMs, verifyPassword } from "../../../../lib/password.ts";
import type { Principal, PersonRole } from "../../../../lib/principal.ts";
import type { Person } from "../../../../prisma/generated/client/client.ts";
import { plumbingPrisma, prisma } from "../db.ts";
import { isUuid, parseInput } from "../../../../lib/input.ts";

/**
 * People who are not members (DESIGN.md §3): coalition admins (ADMIN, a second factor — TOTP,
 * RFC 6238 — required) and partner staff (PARTNER_ADMIN, PARTNER_STAFF of one partner). Invited by
 * an admin or by their partner's admin; they activate with a one-time code and sign in on the
 * hub's pages through the console client, getting PERSON tokens.
 */

export type { Person };
const ACTIVATION_TTL_MS = 7 * 86_400_000;
const FEED_WINDOW_MS = 20 * 60_000;

type Actor = Pick<Principal, "sub" | "role" | "partnerId" | "personRole" | "authority">;

const InviteInput = z
  .object({
    email: z.string().trim().toLowerCase().max(254, "email is at most 254 characters").pipe(z.email("email is not a valid address")),
    role: z.enum(["ADMIN", "PARTNER_ADMIN", "PARTNER_STAFF"]),
    partnerId: z.string().refine(isUuid, "partnerId is not a partner id").nullish(),
    displayName: z.string().trim().min(1).max(100, "displayName is at most 100 characters").nullish(),
  })
  .superRefine((v, ctx) => {
    if (v.role === "ADMIN" && v.partnerId) ctx.addIssue({ code: "custom", path: ["partnerId"], message: "An ADMIN belongs to no partner" });
    if (v.role !== "ADMIN" && !v.partnerId) ctx.addIssue({ code: "custom", path: ["partnerId"], message: "Partner staff need partnerId" });
  });

/** ADMIN (an admin API client or admin person) invites anyone; a PARTNER_ADMIN invites staff of its own partner. Others: NOT_FOUND. */
export async function invitePerson(actor: Actor, raw: unknown, now = new Date()): Promise<{ person: Person; activationCode: string; expiresAt: Date }> {
  const input = parseInput(InviteInput, raw);
  const partnerAdmin = actor.role === "PARTNER" && actor.personRole === "PARTNER_ADMIN" && !!actor.partnerId && actor.partnerId === input.partnerId && input.role !== "ADMIN";
  if (!(actor.role === "ADMIN" || partnerAdmin)) throw notFound("Partner", input.partnerId ?? undefined);
  if (input.partnerId && !(await prisma().partner.findUnique({ where: { id: input.partnerId }, select: { id: true } }))) throw notFound("Partner", input.partnerId);
  const activationCode = newActivationCode();
  const expiresAt = new Date(now.getTime() + ACTIVATION_TTL_MS);
  try {
    const person = await prisma().$transaction(async (tx) => {
      const created = await tx.person.create({
        data: {
          email: input.email,
          displayName: input.displayName ?? null,
          role: input.role,
          partnerId: input.partnerId ?? null,
          totpSecret: input.role === "ADMIN" ? new Secret({ size: 20 }).base32 : null,
          activationCodeHash: sha256(normalizeActivationCode(activationCode)),
          activationExpiresAt: expiresAt,
          invitedBy: actor.personRole ? `person:${actor.sub}` : actor.sub,
          createdAt: now,
        },
      });
      // The activation code and the TOTP seed are secrets: never in the trail.
      await recordAudit(tx, actor, { action: "person.invited", targetType: "Person", targetId: created.id, partnerId: created.partnerId, before: null, after: personAuditView(created) });
      return created;
    });
    return { person, activationCode, expiresAt };
  } catch (e) {
    if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === "P2002") throw badInput("A person with this email exists", "email");
    throw e;
  }
}

/** People visible to the actor: admins see all; a partner (client or staff) its own staff. */
export async function listPeople(actor: Actor): Promise<Person[]> {
  if (actor.role === "ADMIN") return prisma().person.findMany({ orderBy: [{ createdAt: "desc" }, { id: "asc" }], take: 1000 });
  if (actor.role === "PARTNER" && actor.partnerId) return prisma().person.findMany({ where: { partnerId: actor.partnerId }, orderBy: [{ createdAt: "desc" }, { id: "asc" }], take: 1000 });
  return [];
}

/** ADMIN disables (or re-enables) a person; a PARTNER_ADMIN its own partner's staff. Tokens stop within seconds. */
export async function setPersonDisabled(actor: Actor, personId: string, disabled: boolean, now = new Date()): Promise<Person> {
  const p = isUuid(personId) ? await prisma().person.findUnique({ where: { id: personId } }) : null;
  const partnerAdmin = actor.role === "PARTNER" && actor.personRole === "PARTNER_ADMIN" && p?.partnerId === actor.partnerId && p?.role !== "ADMIN";
  if (!p || !(actor.role === "ADMIN" || partnerAdmin)) throw notFound("Person", personId);
  return prisma().$transaction(async (tx) => {
    const updated = await tx.person.update({ where: { id: p.id }, data: { disabledAt: disabled ? now : null } });
    await recordAudit(tx, actor, {
      action: disabled ? "person.disabled" : "person.enabled",
      targetType: "Person",
      targetId: p.id,
      partnerId: p.partnerId,
      before: personAuditView(p),
      after: personAuditView(updated),
    });
    return updated;
  });
}

/** The fields of a person the audit trail records (no password hash, TOTP seed or activation code). */
export function personAuditView(p: Person) {
  return { email: p.email, displayName: p.displayName, role: p.role, partnerId: p.partnerId, disabledAt: p.disabledAt, invitedBy: p.invitedBy };
}

export const totpFor = (secret: string, label: string) => new TOTP({ issuer: "Coalition Hub", label, algorithm: "SHA1", digits: 6, period: 30, secret: Secret.fromBase32(secret) });

/** Activation page: sets the password; an ADMIN also gets the TOTP secret (otpauth:// URI), shown once here. */
export async function activatePerson(
  rawLogin: unknown,
  rawCode: unknown,
  rawPassword: unknown,
  now = new Date(),
): Promise<{ ok: true; personId: string; totpUri: string | null } | { ok: false; error: string; message?: string }> {
  const login = typeof rawLogin === "string" && rawLogin.length <= 254 ? rawLogin.trim().toLowerCase() : "";
  const code = typeof rawCode === "string" && rawCode.length <= 64 ? normalizeActivationCode(rawCode) : "";
  const problem = passwordProblem(rawPassword);
  if (problem) return { ok: false, error: "bad_password", message: problem };
  if (!login || !code) return { ok: false, error: "invalid" };
  const p = await prisma().person.findUnique({ where: { email: login } });
  if (!p?.activationCodeHash || p.activationCodeHash !== sha256(code) || !p.activationExpiresAt || p.activationExpiresAt <= now || p.disabledAt) return { ok: false, error: "invalid" };
  const passwordHash = await hashPassword(rawPassword as string);
  const { count } = await prisma().person.updateMany({ where: { id: p.id, activationCodeHash: p.activationCodeHash }, data: { passwordHash, activationCodeHash: null, activationExpiresAt: null } });
  if (!count) return { ok: false, error: "invalid" };
  return { ok: true, personId: p.id, totpUri: p.totpSecret ? totpFor(p.totpSecret, p.email).toString() : null };
}

/**
 * Person sign-in: password (progressive delay per account, claimed before the hash runs, as for
 * members), then for an ADMIN the TOTP code (±1 step, each step accepted once). Creates a session.
 */
export async function signInPerson(
  rawLogin: unknown,
  rawPassword: unknown,
  rawTotp: unknown,
  now = new Date(),
): Promise<{ ok: true; sessionId: string; personId: string; role: PersonRole; partnerId: string | null } | { ok: false; error: "invalid" | "throttled" | "totp_required"; retryAfterMs?: number }> {
  const login = typeof rawLogin === "string" && rawLogin.length <= 254 ? rawLogin.trim().toLowerCase() : "";
  const password = typeof rawPassword === "string" && rawPassword.length <= 1024 ? rawPassword : "";
  if (!login || !password) return { ok: false, error: "invalid" };
  const p = await prisma().person.findUnique({ where: { email: login }, include: { sessions: false } });
  if (!p?.passwordHash || p.disabledAt) return { ok: false, error: "invalid" };
  if (p.nextAttemptAt && p.nextAttemptAt > now) return { ok: false, error: "throttled", retryAfterMs: p.nextAttemptAt.getTime() - now.getTime() };
  const claimed = await prisma().person.updateMany({
    where: { id: p.id, failedCount: p.failedCount, OR: [{ nextAttemptAt: null }, { nextAttemptAt: { lte: now } }] },
    data: { nextAttemptAt: new Date(now.getTime() + signInDelayMs(p.failedCount + 1)) },
  });
  if (!claimed.count) return { ok: false, error: "throttled", retryAfterMs: signInDelayMs(p.failedCount + 1) };
  let ok = await verifyPassword(password, p.passwordHash);
  let step: number | null = null;
  if (ok && p.totpSecret) {
    const token = typeof rawTotp === "string" ? rawTotp.replace(/\s/g, "") : "";
    const delta = /^\d{6}$/.test(token) ? totpFor(p.totpSecret, p.email).validate({ token, timestamp: now.getTime(), window: 1 }) : null;
    step = delta === null ? null : Math.floor(now.getTime() / 30_000) + delta;
    if (step === null || (p.totpLastStep !== null && step <= p.totpLastStep)) ok = false;
  }
  if (!ok) {
    await prisma().person.update({ where: { id: p.id }, data: { failedCount: { increment: 1 } } });
    return { ok: false, error: p.totpSecret ? "totp_required" : "invalid" };
  }
  await prisma().person.update({ where: { id: p.id }, data: { failedCount: 0, nextAttemptAt: null, ...(step !== null ? { totpLastStep: step } : {}) } });
  const session = await prisma().personSession.create({ data: { personId: p.id, createdAt: now } });
  return { ok: true, sessionId: session.id, personId: p.id, role: p.role as PersonRole, partnerId: p.partnerId };
}

export async function revokePersonSession(sessionId: string, now = new Date()): Promise<void> {
  if (isUuid(sessionId)) await prisma().personSession.updateMany({ where: { id: sessionId, revokedAt: null }, data: { revokedAt: now } });
}

/** For the gateway's feed: sessions signed out and people disabled within the window. */
export async function peopleRevocationFeed(now = new Date()): Promise<{ sessions: string[]; people: string[] }> {
  const since = new Date(now.getTime() - FEED_WINDOW_MS);
  const [sessions, people] = await Promise.all([
    plumbingPrisma().personSession.findMany({ where: { revokedAt: { gte: since } }, select: { id: true } }),
    plumbingPrisma().person.findMany({ where: { disabledAt: { not: null } }, select: { id: true } }),
  ]);
  return { sessions: sessions.map((s) => s.id), people: people.map((p) => p.id) };
}
