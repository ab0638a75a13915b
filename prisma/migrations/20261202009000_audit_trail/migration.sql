-- Admin audit trail (issue 18 §6): partner.AuditEntry, fed by the audit.recorded event (lib/audit.ts). Append-only.
-- CreateTable
CREATE TABLE "partner"."AuditEntry" (
    "id" UUID NOT NULL,
    "at" TIMESTAMPTZ(3) NOT NULL,
    "source" TEXT NOT NULL,
    "action" TEXT NOT NULL,
    "targetType" TEXT NOT NULL,
    "targetId" TEXT NOT NULL,
    "partnerId" UUID,
    "actorSub" TEXT NOT NULL,
    "actorRole" TEXT NOT NULL,
    "actorAuthority" TEXT NOT NULL,
    "actorPersonRole" TEXT,
    "actorClientId" TEXT,
    "actorPartnerId" UUID,
    "requestId" TEXT,
    "before" JSONB,
    "after" JSONB,

    CONSTRAINT "AuditEntry_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE INDEX "AuditEntry_at_id_idx" ON "partner"."AuditEntry"("at", "id");

-- CreateIndex
CREATE INDEX "AuditEntry_actorSub_at_idx" ON "partner"."AuditEntry"("actorSub", "at");

-- CreateIndex
CREATE INDEX "AuditEntry_action_at_idx" ON "partner"."AuditEntry"("action", "at");

-- CreateIndex
CREATE INDEX "AuditEntry_targetType_targetId_at_idx" ON "partner"."AuditEntry"("targetType", "targetId", "at");

-- CreateIndex
CREATE INDEX "AuditEntry_partnerId_at_idx" ON "partner"."AuditEntry"("partnerId", "at");


-- Append-only: an audit entry is never changed or removed, by anyone (the hub's own role included).
CREATE OR REPLACE FUNCTION "partner".refuse_audit_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  RAISE EXCEPTION 'partner.AuditEntry is append-only: % refused', TG_OP
    USING ERRCODE = 'restrict_violation';
END;
$$;

CREATE TRIGGER audit_entry_append_only BEFORE UPDATE OR DELETE ON "partner"."AuditEntry"
  FOR EACH ROW EXECUTE FUNCTION "partner".refuse_audit_change();
CREATE TRIGGER audit_entry_no_truncate BEFORE TRUNCATE ON "partner"."AuditEntry"
  FOR EACH STATEMENT EXECUTE FUNCTION "partner".refuse_audit_change();
