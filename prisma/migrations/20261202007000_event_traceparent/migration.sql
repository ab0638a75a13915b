-- W3C trace context of the request that emitted an event (lib/tracing.ts): the consumers' spans
-- join the emitting trace. Nullable, no default: adding it rewrites nothing and the previous
-- release's code, which does not name it, keeps working (expand only).
ALTER TABLE "member"."OutboxEvent" ADD COLUMN "traceparent" TEXT;
ALTER TABLE "points"."OutboxEvent" ADD COLUMN "traceparent" TEXT;
ALTER TABLE "partner"."OutboxEvent" ADD COLUMN "traceparent" TEXT;
ALTER TABLE "member"."DeadLetterEvent" ADD COLUMN "traceparent" TEXT;
ALTER TABLE "points"."DeadLetterEvent" ADD COLUMN "traceparent" TEXT;
ALTER TABLE "partner"."DeadLetterEvent" ADD COLUMN "traceparent" TEXT;
