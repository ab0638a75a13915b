import { type ChildProcess, execFile, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { readdirSync, rmSync, writeFileSync } from "node:fs";
import path from "node:path";
import pg from "pg";
import { afterAll, beforeAll, expect, test } from "vitest";
import { preparePreviousRelease, type Release } from "../support/previous-release.ts";

// Issue 18 §8: the migrations added since the last release are applied, the way production applies
// them (`node prisma/engine/migrate.mjs deploy`, the Prisma schema engine), to a database that the
// last release's own code (its tree from git, its dependencies, its Prisma client) is serving under
// load: partners earning and reading through its gateway. Every request answers without an error,
// every migration is applied, and every acknowledged earn is in the ledger exactly once (none lost,
// none doubled), balanced, with nothing posted that was not acknowledged.
// PostgreSQL only (two processes share the database): the vitest project `upgrade` exists when
// DATABASE_URL names a server, as `.ci/run` sets it.

const ROOT = path.resolve(import.meta.dirname, "../..");
const CURRENT_MIGRATIONS = readdirSync(path.join(ROOT, "prisma/migrations"))
  .filter((d) => /^\d{14}_/.test(d))
  .sort();
const ADMIN = { id: "upgrade-admin", secret: "upgrade-admin-secret-0123456789abcdef" };
const MEMBERS = 16;
const WORKERS = 6;

/** Started in the release's tree: migrates to the release's schema, starts its hub, prints its gateway URL. */
const DRIVER = `
import { migrate, openDatabase } from "./lib/db.ts";
import { startHub } from "./scripts/hub.ts";
import { createApiClientWithSecret } from "./subgraphs/partner/src/services/api-clients.ts";
const db = await openDatabase({ url: process.env.DATABASE_URL, poolSize: 20 });
const applied = await migrate(db);
const hub = await startHub({ db, internalSecret: "upgrade-internal-secret-0123456789abcdef0123456789", dataDir: process.env.UPGRADE_DATA_DIR, relayIntervalMs: 50, jobs: false });
await createApiClientWithSecret({ clientId: ${JSON.stringify(ADMIN.id)}, secret: ${JSON.stringify(ADMIN.secret)}, role: "ADMIN", partnerId: null });
process.stdout.write(JSON.stringify({ url: hub.gatewayUrl, applied }) + "\\n");
process.on("SIGTERM", async () => { await hub.close(); await db.close(); process.exit(0); });
`;

let release: Release;
let dbName: string;
let dbUrl: string;
let child: ChildProcess | undefined;
let stderr = "";
let gateway: string;
let releaseMigrations: string[];

const admin = () => new pg.Client({ connectionString: process.env.DATABASE_URL });

beforeAll(async () => {
  if (!process.env.DATABASE_URL) throw new Error("upgrade-under-load needs PostgreSQL: set DATABASE_URL (the release's hub and the migration are two processes on one database)");
  release = preparePreviousRelease();
  dbName = `hub_upgrade_${randomBytes(4).toString("hex")}`;
  const a = admin();
  await a.connect();
  await a.query(`CREATE DATABASE "${dbName}"`);
  await a.end();
  const url = new URL(process.env.DATABASE_URL);
  url.pathname = `/${dbName}`;
  dbUrl = url.toString();
  writeFileSync(path.join(release.dir, "upgrade-driver.ts"), DRIVER);
  child = spawn(process.execPath, ["--import", "tsx", "upgrade-driver.ts"], {
    cwd: release.dir,
    env: { ...process.env, DATABASE_URL: dbUrl, UPGRADE_DATA_DIR: path.join(release.dir, ".data"), HUB_LOG_LEVEL: "warn", HUB_TEST_TEMPLATE: "" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (stderr += c));
  const started = await new Promise<{ url: string; applied: string[] }>((resolve, reject) => {
    let out = "";
    child!.stdout!.setEncoding("utf8").on("data", (c: string) => {
      out += c;
      const line = out.split("\n").find((l) => l.startsWith("{"));
      if (line) resolve(JSON.parse(line));
    });
    child!.once("exit", (code) => reject(new Error(`release ${release.version} exited with ${code}: ${stderr.slice(-3000)}`)));
  });
  gateway = started.url;
  releaseMigrations = started.applied;
}, 120_000);

afterAll(async () => {
  if (child && child.exitCode === null) {
    const exited = new Promise((r) => child!.once("exit", r));
    child.kill("SIGTERM");
    await exited;
  }
  if (dbName) {
    const a = admin();
    await a.connect();
    await a.query(`DROP DATABASE IF EXISTS "${dbName}" WITH (FORCE)`);
    await a.end();
  }
  if (release) rmSync(release.dir, { recursive: true, force: true });
}, 60_000);

type Answer = { status: number; data?: Record<string, any>; errors?: unknown[] };
async function call(token: string, query: string, variables: Record<string, unknown> = {}): Promise<Answer> {
  const res = await fetch(gateway, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
  return { status: res.status, ...((await res.json()) as { data?: Record<string, any>; errors?: unknown[] }) };
}
async function ok(token: string, query: string, variables: Record<string, unknown> = {}) {
  const r = await call(token, query, variables);
  if (r.status !== 200 || r.errors?.length) throw new Error(`${query.slice(0, 60)}: ${r.status} ${JSON.stringify(r.errors)}`);
  return r.data!;
}
async function token(clientId: string, secret: string): Promise<string> {
  const res = await fetch(new URL("/oauth/token", gateway), { method: "POST", body: new URLSearchParams({ grant_type: "client_credentials", client_id: clientId, client_secret: secret }) });
  return ((await res.json()) as { access_token: string }).access_token;
}

const AWARD = "mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id points } }";

test("the release's hub under load while the current migrations are applied: no request fails, every migration applies, each acknowledged earn is posted once", async () => {
  // The release's schema is what its own code migrated to: the migrations it shipped, fewer than ours.
  expect(releaseMigrations.length).toBeGreaterThan(0);
  expect(releaseMigrations.length).toBeLessThan(CURRENT_MIGRATIONS.length);
  expect(CURRENT_MIGRATIONS.slice(0, releaseMigrations.length)).toEqual([...releaseMigrations].sort());

  // A partner with members, through the release's gateway.
  const adminToken = await token(ADMIN.id, ADMIN.secret);
  const { registerPartner: p } = await ok(adminToken, 'mutation { registerPartner(input: { name: "Upgrade Mart", category: "ECOMMERCE", issuePrice: "0.01", redemptionRate: "0.01" }) { id } }');
  const { createApiClient: c } = await ok(adminToken, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: p.id });
  const partner = await token(c.clientId, c.clientSecret);
  const members: string[] = [];
  for (let i = 0; i < MEMBERS; i++)
    members.push((await ok(partner, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email: `upgrade-${i}@example.com`, externalRef: `UP-${i}` } })).enrollMember.id);
  // The points subgraph learns the links from events: the first earn per member is retried (same key) until it lands.
  const acknowledged = new Map<string, { id: string; points: number }>();
  for (const m of members) {
    const key = `warm-${m}`;
    for (;;) {
      const r = await call(partner, AWARD, { i: { memberId: m, points: 10, idempotencyKey: key } });
      if (r.status === 200 && !r.errors?.length) {
        acknowledged.set(key, { id: r.data!.awardPoints.id, points: 10 });
        break;
      }
      await new Promise((res) => setTimeout(res, 50));
    }
  }

  // Load: earns and wallet reads, from several clients at once, until the migration has finished and a while after.
  const failures: string[] = [];
  let migrated = false;
  let afterMigration = 0;
  const worker = async (w: number) => {
    for (let n = 0; !migrated || afterMigration < 40; n++) {
      const member = members[(w * 7 + n) % members.length]!;
      if (n % 3 === 2) {
        const r = await call(partner, "query($m: ID!) { member(id: $m) { id } }", { m: member });
        if (r.status !== 200 || r.errors?.length) failures.push(`read: ${r.status} ${JSON.stringify(r.errors)}`);
      } else {
        const key = randomUUID();
        const points = 1 + ((w + n) % 9);
        const r = await call(partner, AWARD, { i: { memberId: member, points, idempotencyKey: key } });
        if (r.status !== 200 || r.errors?.length) failures.push(`earn: ${r.status} ${JSON.stringify(r.errors)}`);
        else acknowledged.set(key, { id: r.data!.awardPoints.id, points });
      }
      if (migrated) afterMigration++;
    }
  };
  const load = Promise.all(Array.from({ length: WORKERS }, (_, w) => worker(w)));
  // Some load first, then the current migrations, as production applies them.
  while (acknowledged.size < MEMBERS + 30) await new Promise((r) => setTimeout(r, 20));
  const beforeMigration = acknowledged.size;
  const migrationStarted = Date.now();
  const migration = await new Promise<{ code: number; out: string }>((resolve) => {
    execFile(process.execPath, [path.join(ROOT, "prisma/engine/migrate.mjs"), "deploy"], { cwd: ROOT, env: { ...process.env, DATABASE_URL: dbUrl } }, (e, stdout, err) =>
      resolve({ code: e ? ((e as { code?: number }).code ?? 1) : 0, out: `${stdout}${err}` }),
    );
  });
  migrated = true;
  const duringMigration = acknowledged.size - beforeMigration;
  const migrationMs = Date.now() - migrationStarted;
  await load;
  console.log(
    `upgrade: release ${release.version} (${release.commit.slice(0, 8)}) served ${acknowledged.size} earns and their reads; ${duringMigration} earns acknowledged while ${CURRENT_MIGRATIONS.length - releaseMigrations.length} migrations applied (${migrationMs} ms)`,
  );

  expect(migration, migration.out).toMatchObject({ code: 0 });
  expect(failures).toEqual([]);
  // Load ran before and during the migration, and the release kept serving after it.
  expect(acknowledged.size).toBeGreaterThan(beforeMigration);

  const check = new pg.Client({ connectionString: dbUrl });
  await check.connect();
  try {
    const { rows: applied } = await check.query<{ migration_name: string }>("SELECT migration_name FROM public._prisma_migrations WHERE finished_at IS NOT NULL AND rolled_back_at IS NULL ORDER BY migration_name");
    expect(applied.map((r) => r.migration_name)).toEqual(CURRENT_MIGRATIONS);
    // Every acknowledged earn exactly once, under its key, with its points; nothing else for the partner.
    const { rows: earns } = await check.query<{ id: string; key: string; points: string }>(
      `SELECT id, "idempotencyKey" AS key, "memberPoints"::text AS points FROM points."LedgerTransaction" WHERE "partnerId" = $1 AND kind = 'EARN'`,
      [p.id],
    );
    expect(earns).toHaveLength(acknowledged.size);
    const byKey = new Map(earns.map((e) => [e.key, e]));
    for (const [key, a] of acknowledged) expect(byKey.get(key), key).toMatchObject({ id: a.id, points: String(a.points) });
    // Double-entry still holds for each of them.
    const { rows: unbalanced } = await check.query(`SELECT t.id FROM points."LedgerTransaction" t JOIN points."Posting" q ON q."transactionId" = t.id WHERE t."partnerId" = $1 GROUP BY t.id HAVING sum(q.amount) <> 0`, [
      p.id,
    ]);
    expect(unbalanced).toEqual([]);
  } finally {
    await check.end();
  }
  expect(child!.exitCode).toBeNull();
}, 180_000);
