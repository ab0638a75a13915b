-- The loyalty program as data (issue 16). Additive (expand step): the previous release never reads
-- the new columns or tables.
-- * points.ProgramVersion: append-only versions of the program, each in force from effectiveFrom.
-- * LedgerTransaction.programVersionId / spendAmount / spendCurrency: each EARN records the version
--   it was computed under and the money spent (exact), so spend rules sum it (the existing
--   (memberId, postedAt) index serves the per-member period sums).
-- * TierState.tierCode / programVersionId / qualifiedBy: the program's tier and the rule that qualified.
-- * points.TierEvaluation: the resumable re-evaluation after a version comes into force (jobs.ts).
-- AlterTable
ALTER TABLE "points"."LedgerTransaction" ADD COLUMN     "programVersionId" UUID,
ADD COLUMN     "spendAmount" DECIMAL(18,6),
ADD COLUMN     "spendCurrency" TEXT;

-- AlterTable
ALTER TABLE "points"."TierState" ADD COLUMN     "programVersionId" UUID,
ADD COLUMN     "qualifiedBy" JSONB,
ADD COLUMN     "tierCode" TEXT;

-- CreateTable
CREATE TABLE "points"."ProgramVersion" (
    "id" UUID NOT NULL,
    "version" INTEGER NOT NULL,
    "effectiveFrom" TIMESTAMPTZ(3) NOT NULL,
    "document" JSONB NOT NULL,
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ProgramVersion_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "points"."TierEvaluation" (
    "programVersionId" UUID NOT NULL,
    "cursor" UUID,
    "startedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "finishedAt" TIMESTAMPTZ(3),
    "changed" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "TierEvaluation_pkey" PRIMARY KEY ("programVersionId")
);

-- CreateIndex
CREATE UNIQUE INDEX "ProgramVersion_version_key" ON "points"."ProgramVersion"("version");

-- CreateIndex
CREATE INDEX "ProgramVersion_effectiveFrom_version_idx" ON "points"."ProgramVersion"("effectiveFrom", "version");
-- Versions are never changed or removed: a change is a new version.
CREATE TRIGGER program_version_append_only BEFORE UPDATE OR DELETE ON "points"."ProgramVersion"
  FOR EACH ROW EXECUTE FUNCTION "points".refuse_ledger_change();
CREATE TRIGGER program_version_no_truncate BEFORE TRUNCATE ON "points"."ProgramVersion"
  FOR EACH STATEMENT EXECUTE FUNCTION "points".refuse_ledger_change();

ALTER TABLE "points"."ProgramVersion" ADD CONSTRAINT "ProgramVersion_version_positive" CHECK (version >= 1);
ALTER TABLE "points"."LedgerTransaction" ADD CONSTRAINT "LedgerTransaction_spend_positive" CHECK ("spendAmount" IS NULL OR ("spendAmount" > 0 AND "spendCurrency" IS NOT NULL));

-- Version 1: the classic program (program/model.ts classicProgram("CNY"); program.test.ts checks
-- this document equals it), in force since the epoch so back-dated history has a version.
INSERT INTO "points"."ProgramVersion" (id, version, "effectiveFrom", document, "createdBy")
VALUES ('00000000-0000-4000-8000-000000000001', 1, '1970-01-01T00:00:00Z', '{"names":{"en":"Classic member program","zh-Hans":"经典会员计划"},"currency":"CNY","tiers":[{"code":"BASE","rank":0,"names":{"en":"Ordinary","zh-Hans":"普通"},"apiTier":"BASE","qualifyAnyOf":[]},{"code":"SILVER","rank":1,"names":{"en":"Silver","zh-Hans":"银卡"},"apiTier":"SILVER","qualifyAnyOf":[{"metric":"POINTS","period":{"kind":"ROLLING","months":12},"threshold":"1000","comparison":"MORE_THAN"}]},{"code":"GOLD","rank":2,"names":{"en":"Gold","zh-Hans":"金卡"},"apiTier":"GOLD","qualifyAnyOf":[{"metric":"POINTS","period":{"kind":"ROLLING","months":12},"threshold":"5000","comparison":"AT_LEAST"}]},{"code":"DIAMOND","rank":3,"names":{"en":"Diamond","zh-Hans":"钻石"},"apiTier":"DIAMOND","qualifyAnyOf":[{"metric":"SPEND","period":{"kind":"CALENDAR","months":12},"threshold":"10000","comparison":"MORE_THAN"}]}],"earnRates":{"perTier":{"BASE":"1","SILVER":"2","GOLD":"2","DIAMOND":"3"},"partners":[]},"benefits":[{"tierCode":"SILVER","code":"DISCOUNT","names":{"en":"10 % off","zh-Hans":"九折"},"percentOff":"10","settlementRelevant":false},{"tierCode":"GOLD","code":"DISCOUNT","names":{"en":"15 % off","zh-Hans":"八五折"},"percentOff":"15","settlementRelevant":false},{"tierCode":"DIAMOND","code":"DISCOUNT","names":{"en":"20 % off","zh-Hans":"八折"},"percentOff":"20","settlementRelevant":false}],"retention":{"keep":[{"tierCode":"SILVER","consecutiveMonths":3}],"inactivity":{"monthsWithoutPurchase":6,"to":"BASE"}},"bonuses":{"welcome":{"points":200,"windowMonths":3,"trigger":"FIRST_PURCHASE"},"birthday":{"kind":"MULTIPLIER","points":null,"multiplier":"2","consentCategory":"PROFILE_BASIC"}},"lifecycle":{"dormantWithoutActivityDays":30,"activeMonthlySpend":"500","highFrequencyPurchasesPerMonth":5}}'::jsonb, 'system:migration');
