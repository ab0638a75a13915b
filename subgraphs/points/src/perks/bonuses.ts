import { Decimal } from "decimal.js";
import { emitMany, event, type NewEvent } from "../../../../lib/events/outbox.ts";
import { addMonths, settings } from "../config.ts";
import { Prisma } from "../../../../lib/db.ts";
import { postCredits } from "../ledger/batch.ts";
import { applyDeferred, type DeferredUpdate, ensureAccounts, MAX_POINTS, PROGRAM_BONUS, requestHash, type Tx, walletCode } from "../ledger/ledger.ts";
import { type Program, programAt } from "../program/model.ts";

/**
 * The program's bonuses (issue 16), paid as PROGRAM_BONUS transactions through the ledger (the only
 * writer) from the coalition's PROGRAM_BONUS account: the operator pays for them, so their lots
 * have no issuer and settlement treats them as it treats an admin's credit (a partner where they
 * are redeemed is paid its redemption rate; the operator's margin carries the cost).
 *
 * - WELCOME: `points` once per member ever, on the first purchase (FIRST_PURCHASE: the first earn
 *   with a purchaseAmount, the spend fact; an award of explicit points is not a purchase) or at enrolment
 *   (ENROLMENT, the member.enrolled consumer), only while the time is before joinedAt + windowMonths.
 * - BIRTHDAY, only in the member's birth month (the month of the earn's time in HUB_TIME_ZONE) and
 *   only where this subgraph holds an active, unexpired consent receipt of the member for the
 *   earning partner that covers the program's `consentCategory` (PROFILE_BASIC in the classic
 *   program) — the only way it learns the birth month (member.consent_granted carries it under
 *   PROFILE_BASIC): POINTS pays `points` once per year (the year in HUB_TIME_ZONE); MULTIPLIER pays
 *   base × (multiplier − 1), rounded down, with every earn of the month.
 *
 * Once means once: a once-only bonus first inserts its BonusGrant row (member, kind, period) with
 * ON CONFLICT DO NOTHING in the paying transaction. A concurrent transaction inserting the same row
 * waits for the first one's commit and then inserts nothing, so concurrent earns, replayed earns
 * (their idempotency key returns the first earn) and redelivered events pay it once. Its ledger key
 * is `<kind>:<memberId>:<period>` in scope system:program-bonus; a multiplier bonus's key is
 * `birthday-earn:<earn transaction id>`. `PointsTransaction.bonusKind` reads the kind from the key.
 */

export const BONUS_SCOPE = "system:program-bonus";
export type BonusKind = "WELCOME" | "BIRTHDAY";

/** The bonus kind of a PROGRAM_BONUS transaction, from its idempotency key (null for any other transaction). */
export function bonusKindOf(t: { kind: string; idempotencyScope: string; idempotencyKey: string }): BonusKind | null {
  if (t.kind !== "PROGRAM_BONUS" || t.idempotencyScope !== BONUS_SCOPE) return null;
  if (t.idempotencyKey.startsWith("welcome:")) return "WELCOME";
  if (t.idempotencyKey.startsWith("birthday")) return "BIRTHDAY";
  return null;
}

const formatters = new Map<string, Intl.DateTimeFormat>();

/** Year and month (1–12) of `at` in time zone `timeZone`. */
export function yearMonthIn(timeZone: string, at: Date): { year: number; month: number } {
  let f = formatters.get(timeZone);
  if (!f) formatters.set(timeZone, (f = new Intl.DateTimeFormat("en-US", { timeZone, year: "numeric", month: "numeric" })));
  const parts = f.formatToParts(at);
  const n = (t: string) => Number(parts.find((p) => p.type === t)?.value);
  return { year: n("year"), month: n("month") };
}

/** One earn just posted in `tx`: the member, its points, its transaction id and whether it recorded a purchase amount (spend). */
export interface PostedEarn {
  memberId: string;
  points: number;
  transactionId: string;
  /** An earn with a purchaseAmount: a purchase (the welcome bonus's trigger); an award of explicit points is not. */
  purchase: boolean;
}

/**
 * What the bonuses of an earn at a partner are decided on, per member: read by the earn's own facts
 * query (earning/rules.ts earnFacts), so a bonus costs no round trip when none is due.
 */
export interface BonusFacts {
  joinedAt: Date | null;
  /** The WELCOME grant exists. */
  welcomed: boolean;
  /** A BIRTHDAY grant exists for the year of the earn's time (HUB_TIME_ZONE). */
  birthdayPaid: boolean;
  /** The birth month from each active, unexpired consent receipt for this partner, per category it covers ("month:CATEGORY"), the newest receipt first (a changed birthday: the latest grant says it). */
  birthConsents: string[];
}

/**
 * The columns and joins earnFacts adds to its one query for the members `m` of an earn at
 * `partnerId` at `at` (index lookups by member: MemberJoin's key, BonusGrant's key, MemberConsent's
 * member index). The program in force is only known from that query's result, so the facts are
 * read whatever its bonuses; the consent's category is matched in code for the same reason.
 */
export function bonusFactsSql(partnerId: string, at: Date): { columns: Prisma.Sql; joins: Prisma.Sql } {
  const { year } = yearMonthIn(settings().timeZone, at);
  return {
    columns: Prisma.sql`j."joinedAt", gw."memberId" IS NOT NULL AS welcomed, gb."memberId" IS NOT NULL AS "birthdayPaid",
      (SELECT array_agg(mc."birthMonth"::text || ':' || cat ORDER BY mc."updatedAt" DESC) FROM "points"."MemberConsent" mc CROSS JOIN LATERAL unnest(mc.categories) AS cat
        WHERE mc."memberId" = m AND mc."partnerId" = ${partnerId}::uuid AND mc.active AND mc."birthMonth" IS NOT NULL
          AND (mc."expiresAt" IS NULL OR mc."expiresAt" > ${at})) AS "birthConsents"`,
    joins: Prisma.sql`
      LEFT JOIN "points"."MemberJoin" j ON j."memberId" = m
      LEFT JOIN "points"."BonusGrant" gw ON gw."memberId" = m AND gw.kind = 'WELCOME' AND gw.period = 'once'
      LEFT JOIN "points"."BonusGrant" gb ON gb."memberId" = m AND gb.kind = 'BIRTHDAY' AND gb.period = ${String(year)}`,
  };
}

/** The birth month a member's consents for the earning partner disclose under `category`, if any. */
function birthMonthUnder(f: BonusFacts, category: string): number | null {
  for (const e of f.birthConsents) {
    const i = e.indexOf(":");
    if (e.slice(i + 1) === category) return Number(e.slice(0, i));
  }
  return null;
}

interface Payment {
  memberId: string;
  kind: BonusKind;
  points: number;
  key: string;
  reason: string;
  /** The BonusGrant row that makes it once-only; null for a per-earn multiplier bonus. */
  grant: { period: string } | null;
}

/**
 * Pays `payments` set-based: ONE insert of their BonusGrant rows (ON CONFLICT DO NOTHING: a grant
 * another transaction holds or made means that bonus is not paid here) and ONE batch of
 * PROGRAM_BONUS credits through the ledger (ledger/batch.ts postCredits), whatever their number.
 * Lock order: the members' wallets first (the earn paths hold them already; `lockWallets` takes them
 * for the enrolment path), then the grant rows, so both paths take them in one order (no deadlock).
 * The program-bonus account's balance update joins `deferred`, applied by the caller last; without
 * `deferred` it is applied here. Returns the points.activity events for the caller to emit.
 */
async function pay(tx: Tx, payments: Payment[], o: { partnerId: string | null; at: Date; createdBy: string; deferred?: DeferredUpdate[]; lockWallets?: boolean }): Promise<NewEvent<"points.activity">[]> {
  const due = payments.filter((p) => p.points >= 1);
  if (!due.length) return [];
  if (o.lockWallets) {
    const accounts = await ensureAccounts(
      tx,
      due.map((p) => walletCode(p.memberId)),
    );
    await tx.$queryRaw`SELECT id FROM "points"."LedgerAccount" WHERE id = ANY(${[...accounts.values()].map((a) => a.id)}::bigint[]) ORDER BY id FOR UPDATE`;
  }
  const once = due.filter((p) => p.grant);
  const won = new Set<string>();
  if (once.length) {
    const rows = await tx.$queryRaw<{ memberId: string; kind: string }[]>`
      INSERT INTO "points"."BonusGrant" ("memberId", kind, period, "grantedAt")
      SELECT m, k, p, ${o.at} FROM unnest(${once.map((p) => p.memberId)}::uuid[], ${once.map((p) => p.kind)}::text[], ${once.map((p) => p.grant!.period)}::text[]) AS u(m, k, p)
      ON CONFLICT DO NOTHING RETURNING "memberId"::text AS "memberId", kind`;
    for (const r of rows) won.add(`${r.memberId}:${r.kind}`);
  }
  const paid = due.filter((p) => !p.grant || won.has(`${p.memberId}:${p.kind}`));
  if (!paid.length) return [];
  const deferred = o.deferred ?? [];
  const credits = paid.map((p) => {
    const points = Math.min(p.points, MAX_POINTS);
    return { memberId: p.memberId, points, reference: null, idempotencyKey: p.key, requestHash: requestHash({ op: "programBonus", key: p.key, points }), reason: p.reason };
  });
  await postCredits(tx, { kind: "PROGRAM_BONUS", partnerId: o.partnerId, sourceCode: PROGRAM_BONUS, issuerPartnerId: null, scope: BONUS_SCOPE, createdBy: o.createdBy, postedAt: o.at, items: credits, deferred });
  if (!o.deferred) await applyDeferred(tx, deferred);
  return credits.map((c) => event("points.activity", { memberId: c.memberId, at: o.at.toISOString(), kind: "PROGRAM_BONUS", points: c.points, partnerId: o.partnerId }));
}

/**
 * The bonuses due on earns just posted in `tx` (the single, group-committed and bulk earn paths call
 * it after their EARNs, before their deferred updates): welcome (FIRST_PURCHASE) and birthday,
 * decided on `facts` (read with the earns' own facts, see bonusFactsSql) and paid set-based (pay).
 * Returns their points.activity events; the caller emits them with its EARN events. The
 * PROGRAM_BONUS account's balance update joins `deferred` (the caller applies it last).
 */
export async function payEarnBonuses(
  tx: Tx,
  o: { partnerId: string; at: Date; createdBy: string; earns: readonly PostedEarn[]; facts: ReadonlyMap<string, BonusFacts>; deferred: DeferredUpdate[]; program: Program },
): Promise<NewEvent<"points.activity">[]> {
  if (!o.earns.length) return [];
  const program = o.program;
  const welcome = program.bonuses.welcome?.trigger === "FIRST_PURCHASE" ? program.bonuses.welcome : null;
  const birthday = program.bonuses.birthday;
  if (!welcome && !birthday) return [];
  const tz = settings().timeZone;
  const { year, month } = yearMonthIn(tz, o.at);
  const payments: Payment[] = [];
  const planned = new Set<string>();
  for (const e of o.earns) {
    const f = o.facts.get(e.memberId);
    if (!f) continue;
    if (welcome && e.purchase && !f.welcomed && f.joinedAt && o.at >= new Date(f.joinedAt) && o.at < addMonths(new Date(f.joinedAt), welcome.windowMonths) && !planned.has(`W${e.memberId}`)) {
      planned.add(`W${e.memberId}`);
      payments.push({
        memberId: e.memberId,
        kind: "WELCOME",
        points: welcome.points,
        key: `welcome:${e.memberId}:once`,
        reason: `Welcome bonus: ${welcome.points} points on the first purchase within ${welcome.windowMonths} months of joining`,
        grant: { period: "once" },
      });
    }
    if (birthday && birthMonthUnder(f, birthday.consentCategory) === month) {
      if (birthday.kind === "POINTS" && birthday.points && !f.birthdayPaid && !planned.has(`B${e.memberId}`)) {
        planned.add(`B${e.memberId}`);
        payments.push({
          memberId: e.memberId,
          kind: "BIRTHDAY",
          points: birthday.points,
          key: `birthday:${e.memberId}:${year}`,
          reason: `Birthday bonus: ${birthday.points} points in the birth month (${year}-${String(month).padStart(2, "0")}, ${tz})`,
          grant: { period: String(year) },
        });
      } else if (birthday.kind === "MULTIPLIER" && birthday.multiplier) {
        const extra = new Decimal(e.points).mul(new Decimal(birthday.multiplier).minus(1)).floor().toNumber();
        payments.push({
          memberId: e.memberId,
          kind: "BIRTHDAY",
          points: extra,
          key: `birthday-earn:${e.transactionId}`,
          reason: `Birthday bonus: earn × ${birthday.multiplier} in the birth month (${year}-${String(month).padStart(2, "0")}, ${tz})`,
          grant: null,
        });
      }
    }
  }
  if (!payments.length) return [];
  return pay(tx, payments, { partnerId: o.partnerId, at: o.at, createdBy: o.createdBy, deferred: o.deferred });
}

/**
 * The welcome bonus at enrolment (trigger ENROLMENT), from the member.enrolled consumer in its inbox
 * transaction: paid when `now` is within the window after joinedAt; once per member ever (BonusGrant).
 */
export async function payEnrolmentBonus(tx: Tx, o: { memberId: string; partnerId: string | null; joinedAt: Date; now: Date }): Promise<boolean> {
  return (await payEnrolmentBonuses(tx, [o], o.now)) > 0;
}

/**
 * The enrolment bonuses of several new members, in order (a delivered batch of member.enrolled):
 * the program is read once; nothing else happens unless its welcome trigger is ENROLMENT. Returns
 * how many were paid.
 */
export async function payEnrolmentBonuses(tx: Tx, joins: readonly { memberId: string; partnerId: string | null; joinedAt: Date }[], now: Date): Promise<number> {
  if (!joins.length) return 0;
  const welcome = (await programAt(tx, now)).program.bonuses.welcome;
  if (welcome?.trigger !== "ENROLMENT") return 0;
  let paid = 0;
  for (const o of joins) {
    if (now < o.joinedAt || now >= addMonths(o.joinedAt, welcome.windowMonths)) continue;
    const events = await pay(
      tx,
      [
        {
          memberId: o.memberId,
          kind: "WELCOME",
          points: welcome.points,
          key: `welcome:${o.memberId}:once`,
          reason: `Welcome bonus: ${welcome.points} points on joining`,
          grant: { period: "once" },
        },
      ],
      { partnerId: o.partnerId, at: now, createdBy: "system:program-bonus", lockWallets: true },
    );
    await emitMany(tx, "points", events);
    if (events.length) paid++;
  }
  return paid;
}
