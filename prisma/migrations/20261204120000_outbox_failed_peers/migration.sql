-- Each outbox records which consumers failed an event at its last attempt ("failedPeers"): the relay
-- holds back later events about the same subject (member, else offer, else partner) bound for those
-- consumers until it is delivered or dead-lettered (decision 44), and no longer holds them back from
-- consumers that did not fail.
-- Safe while the previous release serves: a nullable column without a default (no table rewrite, no
-- long lock); the previous release's relays ignore it.

ALTER TABLE "member"."OutboxEvent" ADD COLUMN "failedPeers" TEXT[];
ALTER TABLE "points"."OutboxEvent" ADD COLUMN "failedPeers" TEXT[];
ALTER TABLE "partner"."OutboxEvent" ADD COLUMN "failedPeers" TEXT[];
