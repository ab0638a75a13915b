import { execFile } from "node:child_process";
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { describe, expect, test } from "vitest";
import { parse } from "yaml";
import { ENV_EXAMPLE } from "../scripts/env-example.ts";
import { currencySettings } from "../subgraphs/points/src/config.ts";
import { ConfigError, effectiveConfig, envExample, loadEnv, readSetting, SETTINGS } from "./config.ts";

const ROOT = path.resolve(import.meta.dirname, "..");

function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, encoding: "utf8" })
    .filter((f) => /\.(ts|mts|mjs)$/.test(f) && !/\.(test|e2e)\.ts$/.test(f) && !f.split(path.sep).includes("generated") && !f.includes("testing"))
    .map((f) => path.join(dir, f))
    .filter((f) => statSync(path.join(ROOT, f)).isFile());
}
const SERVICE_DIRS = ["lib", "gateway", "subgraphs", "scripts", "prisma"];

describe("the schema", () => {
  test("every HUB_* variable the services, scripts and tooling name is in the one table", () => {
    // Names that look like variables but are not read from the environment, or belong to the tests.
    const notVariables = new Set(["HUB_OWN_CLIENTS", "HUB_TEST_TEMPLATE", "HUB_PG_BIN"]);
    const named = new Map<string, string>();
    for (const file of [...SERVICE_DIRS.flatMap(sources), "prisma.config.ts", "Dockerfile", "docker-compose.yml"]) {
      for (const [name] of readFileSync(path.join(ROOT, file), "utf8").matchAll(/\bHUB_[A-Z0-9_]+/g)) {
        if (!name.endsWith("_") && !notVariables.has(name)) named.set(name, file);
      }
    }
    const missing = [...named].filter(([name]) => !(name in SETTINGS)).map(([name, file]) => `${name} (${file})`);
    expect(missing, "add them to SETTINGS in lib/config.ts").toEqual([]);
  });

  test("services read the environment only through lib/config.ts", () => {
    // Each exception says why it reads process.env itself.
    const allowed: Record<string, string> = {
      "lib/config.ts": "the one place",
      "lib/logger.ts": "runs while modules load; parses HUB_LOG_LEVEL with the table's schema and never throws",
      "lib/compile-cache.ts": "Node's own NODE_COMPILE_CACHE, not a hub setting: when the operator set it, Node's choice stands",
      "scripts/mutation.ts": "hands its environment to the Stryker child process",
      "prisma/engine/migrate.mjs": "tooling outside the services (PRISMA_SCHEMA, SHADOW, DATABASE_URL of the CLI)",
      "prisma/engine/schema-engine-shim.mjs": "tooling outside the services (HUB_SCHEMA_ENGINE_LOG, the CLI's variables)",
      "prisma/engine/wasm-engine.mjs": "tooling outside the services",
    };
    const readers = SERVICE_DIRS.flatMap(sources).filter((f) => /process\.env(\.|\[)/.test(readFileSync(path.join(ROOT, f), "utf8").replace(/=\s*process\.env\b(?![.[])/g, "")));
    expect(readers.filter((f) => !(f in allowed))).toEqual([]);
  });

  test("every variable has a meaning, and the defaults run the demo without any variable", () => {
    for (const [name, s] of Object.entries(SETTINGS)) expect(s.doc.length, name).toBeGreaterThan(20);
    const e = loadEnv({});
    expect(e.HUB_PORT).toBe(4000);
    expect(e.DATABASE_URL).toBeUndefined();
    expect(e.HUB_EXPIRY_POLICY).toEqual({ kind: "months_after_earning", months: 36 });
  });

  test("the coalition settles in CNY by default, the same under `npm start` and docker-compose", () => {
    expect(loadEnv({}).HUB_CURRENCY).toBe("CNY");
    // The points subgraph (which settles) reads the same table: it once had its own default, EUR.
    expect(currencySettings().code).toBe(loadEnv().HUB_CURRENCY);
    const compose = parse(readFileSync(path.join(ROOT, "docker-compose.yml"), "utf8")) as { "x-hub-env": Record<string, string> };
    // biome-ignore lint/suspicious/noTemplateCurlyInString: docker-compose's own interpolation, not a JS template
    expect(compose["x-hub-env"].HUB_CURRENCY).toBe("${HUB_CURRENCY:-CNY}");
    expect(loadEnv({ HUB_CURRENCY: "EUR" }).HUB_CURRENCY).toBe("EUR");
  });
});

describe("validation", () => {
  test("a bad value is a ConfigError naming the variable and the value; every bad variable is listed", () => {
    const err = (() => {
      try {
        loadEnv({ HUB_PORT: "forty", HUB_CURRENCY: "yuan", HUB_EXPIRY_POLICY: "months_after_earning:0", HUB_TIME_ZONE: "Mars/Olympus" });
      } catch (e) {
        return e;
      }
    })();
    expect(err).toBeInstanceOf(ConfigError);
    const problems = (err as ConfigError).problems;
    expect(problems).toHaveLength(4);
    expect(problems[0]).toMatch(/^HUB_PORT="forty": /);
    expect(problems.join("\n")).toMatch(/HUB_CURRENCY="yuan": must be an ISO 4217 code/);
    expect(problems.join("\n")).toMatch(/HUB_EXPIRY_POLICY="months_after_earning:0": use months_after_earning:<N>/);
    expect(problems.join("\n")).toMatch(/HUB_TIME_ZONE="Mars\/Olympus": must be an IANA time zone/);
  });

  test("bounds and rules across variables", () => {
    expect(() => loadEnv({ HUB_MIN_COHORT: "1" })).toThrow(/HUB_MIN_COHORT="1"/);
    expect(() => loadEnv({ HUB_DB_POOL_SIZE: "2.5" })).toThrow(/HUB_DB_POOL_SIZE/);
    expect(() => loadEnv({ HUB_LIFECYCLE_DORMANT_DAYS: "200" })).toThrow(/HUB_LIFECYCLE_DORMANT_DAYS="200": must be below HUB_LIFECYCLE_CHURNED_DAYS \(180\)/);
    expect(() => loadEnv({ HUB_MEMBER_IDP_ISSUER: "https://idp.example" })).toThrow(/HUB_MEMBER_IDP_JWKS_URL=unset: is required with HUB_MEMBER_IDP_ISSUER/);
    expect(() => loadEnv({ HUB_SIGNING_KEYS: "{not json" })).toThrow(/HUB_SIGNING_KEYS/);
  });

  test("a secret's value never appears in an error", () => {
    expect(() => loadEnv({ HUB_INTERNAL_SECRET: "short-but-secret" })).toThrow(/HUB_INTERNAL_SECRET=a secret value \(not shown\)/);
    expect(() => loadEnv({ HUB_INTERNAL_SECRET: "short-but-secret" })).not.toThrow(/short-but-secret/);
  });

  test("an empty variable counts as unset; unknown variables are ignored", () => {
    const e = loadEnv({ HUB_PORT: "", HUB_DEMO: "", SOMETHING_ELSE: "x" });
    expect(e.HUB_PORT).toBe(4000);
    expect(e.HUB_DEMO).toBeUndefined();
    expect(e).not.toHaveProperty("SOMETHING_ELSE");
  });

  test("readSetting validates one variable alone", () => {
    expect(readSetting("HUB_SIGNIN_MAX_DELAY_MS", { HUB_SIGNIN_MAX_DELAY_MS: "5000", HUB_PORT: "not checked here" })).toBe(5000);
    expect(readSetting("HUB_SIGNIN_MAX_DELAY_MS", {})).toBe(60_000);
    expect(() => readSetting("HUB_SIGNIN_MAX_DELAY_MS", { HUB_SIGNIN_MAX_DELAY_MS: "0" })).toThrow(/HUB_SIGNIN_MAX_DELAY_MS="0"/);
  });

  test("npm start with a bad value stops before it opens anything: one message naming the variable, exit code 1, no stack trace", async () => {
    const dataDir = mkdtempSync(path.join(tmpdir(), "hub-config-"));
    try {
      const r = await promisify(execFile)(process.execPath, ["--import", "tsx", "scripts/start.ts"], {
        cwd: ROOT,
        env: { PATH: process.env.PATH!, HUB_DATA_DIR: dataDir, HUB_PORT: "0", MEMBER_PORT: "0", POINTS_PORT: "0", PARTNER_PORT: "0", HUB_HOLD_TTL_MINUTES: "forever" },
        timeout: 60_000,
      }).then(
        () => ({ code: 0, stderr: "" }),
        (e: { code?: number; stderr?: string }) => ({ code: e.code ?? -1, stderr: e.stderr ?? "" }),
      );
      expect(r.code).toBe(1);
      expect(r.stderr).toMatch(/^Invalid configuration/);
      expect(r.stderr).toMatch(/^ {2}- HUB_HOLD_TTL_MINUTES="forever": /m);
      expect(r.stderr).not.toMatch(/^\s+at /m);
      expect(existsSync(path.join(dataDir, "pgdata")), "no database was opened").toBe(false);
    } finally {
      rmSync(dataDir, { recursive: true, force: true });
    }
  });
});

describe("printing", () => {
  test("effectiveConfig masks secrets and a database URL's password, and says where each value comes from", () => {
    const byName = Object.fromEntries(effectiveConfig({ HUB_INTERNAL_SECRET: "s".repeat(40), DATABASE_URL: "postgresql://hub:pw-123@db:5432/hub", HUB_PORT: "4100" }).map((s) => [s.name, s]));
    expect(byName.HUB_INTERNAL_SECRET).toMatchObject({ value: "********", source: "environment", secret: true });
    expect(byName.DATABASE_URL).toMatchObject({ value: "postgresql://hub:********@db:5432/hub", source: "environment" });
    expect(byName.HUB_PORT).toMatchObject({ value: "4100", source: "environment" });
    expect(byName.HUB_CURRENCY).toMatchObject({ value: "CNY", source: "default" });
    expect(byName.HUB_SIGNING_KEYS).toMatchObject({ value: "", source: "unset" });
  });

  test(".env.example is generated from the schema and fresh (npm run generate:env)", () => {
    const text = envExample();
    expect(readFileSync(ENV_EXAMPLE, "utf8"), "run `npm run generate:env` and commit .env.example").toBe(text);
    for (const name of Object.keys(SETTINGS)) expect(text).toMatch(new RegExp(`^# ${name}=`, "m"));
    expect(text).toMatch(/^# HUB_CURRENCY=CNY$/m);
    expect(text).toMatch(/^# HUB_EXPIRY_POLICY=months_after_earning:36$/m);
  });
});
