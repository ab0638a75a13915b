-- The webhook dispatcher's claim (subgraphs/partner/src/webhooks/dispatcher.ts, CLAIM_SQL) reads each
-- ACTIVE endpoint's queue head, counts deliveries in flight from the leased rows alone and finds due
-- consent withdrawals by event type, instead of probing every open delivery. Expand only: an index,
-- built CONCURRENTLY (writes to WebhookDelivery go on while it builds; the previous release's claim
-- works with or without it). One statement per migration: CONCURRENTLY cannot run in a transaction.

CREATE INDEX CONCURRENTLY IF NOT EXISTS "WebhookDelivery_eventType_status_nextAttemptAt_idx" ON "partner"."WebhookDelivery"("eventType", "status", "nextAttemptAt");
