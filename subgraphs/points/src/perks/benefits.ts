import { Decimal } from "decimal.js";
import { now as clockNow } from "../../../../lib/clock.ts";
import { z } from "zod";
import { badInput, HubError, notFound } from "../../../../lib/errors.ts";
import { type BiPage, encodeCursor, keysetPage, keysetSql, type PageArgs, pageRequest } from "../../../../lib/paging.ts";
import { Prisma } from "../../../../lib/db.ts";
import { parseInput, isUuid } from "../../../../lib/input.ts";
import type { Purpose, Tier } from "../../../../lib/vocabulary.ts";
import { currencySettings } from "../config.ts";
import { prisma } from "../db.ts";
import { type Actor, IdempotencyKey, Reference, requirePartner, scopeOf, Uuid, type WriteOptions } from "../domain.ts";
import { idempotent, requestHash, TX_OPTIONS, type Tx } from "../ledger/ledger.ts";
import { type Benefit, type Program, programAt } from "../program/model.ts";

/**
 * Standing tier benefits (issue 16): what the program in force gives a member's tier at a partner
 * (`Member.benefits`), and the record that a partner honoured one (`applyTierBenefit`). The hub
 * does not move money for them: a partner gives the discount at its till and records it here, for
 * reporting and, where the program marks the benefit settlement-relevant, for settlement
 * (`tierBenefitTotals`, also on each settlement run for its period).
 */

/**
 * The standing benefits of a program tier (by its code). A benefit of the program holds at every
 * partner (the program has no per-partner benefits), so "at a partner" is the same list everywhere.
 */
export function benefitsOf(program: Program, tierCode: string): Benefit[] {
  return program.benefits.filter((b) => b.tierCode === tierCode);
}

/** Largest purchase one record may carry, in currency units (a sane bound against typos and overflow, like MAX_POINTS for points). */
export const MAX_PURCHASE = 100_000_000;

const moneyString = (field: string, minorUnits: number) =>
  z
    .string({ error: `${field} must be a decimal string like "129.90"` })
    .regex(new RegExp(`^\\d{1,9}(\\.\\d{1,${Math.max(minorUnits, 1)}})?$`), `${field} must be a positive decimal string like "129.90" with at most ${minorUnits} decimals`)
    .refine((s) => new Decimal(s).gt(0), `${field} must be above 0`)
    .refine((s) => new Decimal(s).lte(MAX_PURCHASE), `${field} must be at most ${MAX_PURCHASE.toLocaleString("en")}`);

function applyInputSchema() {
  const { code, minorUnits } = currencySettings();
  return z.object({
    memberId: Uuid,
    benefitCode: z
      .string()
      .min(1, "benefitCode must not be empty")
      .max(64, "benefitCode is at most 64 characters")
      .regex(/^[A-Z][A-Z0-9_]*$/, "benefitCode is a program benefit code like SILVER_DISCOUNT (A–Z, 0–9, _)"),
    purchaseAmount: moneyString("purchaseAmount", minorUnits),
    discountAmount: moneyString("discountAmount", minorUnits),
    currency: z
      .string()
      .regex(/^[A-Z]{3}$/, "currency must be an ISO 4217 code like CNY")
      .refine((c) => c === code, `currency must be the coalition's currency, ${code}`),
    idempotencyKey: IdempotencyKey,
    reference: Reference.nullish(),
  });
}
export type ApplyTierBenefitInput = z.input<ReturnType<typeof applyInputSchema>>;

export interface TierBenefitUseRow {
  id: string;
  partnerId: string;
  memberId: string;
  benefitCode: string;
  /** The member's program tier code when it was applied. */
  tier: string;
  programVersion: number;
  percentOff: string;
  purchaseAmount: string;
  discountAmount: string;
  currency: string;
  settlementRelevant: boolean;
  reference: string | null;
  requestHash: string;
  appliedAt: Date;
}

const USE_COLUMNS = `id::text AS id, "partnerId"::text AS "partnerId", "memberId"::text AS "memberId", "benefitCode", tier, "programVersion",
  "percentOff"::text AS "percentOff", "purchaseAmount"::text AS "purchaseAmount", "discountAmount"::text AS "discountAmount", currency,
  "settlementRelevant", reference, "requestHash", "appliedAt"`;

/** Decimals as the API shows them: no trailing zeros ("10.000000" → "10"). */
const plain = (d: string) => new Decimal(d).toFixed();
const normalize = (r: TierBenefitUseRow): TierBenefitUseRow => ({ ...r, percentOff: plain(r.percentOff), purchaseAmount: plain(r.purchaseAmount), discountAmount: plain(r.discountAmount) });

async function useByKey(db: Tx, scope: string, key: string): Promise<TierBenefitUseRow | null> {
  const rows = await db.$queryRawUnsafe<TierBenefitUseRow[]>(`SELECT ${USE_COLUMNS} FROM "points"."TierBenefitUse" WHERE "idempotencyScope" = $1 AND "idempotencyKey" = $2`, scope, key);
  return rows[0] ? normalize(rows[0]) : null;
}

/**
 * A partner records a standing tier benefit it honoured (PARTNER only). Refused, with nothing
 * stored: a member not linked to the partner (NOT_FOUND, as for earns); without the member's TIER
 * consent for the partner and the request's purpose (CONSENT_REQUIRED: the answer would reveal the
 * tier, which the partner may only read under that consent); a benefit the member's stored tier
 * does not have at this partner under the program version in force (BENEFIT_NOT_AVAILABLE); bad
 * amounts (BAD_USER_INPUT: not a positive decimal in the coalition currency with at most its minor
 * units, above 100,000,000, or a discount above the benefit's percentage of the purchase, rounded
 * half-even to the minor unit). Idempotent per partner key: the same request returns the first
 * record, another request under the same key is IDEMPOTENCY_CONFLICT.
 */
export async function applyTierBenefit(actor: Actor & { purpose?: Purpose | null }, raw: unknown, opts: WriteOptions = {}): Promise<TierBenefitUseRow> {
  const partnerId = requirePartner(actor);
  const input = parseInput(applyInputSchema(), raw);
  const scope = scopeOf(actor);
  const hash = requestHash({
    op: "applyTierBenefit",
    memberId: input.memberId.toLowerCase(),
    benefitCode: input.benefitCode,
    purchaseAmount: new Decimal(input.purchaseAmount).toFixed(),
    discountAmount: new Decimal(input.discountAmount).toFixed(),
    currency: input.currency,
    reference: input.reference ?? null,
  });
  const at = opts.now ?? clockNow();
  return idempotent(
    { scope, key: input.idempotencyKey, requestHash: hash },
    async () => {
      const u = await useByKey(prisma(), scope, input.idempotencyKey);
      return u ? { requestHash: u.requestHash, result: () => u } : null;
    },
    () =>
      prisma().$transaction(async (tx) => {
        const [facts] = await tx.$queryRaw<{ linked: boolean; tier: Tier | null; tierCode: string | null; consented: boolean }[]>`
          SELECT EXISTS (SELECT 1 FROM "points"."MemberLink" WHERE "memberId" = ${input.memberId}::uuid AND "partnerId" = ${partnerId}::uuid) AS linked,
                 (SELECT tier::text FROM "points"."TierState" WHERE "memberId" = ${input.memberId}::uuid) AS tier,
                 (SELECT "tierCode" FROM "points"."TierState" WHERE "memberId" = ${input.memberId}::uuid) AS "tierCode",
                 EXISTS (SELECT 1 FROM "points"."MemberConsent" WHERE "memberId" = ${input.memberId}::uuid AND "partnerId" = ${partnerId}::uuid
                          AND active AND purpose = ${actor.purpose ?? ""} AND 'TIER' = ANY(categories) AND ("expiresAt" IS NULL OR "expiresAt" > ${at})) AS consented`;
        if (!facts?.linked) throw notFound("Member", input.memberId);
        if (!facts.consented) {
          throw new HubError("CONSENT_REQUIRED", `The member has not consented to share TIER with you for ${actor.purpose ?? "an undeclared purpose"}: a tier benefit cannot be applied`, { category: "TIER" });
        }
        const tier = facts.tierCode ?? facts.tier ?? "BASE";
        const version = await programAt(tx, at);
        const benefit = benefitsOf(version.program, tier).find((b) => b.code === input.benefitCode);
        if (!benefit) {
          throw new HubError("BENEFIT_NOT_AVAILABLE", `${input.benefitCode} is not a standing benefit of the member's tier (${tier}) under program version ${version.version}`, {
            field: "benefitCode",
          });
        }
        const { minorUnits } = currencySettings();
        const entitled = new Decimal(input.purchaseAmount).mul(benefit.percentOff).div(100).toDecimalPlaces(minorUnits, Decimal.ROUND_HALF_EVEN);
        if (new Decimal(input.discountAmount).gt(entitled)) {
          throw badInput(`discountAmount is above the benefit's ${benefit.percentOff} % of the purchase (${entitled.toFixed(minorUnits)} ${input.currency})`, "discountAmount");
        }
        const rows = await tx.$queryRawUnsafe<TierBenefitUseRow[]>(
          `INSERT INTO "points"."TierBenefitUse" (id, "partnerId", "memberId", "benefitCode", tier, "programVersion", "percentOff", "purchaseAmount", "discountAmount", currency,
             "settlementRelevant", reference, "idempotencyScope", "idempotencyKey", "requestHash", "createdBy", "appliedAt")
           VALUES (gen_random_uuid(), $1::uuid, $2::uuid, $3, $4, $5, $6::numeric, $7::numeric, $8::numeric, $9, $10, $11, $12, $13, $14, $15, $16)
           RETURNING ${USE_COLUMNS}`,
          partnerId,
          input.memberId,
          benefit.code,
          tier,
          version.version,
          benefit.percentOff,
          input.purchaseAmount,
          input.discountAmount,
          input.currency,
          benefit.settlementRelevant,
          input.reference ?? null,
          scope,
          input.idempotencyKey,
          hash,
          actor.sub,
          at,
        );
        return normalize(rows[0]!);
      }, TX_OPTIONS),
  );
}

/** The benefits a partner applied, newest first (keyset on appliedAt, id), either direction; an optional member filter. */
export async function appliedTierBenefits(partnerId: string, o: PageArgs & { memberId?: string | null }): Promise<BiPage<TierBenefitUseRow>> {
  pageRequest(o, isUuid); // bad paging arguments are BAD_USER_INPUT even for a member id that matches nothing
  if (o.memberId != null && !isUuid(o.memberId)) return { rows: [], hasNextPage: false, hasPreviousPage: false };
  return keysetPage(o, isUuid, async (q) => {
    const k = keysetSql(q, '"appliedAt"', "id", "uuid");
    const rows = await prisma().$queryRaw<TierBenefitUseRow[]>`
      SELECT ${Prisma.raw(USE_COLUMNS)} FROM "points"."TierBenefitUse"
      WHERE "partnerId" = ${partnerId}::uuid AND (${o.memberId ?? null}::uuid IS NULL OR "memberId" = ${o.memberId ?? null}::uuid) ${k.where}
      ORDER BY ${k.order} LIMIT ${q.limit}`;
    return rows.map(normalize);
  });
}

export const useCursor = (r: TierBenefitUseRow) => encodeCursor(r.appliedAt, r.id);

export interface TierBenefitTotal {
  partnerId: string;
  currency: string;
  uses: number;
  purchaseTotal: string;
  discountTotal: string;
}

/**
 * Per-partner totals of the settlement-relevant benefits applied in [from, to) (appliedAt, the
 * hub's clock when the record was made; records are append-only). ADMIN: every partner (or one);
 * a partner: its own only. A settlement run shows the totals of its period.
 */
export async function tierBenefitTotals(db: Tx | ReturnType<typeof prisma>, o: { from: Date; to: Date; partnerId: string | null }): Promise<TierBenefitTotal[]> {
  if (!(o.from < o.to)) throw badInput("from must be before to", "to");
  const rows = await db.$queryRaw<{ partnerId: string; currency: string; uses: bigint; purchaseTotal: string; discountTotal: string }[]>`
    SELECT "partnerId"::text AS "partnerId", currency, count(*)::bigint AS uses, sum("purchaseAmount")::text AS "purchaseTotal", sum("discountAmount")::text AS "discountTotal"
    FROM "points"."TierBenefitUse"
    WHERE "settlementRelevant" AND "appliedAt" >= ${o.from} AND "appliedAt" < ${o.to} AND (${o.partnerId}::uuid IS NULL OR "partnerId" = ${o.partnerId}::uuid)
    GROUP BY 1, 2 ORDER BY 1, 2`;
  return rows.map((r) => ({ ...r, uses: Number(r.uses), purchaseTotal: plain(r.purchaseTotal), discountTotal: plain(r.discountTotal) }));
}
