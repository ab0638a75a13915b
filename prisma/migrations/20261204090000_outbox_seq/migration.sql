-- Each outbox gets "seq": the order its events were written in. The relay delivered by ("createdAt", id),
-- but "createdAt" is the writing transaction's start (now()), the same for every event of one
-- transaction, and id is random: a batch's events about one member (30 earns in one
-- awardPointsBatch) reached the consumers, and partners' webhooks, in random order.
-- Safe while the previous release serves: the column is added without a value for existing rows
-- (no table rewrite, no long lock) and its default applies to new rows only; the previous release
-- ignores it. Events written before it have no seq and are delivered first (ORDER BY seq NULLS FIRST).
-- And a lease per outbox (RelayLease, one row): with several replicas one relay delivers at a time,
-- so batches do not overtake each other. New tables only; the previous release's relays ignore them.

CREATE SEQUENCE "member"."OutboxEvent_seq_seq";
ALTER TABLE "member"."OutboxEvent" ADD COLUMN "seq" BIGINT;
ALTER TABLE "member"."OutboxEvent" ALTER COLUMN "seq" SET DEFAULT nextval('"member"."OutboxEvent_seq_seq"');
ALTER SEQUENCE "member"."OutboxEvent_seq_seq" OWNED BY "member"."OutboxEvent"."seq";

CREATE SEQUENCE "partner"."OutboxEvent_seq_seq";
ALTER TABLE "partner"."OutboxEvent" ADD COLUMN "seq" BIGINT;
ALTER TABLE "partner"."OutboxEvent" ALTER COLUMN "seq" SET DEFAULT nextval('"partner"."OutboxEvent_seq_seq"');
ALTER SEQUENCE "partner"."OutboxEvent_seq_seq" OWNED BY "partner"."OutboxEvent"."seq";

CREATE SEQUENCE "points"."OutboxEvent_seq_seq";
ALTER TABLE "points"."OutboxEvent" ADD COLUMN "seq" BIGINT;
ALTER TABLE "points"."OutboxEvent" ALTER COLUMN "seq" SET DEFAULT nextval('"points"."OutboxEvent_seq_seq"');
ALTER SEQUENCE "points"."OutboxEvent_seq_seq" OWNED BY "points"."OutboxEvent"."seq";

-- CreateTable
CREATE TABLE "member"."RelayLease" (
    "id" INTEGER NOT NULL,
    "holder" TEXT NOT NULL,
    "until" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "RelayLease_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "points"."RelayLease" (
    "id" INTEGER NOT NULL,
    "holder" TEXT NOT NULL,
    "until" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "RelayLease_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "partner"."RelayLease" (
    "id" INTEGER NOT NULL,
    "holder" TEXT NOT NULL,
    "until" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "RelayLease_pkey" PRIMARY KEY ("id")
);

