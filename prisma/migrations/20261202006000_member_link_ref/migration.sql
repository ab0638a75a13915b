-- The partner's reference for a member, copied from member.linked (awardPoints by reference, issue 17 §6).
ALTER TABLE "points"."MemberLink" ADD COLUMN "externalRef" TEXT;

-- CreateIndex
CREATE INDEX "MemberLink_partnerId_externalRef_idx" ON "points"."MemberLink"("partnerId", "externalRef");

-- Backfill, once, the links the points subgraph learned before it kept the reference. Only when the
-- member schema lives in the same database (every deployment so far); a points database of its own
-- gets the references from the next member.linked of each link (or a replay of those events).
DO $$
BEGIN
  IF to_regclass('"member"."LinkedAccount"') IS NOT NULL THEN
    UPDATE "points"."MemberLink" ml SET "externalRef" = la."externalRef"
    FROM "member"."LinkedAccount" la
    WHERE la."memberId" = ml."memberId" AND la."partnerId" = ml."partnerId" AND la."confirmedAt" IS NOT NULL AND ml."externalRef" IS NULL;
  END IF;
END $$;
