-- The webhook dispatcher's claim reads each ACTIVE endpoint's queue head (its first open deliveries by
-- seq, one index range per status), counts deliveries in flight from the leased rows alone and finds
-- open consent withdrawals (their chains go first) by event type, instead of probing every open
-- delivery (subgraphs/partner/src/webhooks/dispatcher.ts, CLAIM_SQL).
-- Expand only: three new indexes, nothing dropped or rewritten; the previous release's claim keeps
-- working with them. Building takes a SHARE lock on WebhookDelivery (writes wait, reads proceed) for as
-- long as the build lasts, which is proportional to the table; deliveries are written by the event
-- consumer and the dispatcher (background) and by offer/replay mutations, which wait, not fail.

-- CreateIndex
CREATE INDEX "WebhookDelivery_endpointId_status_seq_idx" ON "partner"."WebhookDelivery"("endpointId", "status", "seq");

-- CreateIndex
CREATE INDEX "WebhookDelivery_lockedUntil_idx" ON "partner"."WebhookDelivery"("lockedUntil");

-- CreateIndex
CREATE INDEX "WebhookDelivery_eventType_status_idx" ON "partner"."WebhookDelivery"("eventType", "status");
