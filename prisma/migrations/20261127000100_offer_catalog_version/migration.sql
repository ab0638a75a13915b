-- The version of the offer catalog, for the partner subgraph's cross-request cache of the live
-- offers (subgraphs/partner/src/services/offer-catalog.ts). The API promises no staleness, also
-- with several partner processes writing the same database, so the number moves in the SAME
-- transaction as every change that can alter the live-offer list or what it carries: any
-- INSERT/UPDATE/DELETE/TRUNCATE of Offer, OfferFunding (co-issuers, approvals) or Partner (the
-- co-issuing partners' rows). A reader that sees the old number sees the old rows (one snapshot).
--
-- Statement-level triggers: one bump per statement, not per row. Every column of the three tables
-- is in the cached objects, so no column is excluded; none of them is written on a hot path (claims
-- and discount-code uses write OfferClaim, which does not bump). The bump holds the counter row's
-- lock until commit, so catalog writes (offer edits, approvals, lifecycle, partner registration and
-- activation: rare, admin- or partner-driven) commit one at a time.

-- CreateTable
CREATE TABLE "partner"."OfferCatalogVersion" (
    "id" INTEGER NOT NULL DEFAULT 1,
    "version" BIGINT NOT NULL DEFAULT 0,

    CONSTRAINT "OfferCatalogVersion_pkey" PRIMARY KEY ("id")
);

ALTER TABLE "partner"."OfferCatalogVersion" ADD CONSTRAINT offer_catalog_version_one_row CHECK (id = 1);
INSERT INTO "partner"."OfferCatalogVersion" (id, version) VALUES (1, 0);

CREATE OR REPLACE FUNCTION "partner".bump_offer_catalog_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  UPDATE "partner"."OfferCatalogVersion" SET version = version + 1 WHERE id = 1;
  RETURN NULL;
END;
$$;

CREATE TRIGGER offer_catalog_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "partner"."Offer"
  FOR EACH STATEMENT EXECUTE FUNCTION "partner".bump_offer_catalog_version();
CREATE TRIGGER offer_catalog_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "partner"."OfferFunding"
  FOR EACH STATEMENT EXECUTE FUNCTION "partner".bump_offer_catalog_version();
CREATE TRIGGER offer_catalog_version AFTER INSERT OR UPDATE OR DELETE OR TRUNCATE ON "partner"."Partner"
  FOR EACH STATEMENT EXECUTE FUNCTION "partner".bump_offer_catalog_version();

-- Without the row the bumps would update nothing and a cache could never tell a change: refuse
-- deleting it (the cache also refuses to cache when the row is missing).
CREATE OR REPLACE FUNCTION "partner".keep_offer_catalog_version() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'partner.OfferCatalogVersion keeps its one row: % refused', TG_OP USING ERRCODE = 'restrict_violation';
END;
$$;
CREATE TRIGGER offer_catalog_version_kept BEFORE DELETE ON "partner"."OfferCatalogVersion"
  FOR EACH ROW EXECUTE FUNCTION "partner".keep_offer_catalog_version();
CREATE TRIGGER offer_catalog_version_kept_truncate BEFORE TRUNCATE ON "partner"."OfferCatalogVersion"
  FOR EACH STATEMENT EXECUTE FUNCTION "partner".keep_offer_catalog_version();
