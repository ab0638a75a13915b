-- Per-partner and per-API-client rate limits set by admins (issue 18 §4); additive, no backfill.
-- CreateTable
CREATE TABLE "partner"."RateLimitQuota" (
    "id" UUID NOT NULL,
    "scope" TEXT NOT NULL,
    "subject" TEXT NOT NULL,
    "requestsPerMinute" INTEGER,
    "costPerMinute" INTEGER,
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "updatedBy" TEXT NOT NULL,

    CONSTRAINT "RateLimitQuota_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "RateLimitQuota_scope_subject_key" ON "partner"."RateLimitQuota"("scope", "subject");
