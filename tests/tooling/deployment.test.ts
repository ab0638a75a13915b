import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Database } from "../../lib/db.ts";
import { deploymentProblems } from "../../lib/deployment.ts";
import { seedDemo } from "../../prisma/seed.ts";
import { usePrisma as usePartnerPrisma } from "../../subgraphs/partner/src/db.ts";
import { createApiClientWithSecret } from "../../subgraphs/partner/src/services/api-clients.ts";
import { freshDatabase } from "../support/db.ts";

// Deployment defaults (issue 14 §8): production never seeds the demo and never makes up secrets.
const SECRETS = {
  NODE_ENV: "production",
  HUB_INTERNAL_SECRET: "x".repeat(40),
  HUB_SIGNING_KEYS: '[{"kty":"EC"}]',
  DATABASE_URL: "postgresql://hub:s3cret-long-password@db:5432/hub",
};

describe("production configuration", () => {
  test("every missing or well-known secret is named; a complete configuration passes; outside production nothing is required", () => {
    expect(deploymentProblems("hub", SECRETS)).toEqual([]);
    expect(deploymentProblems("hub", { NODE_ENV: "development" })).toEqual([]);
    const none = deploymentProblems("hub", { NODE_ENV: "production" }).join("\n");
    for (const name of ["HUB_INTERNAL_SECRET", "DATABASE_URL", "HUB_SIGNING_KEYS"]) expect(none).toContain(name);
    expect(deploymentProblems("hub", { ...SECRETS, HUB_DEMO: "1" }).join()).toMatch(/HUB_DEMO=1/);
    expect(deploymentProblems("subgraph", { ...SECRETS, DATABASE_URL: "postgresql://postgres:postgres@postgres:5432/coalition_hub" }).join()).toMatch(/well-known/);
    expect(deploymentProblems("subgraph", { ...SECRETS, DATABASE_URL: "postgresql://postgres@127.0.0.1:5432/hub" }).join()).toMatch(/no password/);
    // The gateway owns no database; the subgraphs sign no tokens.
    expect(deploymentProblems("gateway", { ...SECRETS, DATABASE_URL: undefined })).toEqual([]);
    expect(deploymentProblems("subgraph", { ...SECRETS, HUB_SIGNING_KEYS: undefined })).toEqual([]);
  });

  test("npm start with NODE_ENV=production refuses the demo and missing secrets before it opens a database", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "hub-prod-"));
    try {
      const start = (env: Record<string, string>) =>
        promisify(execFile)(process.execPath, ["--import", "tsx", "scripts/start.ts"], {
          env: { PATH: process.env.PATH!, HUB_DATA_DIR: dataDir, HUB_PORT: "0", MEMBER_PORT: "0", POINTS_PORT: "0", PARTNER_PORT: "0", ...env },
          timeout: 60_000,
        }).then(
          () => ({ code: 0, stderr: "" }),
          (e: { code?: number; stderr?: string }) => ({ code: e.code ?? 1, stderr: e.stderr ?? "" }),
        );
      // One start (each loads the whole hub): asked for the demo, with no secrets.
      const r = await start({ NODE_ENV: "production", HUB_DEMO: "1" });
      expect(r.code).not.toBe(0);
      expect(r.stderr).toContain("Refusing to start in production");
      expect(r.stderr).toContain("HUB_DEMO=1");
      expect(r.stderr).toContain("HUB_INTERNAL_SECRET is required");
      expect(existsSync(path.join(dataDir, "pgdata")), "no database was created").toBe(false);
      expect(existsSync(path.join(dataDir, "internal-secret")), "no secret was made up").toBe(false);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("demo seeding", () => {
  let db: Database;
  beforeAll(async () => {
    db = await freshDatabase();
    usePartnerPrisma(db.client());
  });
  afterAll(() => db?.close());

  test("refuses a database that already holds non-demo data (here a real API client), writing nothing", async () => {
    await createApiClientWithSecret({ clientId: "acme-checkout", secret: "a-real-secret-0123456789", role: "ADMIN", partnerId: null });
    await expect(seedDemo(db.client(), { flushEvents: async () => {} })).rejects.toThrow(/non-demo data/);
    expect(await db.client().partner.count()).toBe(0);
    expect(await db.client().apiClient.count({ where: { clientId: { startsWith: "demo-" } } })).toBe(0);
  });

  test("refuses in production", async () => {
    const was = process.env.NODE_ENV;
    process.env.NODE_ENV = "production";
    try {
      await expect(seedDemo(db.client(), { flushEvents: async () => {} })).rejects.toThrow(/NODE_ENV=production/);
    } finally {
      process.env.NODE_ENV = was;
    }
  });
});
