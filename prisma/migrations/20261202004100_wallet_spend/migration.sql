-- The money a wallet's EARNs spent (gross of reversals), kept by the ledger writer in the statement
-- that credits the wallet: an upper bound of any period's spend, so an earn reads the exact period
-- sum only when a spend threshold could be crossed (as lifetimeEarned does for points). Additive.
ALTER TABLE "points"."LedgerAccount" ADD COLUMN "lifetimeSpend" DECIMAL(24,6) NOT NULL DEFAULT 0;

-- A database without any stored tier (a new one) has nothing to re-evaluate under version 1: its
-- re-evaluation is recorded as done. One with stored tiers (decided by the previous hard-coded
-- rules) is re-evaluated under the classic program by the tier job (jobs.ts runTierReevaluation).
INSERT INTO "points"."TierEvaluation" ("programVersionId", "finishedAt")
SELECT '00000000-0000-4000-8000-000000000001', now() WHERE NOT EXISTS (SELECT 1 FROM "points"."TierState");
