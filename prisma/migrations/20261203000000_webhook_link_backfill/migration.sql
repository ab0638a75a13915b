-- Webhooks' copy of confirmed member links (partner."WebhookMemberLink", issue 17 §1), backfilled.
-- The copy is fed by member.linked events; links confirmed before the webhooks migration
-- (20261202005000) never produced one, so a partner's endpoints received no member event (points
-- earned/redeemed/reversed, consents) about members it had linked before the upgrade. The member
-- subgraph's confirmed links are the source of truth; both schemas live in the hub's one database.
-- Data only, idempotent, safe while the previous release serves (it only reads the copy): a link
-- whose member.linked event arrives later is kept as it is (ON CONFLICT DO NOTHING, and the event's
-- own upsert only fills a missing externalRef).
INSERT INTO "partner"."WebhookMemberLink" ("memberId", "partnerId", "externalRef", "linkedAt")
SELECT "memberId", "partnerId", "externalRef", "confirmedAt"
FROM "member"."LinkedAccount"
WHERE "confirmedAt" IS NOT NULL
ON CONFLICT ("memberId", "partnerId") DO NOTHING;
