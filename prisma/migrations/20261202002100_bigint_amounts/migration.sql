-- 64-bit amounts (issue 14 §2). Every balance, running total and amount that can accumulate becomes
-- bigint: a partner's issuance account overflowed int4 at -2,147,483,648 and every later award of
-- that partner failed. Works on existing data: int4 → int8 widens every value exactly.
--
-- What depends on these columns and why nothing else needs recreating:
-- * CHECK constraints (account_nonnegative, account_held_*, posting_nonzero, lot_remaining_range) are
--   re-validated by ALTER ... TYPE against the widened values and keep their meaning.
-- * The append-only triggers fire on UPDATE/DELETE/TRUNCATE only; a column type change rewrites the
--   table without firing row triggers. No view or rule references these columns.
-- * check_transaction_balanced() summed int4 amounts into a bigint; sum(bigint) is numeric, so it
--   is recreated below with a numeric total (never an overflow inside the invariant check itself).
-- * Hold.points/capturedPoints and RedemptionCode.points stay int4: one operation's input, at most
--   100,000,000 points (MAX_POINTS), never accumulated. Offer.budgetPoints (both schemas) stays int4:
--   an offer's configured budget, validated at most 1,000,000,000; the budget's ledger account is bigint.
--
-- Operations: ALTER ... TYPE rewrites each table under an ACCESS EXCLUSIVE lock (Posting is the largest);
-- run it in a maintenance window on a large ledger (CHANGELOG.md).

-- AlterTable
ALTER TABLE "member"."MemberActivityMonth" ALTER COLUMN "earnedPoints" SET DATA TYPE BIGINT;

-- AlterTable
ALTER TABLE "points"."LedgerAccount" ALTER COLUMN "balance" SET DATA TYPE BIGINT,
ALTER COLUMN "held" SET DATA TYPE BIGINT,
ALTER COLUMN "lifetimeEarned" SET DATA TYPE BIGINT;

-- AlterTable
ALTER TABLE "points"."LedgerTransaction" ALTER COLUMN "memberPoints" SET DATA TYPE BIGINT,
ALTER COLUMN "balanceAfter" SET DATA TYPE BIGINT;

-- AlterTable
ALTER TABLE "points"."Lot" ALTER COLUMN "points" SET DATA TYPE BIGINT,
ALTER COLUMN "remaining" SET DATA TYPE BIGINT;

-- AlterTable
ALTER TABLE "points"."LotConsumption" ALTER COLUMN "points" SET DATA TYPE BIGINT;

-- AlterTable
ALTER TABLE "points"."Posting" ALTER COLUMN "amount" SET DATA TYPE BIGINT;

CREATE OR REPLACE FUNCTION "points".check_transaction_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  tx uuid;
  total numeric;
  n bigint;
BEGIN
  IF TG_TABLE_NAME = 'Posting' THEN tx := NEW."transactionId"; ELSE tx := NEW."id"; END IF;
  SELECT coalesce(sum(amount), 0), count(*) INTO total, n FROM "points"."Posting" WHERE "transactionId" = tx;
  IF total <> 0 THEN
    RAISE EXCEPTION 'ledger transaction % does not balance: postings sum to %', tx, total USING ERRCODE = 'check_violation';
  END IF;
  IF n < 2 THEN
    RAISE EXCEPTION 'ledger transaction % has % posting(s); at least two are required', tx, n USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END;
$$;
