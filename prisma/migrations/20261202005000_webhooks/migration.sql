-- Webhooks (issue 17 §1): partners' endpoints, their deliveries, the copy of confirmed member links, and
-- the consent copy's categories and expiry notice. Additive (expand step): nothing earlier reads them.

-- CreateEnum
CREATE TYPE "partner"."WebhookEndpointStatus" AS ENUM ('ACTIVE', 'PAUSED');

-- CreateEnum
CREATE TYPE "partner"."WebhookDeliveryStatus" AS ENUM ('PENDING', 'RETRYING', 'DELIVERED', 'DEAD');

-- AlterTable
ALTER TABLE "partner"."MemberConsent" ADD COLUMN     "categories" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN     "expiryNotifiedAt" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "partner"."WebhookEndpoint" (
    "id" UUID NOT NULL,
    "partnerId" UUID NOT NULL,
    "url" TEXT NOT NULL,
    "description" TEXT,
    "eventTypes" TEXT[],
    "purpose" TEXT NOT NULL DEFAULT 'ACCOUNT_SERVICING',
    "status" "partner"."WebhookEndpointStatus" NOT NULL DEFAULT 'ACTIVE',
    "secretEncrypted" TEXT NOT NULL,
    "previousSecretEncrypted" TEXT,
    "previousSecretExpiresAt" TIMESTAMPTZ(3),
    "secretRotatedAt" TIMESTAMPTZ(3),
    "createdBy" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "WebhookEndpoint_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "partner"."WebhookDelivery" (
    "id" UUID NOT NULL,
    "seq" BIGSERIAL NOT NULL,
    "endpointId" UUID NOT NULL,
    "partnerId" UUID NOT NULL,
    "eventId" UUID NOT NULL,
    "eventType" TEXT NOT NULL,
    "memberId" UUID,
    "subjectKey" TEXT NOT NULL,
    "occurredAt" TIMESTAMPTZ(3) NOT NULL,
    "facts" JSONB NOT NULL,
    "status" "partner"."WebhookDeliveryStatus" NOT NULL DEFAULT 'PENDING',
    "attempts" INTEGER NOT NULL DEFAULT 0,
    "firstAttemptAt" TIMESTAMPTZ(3),
    "nextAttemptAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "lockedUntil" TIMESTAMPTZ(3),
    "lastAttemptAt" TIMESTAMPTZ(3),
    "lastResponseStatus" INTEGER,
    "lastLatencyMs" INTEGER,
    "lastError" TEXT,
    "deliveredAt" TIMESTAMPTZ(3),
    "deadAt" TIMESTAMPTZ(3),
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "WebhookDelivery_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "partner"."WebhookMemberLink" (
    "memberId" UUID NOT NULL,
    "partnerId" UUID NOT NULL,
    "externalRef" TEXT,
    "linkedAt" TIMESTAMPTZ(3) NOT NULL,

    CONSTRAINT "WebhookMemberLink_pkey" PRIMARY KEY ("memberId","partnerId")
);

-- CreateIndex
CREATE INDEX "WebhookEndpoint_partnerId_createdAt_idx" ON "partner"."WebhookEndpoint"("partnerId", "createdAt");

-- CreateIndex
CREATE INDEX "WebhookDelivery_status_nextAttemptAt_idx" ON "partner"."WebhookDelivery"("status", "nextAttemptAt");

-- CreateIndex
CREATE INDEX "WebhookDelivery_endpointId_subjectKey_seq_idx" ON "partner"."WebhookDelivery"("endpointId", "subjectKey", "seq");

-- CreateIndex
CREATE INDEX "WebhookDelivery_endpointId_createdAt_id_idx" ON "partner"."WebhookDelivery"("endpointId", "createdAt", "id");

-- CreateIndex
CREATE UNIQUE INDEX "WebhookDelivery_endpointId_eventId_key" ON "partner"."WebhookDelivery"("endpointId", "eventId");

-- CreateIndex
CREATE INDEX "WebhookMemberLink_partnerId_idx" ON "partner"."WebhookMemberLink"("partnerId");

-- AddForeignKey
ALTER TABLE "partner"."WebhookDelivery" ADD CONSTRAINT "WebhookDelivery_endpointId_fkey" FOREIGN KEY ("endpointId") REFERENCES "partner"."WebhookEndpoint"("id") ON DELETE CASCADE ON UPDATE CASCADE;
