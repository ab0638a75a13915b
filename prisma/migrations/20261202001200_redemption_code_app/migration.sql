-- A partner app acting for a member (DELEGATED token with member:redeem) creates redemption codes
-- up to the member's daily limit for that app: each code records the app and grant that created it.
ALTER TABLE "points"."RedemptionCode" ADD COLUMN "clientId" TEXT,
ADD COLUMN "grantId" TEXT;

-- CreateIndex
CREATE INDEX "RedemptionCode_memberId_clientId_createdAt_idx" ON "points"."RedemptionCode"("memberId", "clientId", "createdAt");
