-- Browser origins allowed to call the hub with a client's tokens (issue 17 §4, CORS). Additive:
-- the previous release never reads the column (expand step).
ALTER TABLE "partner"."ApiClient" ADD COLUMN "allowedOrigins" TEXT[] NOT NULL DEFAULT ARRAY[]::TEXT[];
