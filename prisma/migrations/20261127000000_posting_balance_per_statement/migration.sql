-- Balance checked once per INSERT statement instead of once per posting row at commit.
-- Before: a deferred row-level constraint trigger ran the balance query for every posting and
-- every transaction row (three times per two-posting transaction), all at COMMIT: for a 500-item
-- bulk-earn chunk, 1,500 executions (bench/FINDINGS.md).
-- Now:
--  * posting_balanced: AFTER INSERT ... FOR EACH STATEMENT with the inserted rows as a transition
--    table. At the end of every statement that inserts postings, each transaction it touched must
--    have postings (all of them, the stored ones included) summing to 0, and at least two. So a
--    transaction's postings are written in one statement (both writers, earn.ts and ledger.ts, do)
--    and no posting can ever be added to a transaction afterwards.
--  * transaction_has_postings (deferred, per transaction row, at commit): a transaction has
--    postings. Their balance is the statement trigger's.
CREATE OR REPLACE FUNCTION "points".check_postings_balanced() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
  bad record;
BEGIN
  -- One index lookup per touched transaction (LATERAL: the transition table has no statistics,
  -- and a hash join would scan every posting).
  SELECT t.tx, s.total, s.n INTO bad
  FROM (SELECT DISTINCT "transactionId" AS tx FROM new_postings) t
  CROSS JOIN LATERAL (SELECT coalesce(sum(p.amount), 0) AS total, count(*) AS n FROM "points"."Posting" p WHERE p."transactionId" = t.tx) s
  WHERE s.total <> 0 OR s.n < 2
  LIMIT 1;
  IF FOUND THEN
    IF bad.total <> 0 THEN
      RAISE EXCEPTION 'ledger transaction % does not balance: postings sum to %', bad.tx, bad.total USING ERRCODE = 'check_violation';
    END IF;
    RAISE EXCEPTION 'ledger transaction % has % posting(s); at least two are required', bad.tx, bad.n USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END;
$$;

CREATE OR REPLACE FUNCTION "points".check_transaction_has_postings() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF NOT EXISTS (SELECT 1 FROM "points"."Posting" WHERE "transactionId" = NEW."id") THEN
    RAISE EXCEPTION 'ledger transaction % has 0 posting(s); at least two are required', NEW."id" USING ERRCODE = 'check_violation';
  END IF;
  RETURN NULL;
END;
$$;

DROP TRIGGER posting_balanced ON "points"."Posting";
CREATE TRIGGER posting_balanced AFTER INSERT ON "points"."Posting"
  REFERENCING NEW TABLE AS new_postings
  FOR EACH STATEMENT EXECUTE FUNCTION "points".check_postings_balanced();

DROP TRIGGER transaction_has_postings ON "points"."LedgerTransaction";
CREATE CONSTRAINT TRIGGER transaction_has_postings AFTER INSERT ON "points"."LedgerTransaction"
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION "points".check_transaction_has_postings();

DROP FUNCTION "points".check_transaction_balanced();
