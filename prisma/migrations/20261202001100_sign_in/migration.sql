-- Sign-in for people (issue 13, DESIGN.md §3): members' credentials, their grants (own sessions and
-- partner apps they approved) with rotating refresh tokens, and partner apps as API clients with
-- redirect URIs and allowed scopes. The hub's own member app is a public client (PKCE, no secret).

-- AlterTable
ALTER TABLE "partner"."ApiClient" ADD COLUMN     "allowedScopes" TEXT[] DEFAULT ARRAY[]::TEXT[],
ADD COLUMN     "appName" TEXT,
ADD COLUMN     "publicClient" BOOLEAN NOT NULL DEFAULT false,
ADD COLUMN     "redirectUris" TEXT[] DEFAULT ARRAY[]::TEXT[];

-- CreateTable
CREATE TABLE "member"."MemberCredential" (
    "memberId" UUID NOT NULL,
    "passwordHash" TEXT,
    "activationCodeHash" TEXT,
    "activationExpiresAt" TIMESTAMPTZ(3),
    "failedCount" INTEGER NOT NULL DEFAULT 0,
    "nextAttemptAt" TIMESTAMPTZ(3),
    "disabledAt" TIMESTAMPTZ(3),
    "updatedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "MemberCredential_pkey" PRIMARY KEY ("memberId")
);

-- CreateTable
CREATE TABLE "member"."AppGrant" (
    "id" UUID NOT NULL,
    "memberId" UUID NOT NULL,
    "kind" TEXT NOT NULL,
    "clientId" TEXT NOT NULL,
    "partnerId" UUID,
    "appName" TEXT NOT NULL,
    "scopes" TEXT[],
    "redeemDailyLimit" INTEGER,
    "grantedAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "revokedAt" TIMESTAMPTZ(3),
    "revokedReason" TEXT,

    CONSTRAINT "AppGrant_pkey" PRIMARY KEY ("id")
);

-- CreateTable
CREATE TABLE "member"."RefreshToken" (
    "tokenHash" TEXT NOT NULL,
    "grantId" UUID NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,
    "usedAt" TIMESTAMPTZ(3),

    CONSTRAINT "RefreshToken_pkey" PRIMARY KEY ("tokenHash")
);

-- CreateIndex
CREATE INDEX "AppGrant_memberId_grantedAt_idx" ON "member"."AppGrant"("memberId", "grantedAt");

-- CreateIndex
CREATE INDEX "AppGrant_revokedAt_idx" ON "member"."AppGrant"("revokedAt");

-- CreateIndex
CREATE INDEX "RefreshToken_grantId_idx" ON "member"."RefreshToken"("grantId");

-- AddForeignKey
ALTER TABLE "member"."MemberCredential" ADD CONSTRAINT "MemberCredential_memberId_fkey" FOREIGN KEY ("memberId") REFERENCES "member"."Member"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "member"."AppGrant" ADD CONSTRAINT "AppGrant_memberId_fkey" FOREIGN KEY ("memberId") REFERENCES "member"."Member"("id") ON DELETE RESTRICT ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "member"."RefreshToken" ADD CONSTRAINT "RefreshToken_grantId_fkey" FOREIGN KEY ("grantId") REFERENCES "member"."AppGrant"("id") ON DELETE RESTRICT ON UPDATE CASCADE;


-- The hub's first-party member app: a public client (no secret: the hash can never match), scope
-- `member` only. Native/CLI use the loopback redirect (RFC 8252 §7.3: any port on 127.0.0.1).
INSERT INTO "partner"."ApiClient" ("id", "clientId", "secretHash", "role", "partnerId", "defaultPurpose", "name", "redirectUris", "allowedScopes", "appName", "publicClient")
VALUES ('00000000-0000-4000-8000-00000000a001', 'hub-member-app', '!public-client', 'MEMBER', NULL, 'ACCOUNT_SERVICING', 'Coalition Hub member app',
        ARRAY['http://127.0.0.1/callback', 'http://localhost:4000/app/callback'], ARRAY['member'], 'Coalition Hub', true);
