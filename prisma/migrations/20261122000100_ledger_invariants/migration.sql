-- Ledger invariants the database enforces by itself (Prisma cannot model these).
-- 1. Append-only: postings and transactions are never updated or deleted (a correction is a
--    reversing transaction). TRUNCATE is refused as well.
-- 2. Every transaction balances: a DEFERRABLE INITIALLY DEFERRED constraint trigger checks at
--    commit that each transaction's postings sum to 0 and that there are at least two.
-- 3. Wallets and offer budgets never go below zero; holds never exceed the balance; lots stay
--    within [0, points].

CREATE OR REPLACE FUNCTION "points".refuse_ledger_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'points.% is append-only: % refused (post a reversing transaction instead)', TG_TABLE_NAME, TG_OP
    USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER posting_append_only BEFORE UPDATE OR DELETE ON "points"."Posting"
  FOR EACH ROW EXECUTE FUNCTION "points".refuse_ledger_change();
CREATE TRIGGER posting_no_truncate BEFORE TRUNCATE ON "points"."Posting"
  FOR EACH STATEMENT EXECUTE FUNCTION "points".refuse_ledger_change();
CREATE TRIGGER transaction_append_only BEFORE UPDATE OR DELETE ON "points"."LedgerTransaction"
  FOR EACH ROW EXECUTE FUNCTION "points".refuse_ledger_change();
CREATE TRIGGER transaction_no_truncate BEFORE TRUNCATE ON "points"."LedgerTransaction"
  FOR EACH STATEMENT EXECUTE FUNCTION "points".refuse_ledger_change();

CREATE OR REPLACE FUNCTION "points".check_transaction_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  tx uuid;
  total bigint;
  n int;
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

CREATE CONSTRAINT TRIGGER posting_balanced AFTER INSERT ON "points"."Posting"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "points".check_transaction_balanced();
CREATE CONSTRAINT TRIGGER transaction_has_postings AFTER INSERT ON "points"."LedgerTransaction"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "points".check_transaction_balanced();

ALTER TABLE "points"."Posting" ADD CONSTRAINT posting_nonzero CHECK (amount <> 0);

ALTER TABLE "points"."LedgerAccount"
  ADD CONSTRAINT account_nonnegative CHECK (kind NOT IN ('MEMBER_WALLET', 'OFFER_BUDGET') OR balance >= 0),
  ADD CONSTRAINT account_held_nonnegative CHECK (held >= 0),
  ADD CONSTRAINT account_held_within_balance CHECK (kind <> 'MEMBER_WALLET' OR held <= balance),
  ADD CONSTRAINT account_held_wallets_only CHECK (kind = 'MEMBER_WALLET' OR held = 0);

ALTER TABLE "points"."Lot" ADD CONSTRAINT lot_remaining_range CHECK (remaining >= 0 AND remaining <= points AND points > 0);

ALTER TABLE "points"."Hold"
  ADD CONSTRAINT hold_points_positive CHECK (points > 0),
  ADD CONSTRAINT hold_captured_range CHECK ("capturedPoints" >= 0 AND "capturedPoints" <= points);

ALTER TABLE "points"."OfferUse" ADD CONSTRAINT offer_use_nonnegative CHECK (uses >= 0);
