-- Perks of the program (issue 16): program bonuses paid from a coalition-wide PROGRAM_BONUS
-- account (kind PROGRAM_BONUS), once per (member, kind, period) (BonusGrant); the consent copy
-- keeps each receipt's categories and, for a PROFILE_BASIC grant, the member's birth month; the
-- standing tier benefits partners honoured (TierBenefitUse, append-only). Additive: the previous
-- release never reads these columns or tables (expand step).

-- AlterEnum
ALTER TYPE "points"."AccountKind" ADD VALUE 'PROGRAM_BONUS';

-- AlterEnum
ALTER TYPE "points"."TransactionKind" ADD VALUE 'PROGRAM_BONUS';

-- AlterTable
ALTER TABLE "points"."MemberConsent" ADD COLUMN     "birthMonth" SMALLINT,
ADD COLUMN     "categories" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- CreateTable
CREATE TABLE "points"."BonusGrant" (
    "memberId" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "period" TEXT NOT NULL,
    "grantedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "BonusGrant_pkey" PRIMARY KEY ("memberId","kind","period")
);

-- CreateTable
CREATE TABLE "points"."TierBenefitUse" (
    "id" UUID NOT NULL,
    "partnerId" UUID NOT NULL,
    "memberId" UUID NOT NULL,
    "benefitCode" TEXT NOT NULL,
    "tier" TEXT NOT NULL,
    "programVersion" INTEGER NOT NULL,
    "percentOff" DECIMAL(7,4) NOT NULL,
    "purchaseAmount" DECIMAL(24,6) NOT NULL,
    "discountAmount" DECIMAL(24,6) NOT NULL,
    "currency" TEXT NOT NULL,
    "settlementRelevant" BOOLEAN NOT NULL,
    "reference" TEXT,
    "idempotencyScope" TEXT NOT NULL,
    "idempotencyKey" TEXT NOT NULL,
    "requestHash" TEXT NOT NULL,
    "createdBy" TEXT NOT NULL,
    "appliedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "TierBenefitUse_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "TierBenefitUse_partnerId_appliedAt_id_idx" ON "points"."TierBenefitUse"("partnerId", "appliedAt" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "TierBenefitUse_memberId_idx" ON "points"."TierBenefitUse"("memberId");

-- CreateIndex
CREATE UNIQUE INDEX "TierBenefitUse_idempotencyScope_idempotencyKey_key" ON "points"."TierBenefitUse"("idempotencyScope", "idempotencyKey");

-- Applied benefits and bonus grants are records of what happened: never edited or deleted.
CREATE TRIGGER tier_benefit_use_append_only BEFORE UPDATE OR DELETE ON "points"."TierBenefitUse"
  FOR EACH ROW EXECUTE FUNCTION "points".refuse_ledger_change();
CREATE TRIGGER tier_benefit_use_no_truncate BEFORE TRUNCATE ON "points"."TierBenefitUse"
  FOR EACH STATEMENT EXECUTE FUNCTION "points".refuse_ledger_change();
CREATE TRIGGER bonus_grant_append_only BEFORE UPDATE OR DELETE ON "points"."BonusGrant"
  FOR EACH ROW EXECUTE FUNCTION "points".refuse_ledger_change();
CREATE TRIGGER bonus_grant_no_truncate BEFORE TRUNCATE ON "points"."BonusGrant"
  FOR EACH STATEMENT EXECUTE FUNCTION "points".refuse_ledger_change();
ALTER TABLE "points"."TierBenefitUse" ADD CONSTRAINT "TierBenefitUse_amounts" CHECK ("purchaseAmount" > 0 AND "discountAmount" > 0 AND "discountAmount" <= "purchaseAmount");
ALTER TABLE "points"."MemberConsent" ADD CONSTRAINT "MemberConsent_birthMonth" CHECK ("birthMonth" BETWEEN 1 AND 12);
