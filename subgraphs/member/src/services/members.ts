import { randomUUID } from "node:crypto";
import { z } from "zod";
import { recordAudit } from "../../../../lib/audit.ts";
import { Prisma } from "../../../../lib/db.ts";
import { badInput, forbidden, HubError, notFound } from "../../../../lib/errors.ts";
import { emit, emitMany, event } from "../../../../lib/events/outbox.ts";
import type { LinkedAccount, Member } from "../../../../prisma/generated/client/client.ts";
import { prisma } from "../db.ts";
import { type Actor, TX_OPTIONS, type WriteOptions } from "./domain.ts";
import { firstIssue, isUuid, parseInput } from "../../../../lib/input.ts";

export type { LinkedAccount, Member };

/**
 * Members and their links to partners: enrolment, linking, and the one visibility rule every read
 * of this subgraph applies (a PARTNER sees only members linked to it, a MEMBER only itself, an
 * ADMIN everyone; anything else is NOT_FOUND, never FORBIDDEN, so existence never leaks).
 */

export const ExternalRef = z
  .string()
  .trim()
  .min(1, "externalRef must not be empty")
  .max(128, "externalRef is at most 128 characters")
  .regex(/^[\x21-\x7e]+$/, "externalRef must be printable ASCII without spaces");

const Email = z.string().trim().toLowerCase().max(254, "email is at most 254 characters").pipe(z.email("email is not a valid address"));
const Phone = z
  .string()
  .transform((s) => s.replace(/[\s().-]/g, ""))
  .pipe(z.string().regex(/^\+[1-9]\d{6,14}$/, "phone must be an international number in E.164 form, e.g. +8613800138000"));
const Birthday = z
  .string()
  .regex(/^\d{4}-\d{2}-\d{2}$/, "birthday must be YYYY-MM-DD")
  .refine((s) => {
    const d = new Date(`${s}T00:00:00Z`);
    return !Number.isNaN(d.getTime()) && d.toISOString().slice(0, 10) === s && d.getUTCFullYear() >= 1900 && d.getTime() <= Date.now();
  }, "birthday must be a real calendar date between 1900-01-01 and today");

export const EnrollInput = z.object({
  email: Email,
  displayName: z.string().trim().min(1, "displayName must not be empty").max(100, "displayName is at most 100 characters").nullish(),
  phone: Phone.nullish(),
  birthday: Birthday.nullish(),
  externalRef: ExternalRef.nullish(),
});
export type EnrollInput = z.input<typeof EnrollInput>;

export interface EnrollResult {
  member: Member;
  /** False when the email already belonged to a member (a partner enrolment then links it). */
  created: boolean;
  /** The caller's link, when a partner enrolled. */
  link: LinkedAccount | null;
}

export interface EnrollOptions extends WriteOptions {
  /** Back-dated joining time (imports and the demo seed); defaults to now. */
  joinedAt?: Date;
}

/**
 * Enrols a member (ADMIN) or enrols-and-links (PARTNER, with the member's externalRef at that
 * partner).
 *
 * Email is the coalition-wide identity. A PARTNER enrolling a new email creates the member and an
 * active link. A PARTNER enrolling an email that already belongs to a member gets a link REQUEST
 * (pending, under its externalRef) and BAD_USER_INPUT with `linkPending: true`: the member confirms
 * it in a coalition app (`confirmPartnerLink`) and only then does the partner see the member. Why
 * not link at once: a linked partner can obtain member tokens for its members (token exchange), so
 * linking by a known email alone would let any partner impersonate any member whose email it has.
 * The price: a partner learns that an email it already holds belongs to some member. The existing
 * profile is never changed by a partner. Repeating the call is idempotent. An ADMIN enrolling an
 * existing email gets BAD_USER_INPUT (an admin sees every member anyway).
 */
export async function enrollMember(actor: Actor, rawInput: unknown, opts: EnrollOptions = {}): Promise<EnrollResult> {
  // An admin's enrolment through the API is an admin action: audited (bulk imports and the seed are not).
  const [result] = await enrollMembers(actor, [{ ...(rawInput as object), joinedAt: opts.joinedAt }], { now: opts.now, audit: actor.role === "ADMIN" });
  if ("error" in result!) {
    const { message, field, linkPending } = result.error;
    throw new HubError("BAD_USER_INPUT", message, { ...(field ? { field } : {}), ...(linkPending ? { linkPending } : {}) });
  }
  return result!;
}

/** One row of a bulk enrolment: the API input plus, for imports and the seed, a back-dated joining time. */
export type EnrollRow = EnrollInput & { joinedAt?: Date };
export type EnrollRowResult =
  | (EnrollResult & { index: number })
  /** `linkPending`: the email belongs to an existing member; a link request now waits for that member's confirmation. */
  | { index: number; error: { code: "BAD_USER_INPUT"; message: string; field?: string; linkPending?: true } };

export const LINK_PENDING_MESSAGE = "This email belongs to an existing coalition member: your link request waits for the member's confirmation in a coalition app";

/** Rows per transaction in bulk enrolment. */
export const ENROLL_CHUNK = 200;
/** Re-reads after losing a uniqueness race (email, or the partner's ref) before giving up. */
const ENROLL_RETRIES = 5;
/** Most rows accepted by one bulk call. */
export const ENROLL_MAX_ROWS = 10_000;

/**
 * Bulk enrolment with exactly the rules of `enrollMember` (which is this with one row): partners
 * importing their member base, and the demo seed. Each row is validated on its own; a bad row is
 * reported with its index and changes nothing, the others go through. Rows are written in chunks,
 * each chunk one transaction with a handful of statements (members, links and events by createMany).
 */
export async function enrollMembers(actor: Actor, rows: readonly unknown[], opts: WriteOptions & { audit?: boolean } = {}): Promise<EnrollRowResult[]> {
  if (actor.role !== "PARTNER" && actor.role !== "ADMIN") throw forbidden("Only partners and admins enrol members");
  const partnerId = actor.role === "PARTNER" ? actor.partnerId : null;
  if (actor.role === "PARTNER" && !partnerId) throw forbidden("Partner token without a partner");
  if (rows.length > ENROLL_MAX_ROWS) throw badInput(`At most ${ENROLL_MAX_ROWS} members per call`);
  const now = opts.now ?? new Date();
  const results: EnrollRowResult[] = [];
  const valid: { index: number; row: z.output<typeof EnrollInput> & { joinedAt?: Date } }[] = [];
  rows.forEach((raw, index) => {
    const parsed = EnrollInput.safeParse(raw);
    if (!parsed.success) {
      results.push({ index, error: { code: "BAD_USER_INPUT", ...firstIssue(parsed.error) } });
      return;
    }
    const row = { ...parsed.data, joinedAt: (raw as { joinedAt?: unknown })?.joinedAt instanceof Date ? (raw as { joinedAt: Date }).joinedAt : undefined };
    if (partnerId && !row.externalRef) {
      results.push({ index, error: { code: "BAD_USER_INPUT", message: "externalRef (the member's id in your systems) is required when a partner enrols a member", field: "externalRef" } });
    } else if (!partnerId && row.externalRef) {
      results.push({ index, error: { code: "BAD_USER_INPUT", message: "externalRef links a member to a partner; an admin enrolment has no partner", field: "externalRef" } });
    } else valid.push({ index, row });
  });
  for (let i = 0; i < valid.length; i += ENROLL_CHUNK) {
    const chunk = valid.slice(i, i + ENROLL_CHUNK);
    for (let attempt = 0; ; attempt++) {
      try {
        results.push(...(await prisma().$transaction((tx) => enrollChunk(tx, partnerId, chunk, now, opts.audit ? actor : null), TX_OPTIONS)));
        break;
      } catch (e) {
        // A concurrent enrolment of the same email or ref committed between our read and our write:
        // re-read and decide again (each retry sees the winner's rows, so this converges quickly).
        if (attempt < ENROLL_RETRIES && e instanceof Prisma.PrismaClientKnownRequestError && e.code === "P2002") {
          await new Promise((r) => setTimeout(r, 5 + Math.random() * 20 * (attempt + 1)));
          continue;
        }
        throw e;
      }
    }
  }
  return results.sort((a, b) => a.index - b.index);
}

async function enrollChunk(
  tx: Prisma.TransactionClient,
  partnerId: string | null,
  chunk: { index: number; row: z.output<typeof EnrollInput> & { joinedAt?: Date } }[],
  now: Date,
  auditActor: Actor | null,
): Promise<EnrollRowResult[]> {
  const emails = [...new Set(chunk.map((c) => c.row.email))];
  const byEmail = new Map((await tx.member.findMany({ where: { email: { in: emails } } })).map((m) => [m.email, m]));
  const existingIds = new Set([...byEmail.values()].map((m) => m.id));
  /** This partner's links by ref and by member, as they stand and as this chunk adds to them. */
  const refOwner = new Map<string, string>();
  const linkOf = new Map<string, LinkedAccount>();
  if (partnerId) {
    const refs = chunk.map((c) => c.row.externalRef!);
    const links = await tx.linkedAccount.findMany({
      where: { partnerId, OR: [{ externalRef: { in: refs } }, { memberId: { in: [...existingIds] } }] },
    });
    for (const l of links) {
      refOwner.set(l.externalRef, l.memberId);
      linkOf.set(l.memberId, l);
    }
    // Under READ COMMITTED the two reads above may straddle a concurrent enrolment's commit: its
    // link is seen but its member was not. Load such members so the same email resolves to them.
    const known = new Set([...byEmail.values()].map((m) => m.id));
    const unseen = [...new Set(refOwner.values())].filter((id) => !known.has(id));
    if (unseen.length) for (const m of await tx.member.findMany({ where: { id: { in: unseen } } })) if (!byEmail.has(m.email)) byEmail.set(m.email, m);
  }
  const newMembers: Member[] = [];
  const newLinks: LinkedAccount[] = [];
  const out: EnrollRowResult[] = [];
  const reject = (index: number, message: string, field: string, linkPending?: true) => out.push({ index, error: { code: "BAD_USER_INPUT", message, field, ...(linkPending ? { linkPending } : {}) } });
  for (const { index, row } of chunk) {
    let member = byEmail.get(row.email);
    if (member && !partnerId) {
      reject(index, "A member with this email already exists", "email");
      continue;
    }
    if (!partnerId) {
      member = newMember(row, now);
      byEmail.set(member.email, member);
      newMembers.push(member);
      out.push({ index, member, created: true, link: null });
      continue;
    }
    const ref = row.externalRef!;
    const owner = refOwner.get(ref);
    if (owner && owner !== member?.id) {
      reject(index, "This externalRef is already linked to another member at your partner", "externalRef");
      continue;
    }
    const current = member ? linkOf.get(member.id) : undefined;
    if (current && current.externalRef !== ref) {
      if (!current.confirmedAt) reject(index, "A link request for this email under another externalRef is waiting for the member's confirmation", "externalRef");
      else reject(index, "This member is already linked to your partner under another externalRef; change it with linkPartnerAccount", "externalRef");
      continue;
    }
    const created = !member;
    if (!member) {
      member = newMember(row, now);
      byEmail.set(member.email, member);
      newMembers.push(member);
    }
    let link = current;
    if (!link) {
      // Only a member this call created is linked at once; an existing one must confirm.
      const confirmedAt = newMembers.includes(member) ? now : null;
      link = { id: randomUUID(), memberId: member.id, partnerId, externalRef: ref, linkedAt: now, confirmedAt };
      newLinks.push(link);
      refOwner.set(ref, member.id);
      linkOf.set(member.id, link);
    }
    if (!link.confirmedAt) reject(index, LINK_PENDING_MESSAGE, "email", true);
    else out.push({ index, member, created, link });
  }
  if (newMembers.length) await tx.member.createMany({ data: newMembers });
  // No personal data in the append-only trail (it could never be erased): the member's id and joining time.
  if (auditActor)
    for (const m of newMembers) await recordAudit(tx, auditActor, { action: "member.enrolled_by_admin", targetType: "Member", targetId: m.id, before: null, after: { memberId: m.id, joinedAt: m.joinedAt } });
  if (newLinks.length) await tx.linkedAccount.createMany({ data: newLinks });
  await emitMany(tx, "member", [
    ...newMembers.map((m) => event("member.enrolled", { memberId: m.id, email: m.email, joinedAt: m.joinedAt.toISOString(), partnerId })),
    ...newLinks.map((l) =>
      l.confirmedAt
        ? event("member.linked", { memberId: l.memberId, partnerId: l.partnerId, externalRef: l.externalRef, linkedAt: l.confirmedAt.toISOString(), previousExternalRef: null })
        : // For a notification to the member (later); nobody consumes it yet.
          event("member.link_requested", { memberId: l.memberId, partnerId: l.partnerId, requestedAt: l.linkedAt.toISOString() }),
    ),
  ]);
  return out;
}

function newMember(row: z.output<typeof EnrollInput> & { joinedAt?: Date }, now: Date): Member {
  return {
    id: randomUUID(),
    email: row.email,
    displayName: row.displayName ?? null,
    phone: row.phone ?? null,
    birthday: row.birthday ?? null,
    joinedAt: row.joinedAt ?? now,
    lastActivityAt: null,
  };
}

/**
 * Sets the caller's reference for a member already linked to it (a partner re-keying its CRM, or
 * confirming a link: the same ref again is a no-op). A partner cannot link a member it does not
 * see yet by id: member ids are not secrets shared with partners, so knowing one must not grant
 * access. New links come from `enrollMember` with the member's email (enrol or link), which the
 * partner can only know from the member. A member it does not see is NOT_FOUND.
 */
export async function linkPartnerAccount(actor: Actor, memberId: string, rawExternalRef: unknown, opts: WriteOptions = {}): Promise<LinkedAccount> {
  if (actor.role !== "PARTNER" || !actor.partnerId) throw forbidden("Only partners link member accounts");
  const partnerId = actor.partnerId;
  const externalRef = parseInput(ExternalRef, rawExternalRef, "externalRef");
  if (!isUuid(memberId)) throw notFound("Member", memberId);
  const now = opts.now ?? new Date();
  const taken = () => badInput("This externalRef is already linked to another member at your partner", "externalRef");
  try {
    return await prisma().$transaction(async (tx) => {
      const current = await tx.linkedAccount.findUnique({ where: { memberId_partnerId: { memberId, partnerId } } });
      if (!current?.confirmedAt) throw notFound("Member", memberId);
      if (current.externalRef === externalRef) return current;
      if (await tx.linkedAccount.findUnique({ where: { partnerId_externalRef: { partnerId, externalRef } } })) throw taken();
      // Conditional on the ref we read: of two concurrent re-keys one wins, the other is told to retry.
      const { count } = await tx.linkedAccount.updateMany({ where: { id: current.id, externalRef: current.externalRef }, data: { externalRef } });
      if (count === 0) throw badInput("The link changed while you were updating it; read it again and retry", "externalRef");
      await emit(tx, "member.linked", { memberId, partnerId, externalRef, linkedAt: current.linkedAt.toISOString(), previousExternalRef: current.externalRef, at: now.toISOString() });
      return { ...current, externalRef };
    }, TX_OPTIONS);
  } catch (e) {
    // Another member took the ref between our check and our write.
    if (e instanceof Prisma.PrismaClientKnownRequestError && e.code === "P2002") throw taken();
    throw e;
  }
}

/** Members among `ids` the actor may see, by id (one query: the DataLoader batch function). */
export async function visibleMembers(actor: Actor, ids: readonly string[]): Promise<Map<string, Member>> {
  let wanted = [...new Set(ids)].filter(isUuid);
  if (actor.role === "MEMBER") wanted = wanted.filter((id) => id === actor.memberId);
  // A partner-view token (token exchange) sees its one member, and only while the member is linked.
  else if (actor.authority === "PARTNER_VIEW") wanted = wanted.filter((id) => id === actor.boundMemberId);
  else if (actor.role === "PARTNER" && !actor.partnerId) wanted = [];
  else if (actor.role !== "ADMIN" && actor.role !== "PARTNER") wanted = [];
  if (!wanted.length) return new Map();
  const rows = await prisma().member.findMany({
    where: { id: { in: wanted }, ...(actor.role === "PARTNER" ? { linkedAccounts: { some: { partnerId: actor.partnerId!, confirmedAt: { not: null } } } } : {}) },
  });
  return new Map(rows.map((m) => [m.id, m]));
}

/** The member a partner knows by its own reference: PARTNER for its own partnerId only (a partner-view token: its bound member only), ADMIN for any. */
export async function memberByPartnerRef(actor: Actor, partnerId: string, externalRef: string): Promise<Member | null> {
  if (actor.role === "PARTNER" ? actor.partnerId !== partnerId : actor.role !== "ADMIN") return null;
  if (!isUuid(partnerId)) return null;
  const link = await prisma().linkedAccount.findUnique({ where: { partnerId_externalRef: { partnerId, externalRef } }, include: { member: true } });
  if (actor.authority === "PARTNER_VIEW" && link?.memberId !== actor.boundMemberId) return null;
  return link?.confirmedAt ? link.member : null;
}

/** For the gateway's token exchange (internal endpoint, SERVICE identity): the member id behind a partner reference. */
export async function memberIdByPartnerRef(partnerId: string, externalRef: string): Promise<string | null> {
  if (!isUuid(partnerId)) return null;
  const link = await prisma().linkedAccount.findUnique({ where: { partnerId_externalRef: { partnerId, externalRef } }, select: { memberId: true, confirmedAt: true } });
  return link?.confirmedAt ? link.memberId : null;
}

/**
 * Linked accounts of members, as the actor may see them: a partner sees only its own link (which
 * other brands a member uses is the member's business); the member and admins see all.
 */
export async function linkedAccountsOf(actor: Actor, memberIds: readonly string[]): Promise<Map<string, LinkedAccount[]>> {
  const out = new Map<string, LinkedAccount[]>(memberIds.map((id) => [id, []]));
  if (actor.role === "PARTNER" && !actor.partnerId) return out;
  const rows = await prisma().linkedAccount.findMany({
    where: { memberId: { in: [...memberIds] }, confirmedAt: { not: null }, ...(actor.role === "PARTNER" ? { partnerId: actor.partnerId! } : {}) },
    orderBy: [{ linkedAt: "asc" }, { id: "asc" }],
  });
  for (const r of rows) out.get(r.memberId)?.push(r);
  return out;
}

/**
 * Pending link requests of members (partners asked to link an existing member by email): the
 * member and admins see them; a partner sees none (it does not see the member yet).
 */
export async function linkRequestsOf(actor: Actor, memberIds: readonly string[]): Promise<Map<string, LinkedAccount[]>> {
  const out = new Map<string, LinkedAccount[]>(memberIds.map((id) => [id, []]));
  if (actor.role === "PARTNER") return out;
  const rows = await prisma().linkedAccount.findMany({
    where: { memberId: { in: memberIds.filter(isUuid) }, confirmedAt: null },
    orderBy: [{ linkedAt: "asc" }, { id: "asc" }],
  });
  for (const r of rows) out.get(r.memberId)?.push(r);
  return out;
}

/**
 * The member accepts a partner's link request: from now on the partner sees the member (and can
 * ask for consents, award points, obtain member tokens). Emits `member.linked`. Confirming an
 * active link returns it unchanged; no request from that partner is NOT_FOUND.
 */
export async function confirmPartnerLink(actor: Actor, partnerId: string, opts: WriteOptions = {}): Promise<LinkedAccount> {
  if (actor.role !== "MEMBER" || !actor.memberId) throw forbidden("Only the member confirms a link");
  const memberId = actor.memberId;
  if (!isUuid(partnerId)) throw notFound("Link request");
  const now = opts.now ?? new Date();
  return prisma().$transaction(async (tx) => {
    const { count } = await tx.linkedAccount.updateMany({ where: { memberId, partnerId, confirmedAt: null }, data: { confirmedAt: now } });
    const link = await tx.linkedAccount.findUnique({ where: { memberId_partnerId: { memberId, partnerId } } });
    if (!link) throw notFound("Link request");
    if (count === 1) {
      await emit(tx, "member.linked", { memberId, partnerId, externalRef: link.externalRef, linkedAt: now.toISOString(), previousExternalRef: null });
    }
    return link;
  }, TX_OPTIONS);
}

/** The member turns a partner's link request down (the request is deleted; the partner may ask again). */
export async function declinePartnerLink(actor: Actor, partnerId: string): Promise<boolean> {
  if (actor.role !== "MEMBER" || !actor.memberId) throw forbidden("Only the member declines a link");
  if (!isUuid(partnerId)) return false;
  const { count } = await prisma().linkedAccount.deleteMany({ where: { memberId: actor.memberId, partnerId, confirmedAt: null } });
  return count > 0;
}
