-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "member";

-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "partner";

-- CreateSchema
CREATE SCHEMA IF NOT EXISTS "points";

-- CreateEnum
CREATE TYPE "partner"."Role" AS ENUM ('ADMIN', 'PARTNER', 'MEMBER');

-- CreateEnum
CREATE TYPE "member"."Purpose" AS ENUM ('ACCOUNT_SERVICING', 'OFFER_TARGETING', 'ANALYTICS');

-- CreateEnum
CREATE TYPE "member"."DataCategory" AS ENUM ('PROFILE_BASIC', 'PROFILE_CONTACT', 'TIER', 'POINTS_BALANCE', 'ACTIVITY', 'SEGMENTS');

-- CreateEnum
CREATE TYPE "partner"."OfferKind" AS ENUM ('BONUS_POINTS', 'POINTS_MULTIPLIER', 'DISCOUNT');

-- CreateEnum
CREATE TYPE "partner"."OfferStatus" AS ENUM ('DRAFT', 'PENDING_APPROVAL', 'ACTIVE', 'PAUSED', 'ENDED');

-- CreateEnum
CREATE TYPE "partner"."Tier" AS ENUM ('BASE', 'SILVER', 'GOLD', 'DIAMOND');

-- CreateEnum
CREATE TYPE "partner"."Lifecycle" AS ENUM ('NEW', 'ACTIVE', 'DORMANT', 'CHURNED');

-- CreateEnum
CREATE TYPE "points"."AccountKind" AS ENUM ('MEMBER_WALLET', 'PARTNER_ISSUANCE', 'PARTNER_REDEMPTION', 'OFFER_BUDGET', 'BREAKAGE', 'ADJUSTMENTS');

-- CreateEnum
CREATE TYPE "points"."TransactionKind" AS ENUM ('EARN', 'REDEEM', 'REVERSAL', 'EXPIRY', 'ADJUSTMENT', 'OFFER_FUNDING', 'OFFER_BONUS', 'OFFER_RETURN');

-- CreateEnum
CREATE TYPE "points"."HoldStatus" AS ENUM ('PENDING', 'CAPTURED', 'VOIDED', 'EXPIRED');

-- CreateEnum
CREATE TYPE "points"."Tier" AS ENUM ('BASE', 'SILVER', 'GOLD', 'DIAMOND');

-- CreateEnum
CREATE TYPE "points"."SettlementStatus" AS ENUM ('DRAFT', 'APPROVED');

-- CreateEnum
CREATE TYPE "points"."SettlementSide" AS ENUM ('ISSUANCE', 'REDEMPTION');

-- CreateTable
CREATE TABLE "partner"."Partner" (
    "id" UUID NOT NULL,
    "slug" TEXT NOT NULL,
    "name" TEXT NOT NULL,
    "category" TEXT NOT NULL,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "earnRate" DECIMAL(12,4) NOT NULL DEFAULT 1,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Partner_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "partner"."PartnerRate" (
    "id" UUID NOT NULL,
    "partnerId" UUID NOT NULL,
    "issuePrice" DECIMAL(18,6) NOT NULL,
    "redemptionRate" DECIMAL(18,6) NOT NULL,
    "effectiveFrom" TIMESTAMPTZ(3) NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "createdBy" TEXT NOT NULL,

    CONSTRAINT "PartnerRate_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "partner"."ApiClient" (
    "id" UUID NOT NULL,
    "clientId" TEXT NOT NULL,
    "secretHash" TEXT NOT NULL,
    "role" "partner"."Role" NOT NULL,
    "partnerId" UUID,
    "defaultPurpose" TEXT NOT NULL DEFAULT 'ACCOUNT_SERVICING',
    "name" TEXT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" TIMESTAMPTZ(3),

    CONSTRAINT "ApiClient_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "partner"."Offer" (
    "id" UUID NOT NULL,
    "title" TEXT NOT NULL,
    "description" TEXT,
    "kind" "partner"."OfferKind" NOT NULL,
    "bonusPoints" INTEGER,
    "multiplier" DECIMAL(8,4),
    "discountPercent" INTEGER,
    "minTier" "partner"."Tier",
    "segments" "partner"."Lifecycle"[],
    "requiredPurpose" TEXT,
    "startsAt" TIMESTAMPTZ(3) NOT NULL,
    "endsAt" TIMESTAMPTZ(3) NOT NULL,
    "budgetPoints" INTEGER NOT NULL,
    "perMemberLimit" INTEGER NOT NULL,
    "status" "partner"."OfferStatus" NOT NULL DEFAULT 'DRAFT',
    "createdByPartnerId" UUID NOT NULL,
    "version" INTEGER NOT NULL DEFAULT 1,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL,
    "submittedAt" TIMESTAMPTZ(3),
    "activatedAt" TIMESTAMPTZ(3),
    "endedAt" TIMESTAMPTZ(3),

    CONSTRAINT "Offer_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "partner"."OfferFunding" (
    "offerId" UUID NOT NULL,
    "partnerId" UUID NOT NULL,
    "shareBps" INTEGER NOT NULL,
    "approvedAt" TIMESTAMPTZ(3),

    CONSTRAINT "OfferFunding_pkey" PRIMARY KEY ("offerId","partnerId")
);

-- CreateTable
CREATE TABLE "partner"."OfferRedeemablePartner" (
    "offerId" UUID NOT NULL,
    "partnerId" UUID NOT NULL,

    CONSTRAINT "OfferRedeemablePartner_pkey" PRIMARY KEY ("offerId","partnerId")
);

-- CreateTable
CREATE TABLE "partner"."OfferClaim" (
    "id" UUID NOT NULL,
    "offerId" UUID NOT NULL,
    "memberId" UUID NOT NULL,
    "claimedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "usedCount" INTEGER NOT NULL DEFAULT 0,
    "discountCode" TEXT,
    "lastUsedAt" TIMESTAMPTZ(3),

    CONSTRAINT "OfferClaim_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "partner"."MemberFacts" (
    "memberId" UUID NOT NULL,
    "joinedAt" TIMESTAMPTZ(3),
    "lastActivityAt" TIMESTAMPTZ(3),
    "tier" "partner"."Tier" NOT NULL DEFAULT 'BASE',
    "tierAt" TIMESTAMPTZ(3),
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "MemberFacts_pkey" PRIMARY KEY ("memberId")
);

-- CreateTable
CREATE TABLE "partner"."MemberConsent" (
    "consentId" UUID NOT NULL,
    "memberId" UUID NOT NULL,
    "partnerId" UUID NOT NULL,
    "purpose" TEXT NOT NULL,
    "expiresAt" TIMESTAMPTZ(3),
    "active" BOOLEAN NOT NULL,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "MemberConsent_pkey" PRIMARY KEY ("consentId")
);

-- CreateTable
CREATE TABLE "member"."Member" (
    "id" UUID NOT NULL,
    "email" TEXT NOT NULL,
    "displayName" TEXT,
    "phone" TEXT,
    "birthday" TEXT,
    "joinedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lastActivityAt" TIMESTAMPTZ(3),

    CONSTRAINT "Member_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "member"."LinkedAccount" (
    "id" UUID NOT NULL,
    "memberId" UUID NOT NULL,
    "partnerId" UUID NOT NULL,
    "externalRef" TEXT NOT NULL,
    "linkedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "confirmedAt" TIMESTAMPTZ(3),

    CONSTRAINT "LinkedAccount_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "member"."Consent" (
    "id" UUID NOT NULL,
    "memberId" UUID NOT NULL,
    "partnerId" UUID NOT NULL,
    "categories" "member"."DataCategory"[],
    "purpose" "member"."Purpose" NOT NULL,
    "grantedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMPTZ(3),
    "revokedAt" TIMESTAMPTZ(3),
    "noticeVersion" TEXT NOT NULL,
    "collectionMethod" TEXT NOT NULL DEFAULT 'MEMBER_APP',
    "jurisdiction" TEXT,
    "policyUrl" TEXT,
    "grantedBy" TEXT NOT NULL DEFAULT '',

    CONSTRAINT "Consent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "member"."MemberActivityMonth" (
    "memberId" UUID NOT NULL,
    "month" DATE NOT NULL,
    "activityCount" INTEGER NOT NULL DEFAULT 0,
    "earnedPoints" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "MemberActivityMonth_pkey" PRIMARY KEY ("memberId","month")
);

-- CreateTable
CREATE TABLE "member"."DataAccessEvent" (
    "id" BIGSERIAL NOT NULL,
    "memberId" UUID NOT NULL,
    "partnerId" UUID,
    "actorRole" TEXT NOT NULL DEFAULT 'PARTNER',
    "actor" TEXT NOT NULL,
    "categories" "member"."DataCategory"[],
    "purpose" "member"."Purpose",
    "operationName" TEXT,
    "requestId" TEXT,
    "at" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "DataAccessEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "points"."LedgerAccount" (
    "id" BIGSERIAL NOT NULL,
    "kind" "points"."AccountKind" NOT NULL,
    "code" TEXT NOT NULL,
    "memberId" UUID,
    "partnerId" UUID,
    "offerId" UUID,
    "balance" INTEGER NOT NULL DEFAULT 0,
    "held" INTEGER NOT NULL DEFAULT 0,
    "lifetimeEarned" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "LedgerAccount_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "points"."LedgerTransaction" (
    "id" UUID NOT NULL,
    "kind" "points"."TransactionKind" NOT NULL,
    "memberId" UUID,
    "partnerId" UUID,
    "offerId" UUID,
    "memberPoints" INTEGER NOT NULL DEFAULT 0,
    "balanceAfter" INTEGER,
    "reference" TEXT,
    "reversesId" UUID,
    "idempotencyScope" TEXT NOT NULL,
    "idempotencyKey" TEXT NOT NULL,
    "requestHash" TEXT NOT NULL,
    "createdBy" TEXT NOT NULL,
    "reason" TEXT,
    "holdId" UUID,
    "postedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "LedgerTransaction_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "points"."Posting" (
    "id" BIGSERIAL NOT NULL,
    "transactionId" UUID NOT NULL,
    "accountId" BIGINT NOT NULL,
    "amount" INTEGER NOT NULL,
    "postedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Posting_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "points"."Lot" (
    "id" BIGSERIAL NOT NULL,
    "memberId" UUID NOT NULL,
    "issuerPartnerId" UUID,
    "sourceTransactionId" UUID NOT NULL,
    "points" INTEGER NOT NULL,
    "remaining" INTEGER NOT NULL,
    "earnedAt" TIMESTAMPTZ(3) NOT NULL,
    "expiresAt" TIMESTAMPTZ(3),
    "offerId" UUID,

    CONSTRAINT "Lot_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "points"."LotConsumption" (
    "id" BIGSERIAL NOT NULL,
    "lotId" BIGINT NOT NULL,
    "transactionId" UUID NOT NULL,
    "points" INTEGER NOT NULL,

    CONSTRAINT "LotConsumption_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "points"."Hold" (
    "id" UUID NOT NULL,
    "memberId" UUID NOT NULL,
    "partnerId" UUID NOT NULL,
    "points" INTEGER NOT NULL,
    "capturedPoints" INTEGER NOT NULL DEFAULT 0,
    "status" "points"."HoldStatus" NOT NULL DEFAULT 'PENDING',
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "resolvedAt" TIMESTAMPTZ(3),
    "captureTransactionId" UUID,
    "reference" TEXT,
    "createdBy" TEXT NOT NULL,
    "idempotencyScope" TEXT NOT NULL,
    "idempotencyKey" TEXT NOT NULL,
    "requestHash" TEXT NOT NULL,

    CONSTRAINT "Hold_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "points"."TierState" (
    "memberId" UUID NOT NULL,
    "tier" "points"."Tier" NOT NULL DEFAULT 'BASE',
    "tierSince" TIMESTAMPTZ(3) NOT NULL,
    "lastQualifyingAt" TIMESTAMPTZ(3),

    CONSTRAINT "TierState_pkey" PRIMARY KEY ("memberId")
);

-- CreateTable
CREATE TABLE "points"."MemberLink" (
    "memberId" UUID NOT NULL,
    "partnerId" UUID NOT NULL,
    "linkedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "MemberLink_pkey" PRIMARY KEY ("memberId","partnerId")
);

-- CreateTable
CREATE TABLE "points"."MemberJoin" (
    "memberId" UUID NOT NULL,
    "joinedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "MemberJoin_pkey" PRIMARY KEY ("memberId")
);

-- CreateTable
CREATE TABLE "points"."MemberConsent" (
    "consentId" UUID NOT NULL,
    "memberId" UUID NOT NULL,
    "partnerId" UUID NOT NULL,
    "purpose" TEXT NOT NULL,
    "expiresAt" TIMESTAMPTZ(3),
    "active" BOOLEAN NOT NULL,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "MemberConsent_pkey" PRIMARY KEY ("consentId")
);

-- CreateTable
CREATE TABLE "points"."Partner" (
    "partnerId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "earnRate" DECIMAL(12,4) NOT NULL DEFAULT 1,
    "active" BOOLEAN NOT NULL DEFAULT true,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Partner_pkey" PRIMARY KEY ("partnerId")
);

-- CreateTable
CREATE TABLE "points"."PartnerRate" (
    "id" BIGSERIAL NOT NULL,
    "partnerId" UUID NOT NULL,
    "issuePrice" DECIMAL(18,6) NOT NULL,
    "redemptionRate" DECIMAL(18,6) NOT NULL,
    "effectiveFrom" TIMESTAMPTZ(3) NOT NULL,
    "receivedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "PartnerRate_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "points"."Offer" (
    "offerId" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "bonusPoints" INTEGER,
    "multiplier" DECIMAL(8,4),
    "startsAt" TIMESTAMPTZ(3) NOT NULL,
    "endsAt" TIMESTAMPTZ(3) NOT NULL,
    "perMemberLimit" INTEGER NOT NULL,
    "budgetPoints" INTEGER NOT NULL,
    "fundings" JSONB NOT NULL,
    "redeemablePartnerIds" UUID[],
    "minTier" "points"."Tier",
    "segments" TEXT[] DEFAULT ARRAY[]::TEXT[],
    "requiredPurpose" TEXT,
    "status" TEXT NOT NULL DEFAULT 'ACTIVE',
    "activatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "endedAt" TIMESTAMPTZ(3),

    CONSTRAINT "Offer_pkey" PRIMARY KEY ("offerId")
);

-- CreateTable
CREATE TABLE "points"."OfferClaim" (
    "offerId" UUID NOT NULL,
    "memberId" UUID NOT NULL,
    "claimedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "OfferClaim_pkey" PRIMARY KEY ("offerId","memberId")
);

-- CreateTable
CREATE TABLE "points"."OfferUse" (
    "offerId" UUID NOT NULL,
    "memberId" UUID NOT NULL,
    "uses" INTEGER NOT NULL DEFAULT 0,

    CONSTRAINT "OfferUse_pkey" PRIMARY KEY ("offerId","memberId")
);

-- CreateTable
CREATE TABLE "points"."RedemptionCode" (
    "jti" UUID NOT NULL,
    "memberId" UUID NOT NULL,
    "partnerId" UUID NOT NULL,
    "points" INTEGER NOT NULL,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "usedAt" TIMESTAMPTZ(3),

    CONSTRAINT "RedemptionCode_pkey" PRIMARY KEY ("jti")
);

-- CreateTable
CREATE TABLE "points"."SettlementRun" (
    "id" UUID NOT NULL,
    "periodStart" TIMESTAMPTZ(3) NOT NULL,
    "periodEnd" TIMESTAMPTZ(3) NOT NULL,
    "status" "points"."SettlementStatus" NOT NULL DEFAULT 'DRAFT',
    "currency" TEXT NOT NULL,
    "watermarkPostingId" BIGINT NOT NULL,
    "prevPeriodEnd" TIMESTAMPTZ(3),
    "prevWatermarkPostingId" BIGINT,
    "postingsCovered" BIGINT NOT NULL DEFAULT 0,
    "carriedInPostings" BIGINT NOT NULL DEFAULT 0,
    "operatorMargin" DECIMAL(24,6) NOT NULL DEFAULT 0,
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "computedAt" TIMESTAMPTZ(3) NOT NULL,
    "approvedAt" TIMESTAMPTZ(3),
    "approvedBy" TEXT,

    CONSTRAINT "SettlementRun_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "points"."SettlementStatement" (
    "runId" UUID NOT NULL,
    "partnerId" UUID NOT NULL,
    "pointsIssued" BIGINT NOT NULL,
    "pointsRedeemed" BIGINT NOT NULL,
    "offerFundingPoints" BIGINT NOT NULL,
    "offerReturnedPoints" BIGINT NOT NULL,
    "pointsReversed" BIGINT NOT NULL,
    "pointsAdjusted" BIGINT NOT NULL,
    "amountDue" DECIMAL(24,6) NOT NULL,
    "amountOwed" DECIMAL(24,6) NOT NULL,
    "netPosition" DECIMAL(24,6) NOT NULL,
    "liabilityPoints" BIGINT NOT NULL,
    "expiredPoints" BIGINT NOT NULL,

    CONSTRAINT "SettlementStatement_pkey" PRIMARY KEY ("runId","partnerId")
);

-- CreateTable
CREATE TABLE "points"."SettlementLine" (
    "id" UUID NOT NULL,
    "runId" UUID NOT NULL,
    "partnerId" UUID NOT NULL,
    "side" "points"."SettlementSide" NOT NULL,
    "kind" "points"."TransactionKind" NOT NULL,
    "points" BIGINT NOT NULL,
    "postings" BIGINT NOT NULL,
    "rate" DECIMAL(18,6) NOT NULL,
    "rateEffectiveFrom" TIMESTAMPTZ(3),
    "amount" DECIMAL(24,6) NOT NULL,
    "disputeReason" TEXT,
    "disputedAt" TIMESTAMPTZ(3),
    "disputedBy" TEXT,
    "resolvedAt" TIMESTAMPTZ(3),
    "resolvedBy" TEXT,
    "resolutionNote" TEXT,
    "adjustmentTransactionId" UUID,

    CONSTRAINT "SettlementLine_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "points"."SettlementFlow" (
    "runId" UUID NOT NULL,
    "fromPartnerId" UUID NOT NULL,
    "toPartnerId" UUID NOT NULL,
    "points" BIGINT NOT NULL,

    CONSTRAINT "SettlementFlow_pkey" PRIMARY KEY ("runId","fromPartnerId","toPartnerId")
);

-- CreateTable
CREATE TABLE "member"."OutboxEvent" (
    "id" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deliveredAt" TIMESTAMPTZ(3),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "lastError" TEXT,
    "lockedUntil" TIMESTAMPTZ(3),

    CONSTRAINT "OutboxEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "member"."InboxEvent" (
    "eventId" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "processedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "InboxEvent_pkey" PRIMARY KEY ("eventId")
);

-- CreateTable
CREATE TABLE "points"."OutboxEvent" (
    "id" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deliveredAt" TIMESTAMPTZ(3),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "lastError" TEXT,
    "lockedUntil" TIMESTAMPTZ(3),

    CONSTRAINT "OutboxEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "points"."InboxEvent" (
    "eventId" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "processedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "InboxEvent_pkey" PRIMARY KEY ("eventId")
);

-- CreateTable
CREATE TABLE "partner"."OutboxEvent" (
    "id" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "payload" JSONB NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "deliveredAt" TIMESTAMPTZ(3),
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "lastError" TEXT,
    "lockedUntil" TIMESTAMPTZ(3),

    CONSTRAINT "OutboxEvent_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "partner"."InboxEvent" (
    "eventId" UUID NOT NULL,
    "type" TEXT NOT NULL,
    "processedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "InboxEvent_pkey" PRIMARY KEY ("eventId")
);

-- CreateIndex
CREATE UNIQUE INDEX "Partner_slug_key" ON "partner"."Partner"("slug");

-- CreateIndex
CREATE INDEX "PartnerRate_partnerId_effectiveFrom_idx" ON "partner"."PartnerRate"("partnerId", "effectiveFrom");

-- CreateIndex
CREATE UNIQUE INDEX "ApiClient_clientId_key" ON "partner"."ApiClient"("clientId");

-- CreateIndex
CREATE INDEX "ApiClient_partnerId_idx" ON "partner"."ApiClient"("partnerId");

-- CreateIndex
CREATE INDEX "Offer_status_endsAt_idx" ON "partner"."Offer"("status", "endsAt");

-- CreateIndex
CREATE INDEX "Offer_createdAt_id_idx" ON "partner"."Offer"("createdAt", "id");

-- CreateIndex
CREATE INDEX "OfferFunding_partnerId_idx" ON "partner"."OfferFunding"("partnerId");

-- CreateIndex
CREATE INDEX "OfferRedeemablePartner_partnerId_idx" ON "partner"."OfferRedeemablePartner"("partnerId");

-- CreateIndex
CREATE UNIQUE INDEX "OfferClaim_discountCode_key" ON "partner"."OfferClaim"("discountCode");

-- CreateIndex
CREATE INDEX "OfferClaim_memberId_idx" ON "partner"."OfferClaim"("memberId");

-- CreateIndex
CREATE UNIQUE INDEX "OfferClaim_offerId_memberId_key" ON "partner"."OfferClaim"("offerId", "memberId");

-- CreateIndex
CREATE INDEX "MemberConsent_memberId_purpose_idx" ON "partner"."MemberConsent"("memberId", "purpose");

-- CreateIndex
CREATE UNIQUE INDEX "Member_email_key" ON "member"."Member"("email");

-- CreateIndex
CREATE UNIQUE INDEX "LinkedAccount_partnerId_externalRef_key" ON "member"."LinkedAccount"("partnerId", "externalRef");

-- CreateIndex
CREATE UNIQUE INDEX "LinkedAccount_memberId_partnerId_key" ON "member"."LinkedAccount"("memberId", "partnerId");

-- CreateIndex
CREATE INDEX "Consent_memberId_partnerId_idx" ON "member"."Consent"("memberId", "partnerId");

-- CreateIndex
CREATE INDEX "Consent_partnerId_purpose_idx" ON "member"."Consent"("partnerId", "purpose");

-- CreateIndex
CREATE INDEX "DataAccessEvent_memberId_at_id_idx" ON "member"."DataAccessEvent"("memberId", "at" DESC, "id" DESC);

-- CreateIndex
CREATE UNIQUE INDEX "LedgerAccount_code_key" ON "points"."LedgerAccount"("code");

-- CreateIndex
CREATE INDEX "LedgerAccount_memberId_idx" ON "points"."LedgerAccount"("memberId");

-- CreateIndex
CREATE INDEX "LedgerTransaction_memberId_postedAt_id_idx" ON "points"."LedgerTransaction"("memberId", "postedAt" DESC, "id" DESC);

-- CreateIndex
CREATE INDEX "LedgerTransaction_postedAt_idx" ON "points"."LedgerTransaction"("postedAt");

-- CreateIndex
CREATE INDEX "LedgerTransaction_reversesId_idx" ON "points"."LedgerTransaction"("reversesId");

-- CreateIndex
CREATE INDEX "LedgerTransaction_partnerId_postedAt_idx" ON "points"."LedgerTransaction"("partnerId", "postedAt");

-- CreateIndex
CREATE UNIQUE INDEX "LedgerTransaction_idempotencyScope_idempotencyKey_key" ON "points"."LedgerTransaction"("idempotencyScope", "idempotencyKey");

-- CreateIndex
CREATE INDEX "Posting_transactionId_idx" ON "points"."Posting"("transactionId");

-- CreateIndex
CREATE INDEX "Posting_accountId_id_idx" ON "points"."Posting"("accountId", "id");

-- CreateIndex
CREATE INDEX "Posting_postedAt_idx" ON "points"."Posting"("postedAt");

-- CreateIndex
CREATE INDEX "Lot_memberId_expiresAt_idx" ON "points"."Lot"("memberId", "expiresAt");

-- CreateIndex
CREATE INDEX "Lot_expiresAt_idx" ON "points"."Lot"("expiresAt");

-- CreateIndex
CREATE INDEX "Lot_sourceTransactionId_idx" ON "points"."Lot"("sourceTransactionId");

-- CreateIndex
CREATE INDEX "LotConsumption_lotId_idx" ON "points"."LotConsumption"("lotId");

-- CreateIndex
CREATE INDEX "LotConsumption_transactionId_idx" ON "points"."LotConsumption"("transactionId");

-- CreateIndex
CREATE INDEX "Hold_status_expiresAt_idx" ON "points"."Hold"("status", "expiresAt");

-- CreateIndex
CREATE INDEX "Hold_memberId_idx" ON "points"."Hold"("memberId");

-- CreateIndex
CREATE UNIQUE INDEX "Hold_idempotencyScope_idempotencyKey_key" ON "points"."Hold"("idempotencyScope", "idempotencyKey");

-- CreateIndex
CREATE INDEX "TierState_tier_lastQualifyingAt_idx" ON "points"."TierState"("tier", "lastQualifyingAt");

-- CreateIndex
CREATE INDEX "MemberConsent_memberId_purpose_idx" ON "points"."MemberConsent"("memberId", "purpose");

-- CreateIndex
CREATE INDEX "PartnerRate_partnerId_effectiveFrom_idx" ON "points"."PartnerRate"("partnerId", "effectiveFrom");

-- CreateIndex
CREATE INDEX "RedemptionCode_memberId_idx" ON "points"."RedemptionCode"("memberId");

-- CreateIndex
CREATE INDEX "SettlementRun_status_periodEnd_idx" ON "points"."SettlementRun"("status", "periodEnd");

-- CreateIndex
CREATE INDEX "SettlementRun_createdAt_id_idx" ON "points"."SettlementRun"("createdAt", "id");

-- CreateIndex
CREATE INDEX "SettlementLine_runId_partnerId_idx" ON "points"."SettlementLine"("runId", "partnerId");

-- CreateIndex
CREATE INDEX "OutboxEvent_deliveredAt_createdAt_idx" ON "member"."OutboxEvent"("deliveredAt", "createdAt");

-- CreateIndex
CREATE INDEX "OutboxEvent_deliveredAt_createdAt_idx" ON "points"."OutboxEvent"("deliveredAt", "createdAt");

-- CreateIndex
CREATE INDEX "OutboxEvent_deliveredAt_createdAt_idx" ON "partner"."OutboxEvent"("deliveredAt", "createdAt");

-- AddForeignKey
ALTER TABLE "partner"."PartnerRate" ADD CONSTRAINT "PartnerRate_partnerId_fkey" FOREIGN KEY ("partnerId") REFERENCES "partner"."Partner"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "partner"."ApiClient" ADD CONSTRAINT "ApiClient_partnerId_fkey" FOREIGN KEY ("partnerId") REFERENCES "partner"."Partner"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "partner"."Offer" ADD CONSTRAINT "Offer_createdByPartnerId_fkey" FOREIGN KEY ("createdByPartnerId") REFERENCES "partner"."Partner"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "partner"."OfferFunding" ADD CONSTRAINT "OfferFunding_offerId_fkey" FOREIGN KEY ("offerId") REFERENCES "partner"."Offer"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "partner"."OfferFunding" ADD CONSTRAINT "OfferFunding_partnerId_fkey" FOREIGN KEY ("partnerId") REFERENCES "partner"."Partner"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "partner"."OfferRedeemablePartner" ADD CONSTRAINT "OfferRedeemablePartner_offerId_fkey" FOREIGN KEY ("offerId") REFERENCES "partner"."Offer"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "partner"."OfferRedeemablePartner" ADD CONSTRAINT "OfferRedeemablePartner_partnerId_fkey" FOREIGN KEY ("partnerId") REFERENCES "partner"."Partner"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "partner"."OfferClaim" ADD CONSTRAINT "OfferClaim_offerId_fkey" FOREIGN KEY ("offerId") REFERENCES "partner"."Offer"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "member"."LinkedAccount" ADD CONSTRAINT "LinkedAccount_memberId_fkey" FOREIGN KEY ("memberId") REFERENCES "member"."Member"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "member"."Consent" ADD CONSTRAINT "Consent_memberId_fkey" FOREIGN KEY ("memberId") REFERENCES "member"."Member"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "member"."MemberActivityMonth" ADD CONSTRAINT "MemberActivityMonth_memberId_fkey" FOREIGN KEY ("memberId") REFERENCES "member"."Member"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "member"."DataAccessEvent" ADD CONSTRAINT "DataAccessEvent_memberId_fkey" FOREIGN KEY ("memberId") REFERENCES "member"."Member"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "points"."LedgerTransaction" ADD CONSTRAINT "LedgerTransaction_reversesId_fkey" FOREIGN KEY ("reversesId") REFERENCES "points"."LedgerTransaction"("id") ON DELETE SET NULL ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "points"."Posting" ADD CONSTRAINT "Posting_transactionId_fkey" FOREIGN KEY ("transactionId") REFERENCES "points"."LedgerTransaction"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "points"."Posting" ADD CONSTRAINT "Posting_accountId_fkey" FOREIGN KEY ("accountId") REFERENCES "points"."LedgerAccount"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "points"."LotConsumption" ADD CONSTRAINT "LotConsumption_lotId_fkey" FOREIGN KEY ("lotId") REFERENCES "points"."Lot"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "points"."SettlementStatement" ADD CONSTRAINT "SettlementStatement_runId_fkey" FOREIGN KEY ("runId") REFERENCES "points"."SettlementRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "points"."SettlementLine" ADD CONSTRAINT "SettlementLine_runId_fkey" FOREIGN KEY ("runId") REFERENCES "points"."SettlementRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "points"."SettlementFlow" ADD CONSTRAINT "SettlementFlow_runId_fkey" FOREIGN KEY ("runId") REFERENCES "points"."SettlementRun"("id") ON DELETE CASCADE ON UPDATE CASCADE;
