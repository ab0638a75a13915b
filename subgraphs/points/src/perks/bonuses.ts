import { Decimal } from "decimal.js";
import { emitMany, event, type NewEvent } from "../../../../lib/events/outbox.ts";
import { addMonths, settings } from "../config.ts";
import { type DeferredUpdate, lockWallet, MAX_POINTS, post, PROGRAM_BONUS, requestHash, type Tx, walletCode } from "../ledger/ledger.ts";
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

/** Year and month (1–12) of `at` in time zone `timeZone`. */
export function yearMonthIn(timeZone: string, at: Date): { year: number; month: number } {
  const parts = new Intl.DateTimeFormat("en-US", { timeZone, year: "numeric", month: "numeric" }).formatToParts(at);
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

interface Payment {
  memberId: string;
  kind: BonusKind;
  points: number;
  key: string;
  reason: string;
  /** The BonusGrant row that makes it once-only; null for a per-earn multiplier bonus. */
  grant: { period: string } | null;
}

async function pay(tx: Tx, payments: Payment[], o: { partnerId: string | null; at: Date; createdBy: string; deferred?: DeferredUpdate[] }): Promise<NewEvent<"points.activity">[]> {
  const events: NewEvent<"points.activity">[] = [];
  for (const p of payments) {
    if (p.points < 1) continue;
    if (p.grant) {
      // The wallet first (the member's mutex, the ledger's lock order), then the grant row: an earn
      // holds the wallet when it gets here, so both paths take them in one order (no deadlock).
      await lockWallet(tx, p.memberId);
      const won = await tx.$queryRaw<{ memberId: string }[]>`
        INSERT INTO "points"."BonusGrant" ("memberId", kind, period, "grantedAt") VALUES (${p.memberId}::uuid, ${p.kind}, ${p.grant.period}, ${o.at})
        ON CONFLICT DO NOTHING RETURNING "memberId"::text AS "memberId"`;
      if (!won.length) continue;
    }
    const points = Math.min(p.points, MAX_POINTS);
    await post(tx, {
      kind: "PROGRAM_BONUS",
      memberId: p.memberId,
      partnerId: o.partnerId,
      postings: [
        { accountCode: walletCode(p.memberId), amount: points },
        { accountCode: PROGRAM_BONUS, amount: -points },
      ],
      idempotency: { scope: BONUS_SCOPE, key: p.key, requestHash: requestHash({ op: "programBonus", key: p.key, points }) },
      reason: p.reason,
      createdBy: o.createdBy,
      postedAt: o.at,
      lots: { mode: "credit", issuerPartnerId: null },
      deferred: o.deferred,
    });
    events.push(event("points.activity", { memberId: p.memberId, at: o.at.toISOString(), kind: "PROGRAM_BONUS", points, partnerId: o.partnerId }));
  }
  return events;
}

/**
 * The bonuses due on earns just posted in `tx` (the single, group-committed and bulk earn paths call
 * it after their EARNs, before their deferred updates): welcome (FIRST_PURCHASE) and birthday. One
 * query reads the facts of all the earns' members, and only when the program has such a bonus.
 * Their points.activity events are emitted here; the PROGRAM_BONUS account's balance update joins
 * `deferred` (the caller applies it last, with the issuance row).
 */
export async function payEarnBonuses(tx: Tx, o: { partnerId: string; at: Date; createdBy: string; earns: readonly PostedEarn[]; deferred?: DeferredUpdate[]; program?: Program }): Promise<number> {
  if (!o.earns.length) return 0;
  const program = o.program ?? (await programAt(tx, o.at)).program;
  const welcome = program.bonuses.welcome?.trigger === "FIRST_PURCHASE" ? program.bonuses.welcome : null;
  const birthday = program.bonuses.birthday;
  if (!welcome && !birthday) return 0;
  const tz = settings().timeZone;
  const { year, month } = yearMonthIn(tz, o.at);
  const ids = [...new Set(o.earns.map((e) => e.memberId))];
  const facts = await tx.$queryRaw<{ memberId: string; joinedAt: Date | null; welcomed: boolean; birthMonth: number | null; birthdayPaid: boolean }[]>`
    SELECT x.m::text AS "memberId", j."joinedAt",
      EXISTS (SELECT 1 FROM "points"."BonusGrant" g WHERE g."memberId" = x.m AND g.kind = 'WELCOME') AS welcomed,
      (SELECT c."birthMonth" FROM "points"."MemberConsent" c
        WHERE c."memberId" = x.m AND c."partnerId" = ${o.partnerId}::uuid AND c.active AND c."birthMonth" IS NOT NULL
          AND ${birthday?.consentCategory ?? ""} = ANY(c.categories) AND (c."expiresAt" IS NULL OR c."expiresAt" > ${o.at})
        LIMIT 1)::int AS "birthMonth",
      EXISTS (SELECT 1 FROM "points"."BonusGrant" g WHERE g."memberId" = x.m AND g.kind = 'BIRTHDAY' AND g.period = ${String(year)}) AS "birthdayPaid"
    FROM unnest(${ids}::uuid[]) AS x(m) LEFT JOIN "points"."MemberJoin" j ON j."memberId" = x.m`;
  const byMember = new Map(facts.map((f) => [f.memberId, f]));
  const payments: Payment[] = [];
  const planned = new Set<string>();
  for (const e of o.earns) {
    const f = byMember.get(e.memberId);
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
    if (birthday && f.birthMonth === month) {
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
  if (!payments.length) return 0;
  const events = await pay(tx, payments, { partnerId: o.partnerId, at: o.at, createdBy: o.createdBy, deferred: o.deferred });
  await emitMany(tx, "points", events);
  return events.length;
}

/**
 * The welcome bonus at enrolment (trigger ENROLMENT), from the member.enrolled consumer in its inbox
 * transaction: paid when `now` is within the window after joinedAt; once per member ever (BonusGrant).
 */
export async function payEnrolmentBonus(tx: Tx, o: { memberId: string; partnerId: string | null; joinedAt: Date; now: Date }): Promise<boolean> {
  const welcome = (await programAt(tx, o.now)).program.bonuses.welcome;
  if (welcome?.trigger !== "ENROLMENT") return false;
  if (o.now < o.joinedAt || o.now >= addMonths(o.joinedAt, welcome.windowMonths)) return false;
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
    { partnerId: o.partnerId, at: o.now, createdBy: "system:program-bonus" },
  );
  await emitMany(tx, "points", events);
  return events.length > 0;
}
