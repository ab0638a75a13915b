-- People who are not members (issue 13): coalition admins (TOTP required) and partner staff, with
-- their sign-in sessions. Signed in through the hub's console, a public client (PKCE, no secret).

-- CreateTable
CREATE TABLE "partner"."Person" (
    "id" UUID NOT NULL,
    "email" TEXT NOT NULL,
    "displayName" TEXT,
    "role" TEXT NOT NULL,
    "partnerId" UUID,
    "passwordHash" TEXT,
    "totpSecret" TEXT,
    "totpLastStep" INTEGER,
    "activationCodeHash" TEXT,
    "activationExpiresAt" TIMESTAMPTZ(3),
    "failedCount" INTEGER NOT NULL DEFAULT 0,
    "nextAttemptAt" TIMESTAMPTZ(3),
    "disabledAt" TIMESTAMPTZ(3),
    "invitedBy" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "Person_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "partner"."PersonSession" (
    "id" UUID NOT NULL,
    "personId" UUID NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" TIMESTAMPTZ(3),

    CONSTRAINT "PersonSession_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Person_email_key" ON "partner"."Person"("email");

-- CreateIndex
CREATE INDEX "Person_partnerId_idx" ON "partner"."Person"("partnerId");

-- CreateIndex
CREATE INDEX "PersonSession_personId_idx" ON "partner"."PersonSession"("personId");

-- CreateIndex
CREATE INDEX "PersonSession_revokedAt_idx" ON "partner"."PersonSession"("revokedAt");

-- AddForeignKey
ALTER TABLE "partner"."PersonSession" ADD CONSTRAINT "PersonSession_personId_fkey" FOREIGN KEY ("personId") REFERENCES "partner"."Person"("id") ON DELETE RESTRICT ON UPDATE CASCADE;


INSERT INTO "partner"."ApiClient" ("id", "clientId", "secretHash", "role", "partnerId", "defaultPurpose", "name", "redirectUris", "allowedScopes", "appName", "publicClient")
VALUES ('00000000-0000-4000-8000-00000000a002', 'hub-console', '!public-client', 'ADMIN', NULL, 'ACCOUNT_SERVICING', 'Coalition Hub console (admins and partner staff)',
        ARRAY['http://127.0.0.1/console/callback', 'http://localhost:4000/console/callback'], ARRAY['person'], 'Coalition Hub console', true);
