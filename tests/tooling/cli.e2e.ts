// `npm run cli`, driven as an operator would, against a running test hub.
import { execFile } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, expect, test } from "vitest";
import { startTestHub, TEST_ADMIN, type TestHub } from "../support/hub.ts";

const run = promisify(execFile);
let hub: TestHub;
const dataDir = mkdtempSync(path.join(tmpdir(), "hub-cli-"));

/** Runs the CLI in its own process (asynchronously: the hub serves from this one). */
async function cli(args: string[], env: Record<string, string> = {}, timeoutMs = 60_000) {
  try {
    const { DATABASE_URL: _none, ...inherited } = process.env; // the CLI must not touch the test server's admin database
    const { stdout, stderr } = await run("npx", ["tsx", "scripts/cli.ts", ...args], {
      env: { ...inherited, HUB_DATA_DIR: dataDir, HUB_LOG_LEVEL: "silent", ...env },
      timeout: timeoutMs,
    });
    return { code: 0, stdout, stderr };
  } catch (e) {
    const err = e as { code?: number; stdout?: string; stderr?: string };
    return { code: err.code ?? 1, stdout: err.stdout ?? "", stderr: err.stderr ?? "" };
  }
}
const field = (out: string, name: string) => out.match(new RegExp(`^${name}:\\s+(\\S+)`, "m"))?.[1];
const JWT = /^[\w-]+\.[\w-]+\.[\w-]+$/;

beforeAll(async () => {
  hub = await startTestHub();
});
afterAll(async () => {
  await hub?.close();
  rmSync(dataDir, { recursive: true, force: true });
});

test("token: client credentials print an access token", async () => {
  const r = await cli(["token", "--client-id", TEST_ADMIN.clientId, "--client-secret", TEST_ADMIN.secret, "--url", hub.baseUrl]);
  expect(r.code, r.stderr).toBe(0);
  expect(r.stdout.trim()).toMatch(JWT);
});

test("token: a wrong secret or an unknown member fails with the OAuth error, exit code 1", async () => {
  const bad = await cli(["token", "--client-id", TEST_ADMIN.clientId, "--client-secret", "wrong-secret", "--url", hub.baseUrl]);
  expect(bad.code).toBe(1);
  expect(bad.stderr).toContain("invalid_client");
  const exchange = await cli(["token", "--client-id", TEST_ADMIN.clientId, "--client-secret", TEST_ADMIN.secret, "--exchange", "no-such-member", "--url", hub.baseUrl]);
  expect(exchange.code).toBe(1);
  expect(exchange.stderr).toMatch(/^error: 4\d\d /m);
});

test("clients create through the API (admin credentials): the new client's secret works once printed", async () => {
  const r = await cli(["clients", "create", "--role", "ADMIN", "--admin-id", TEST_ADMIN.clientId, "--admin-secret", TEST_ADMIN.secret, "--url", hub.baseUrl]);
  expect(r.code, r.stderr).toBe(0);
  const id = field(r.stdout, "client_id")!;
  const secret = field(r.stdout, "client_secret")!;
  expect(await hub.token(id, secret)).toMatch(JWT);
});

test("clients create refuses inconsistent options before touching anything", async () => {
  expect((await cli(["clients", "create", "--role", "PARTNER"])).stderr).toContain("needs --partner");
  expect((await cli(["clients", "create", "--role", "MEMBER"])).stderr).toContain("Allowed choices are ADMIN, PARTNER");
});

test.skipIf(!process.env.DATABASE_URL)("clients create over the database (PostgreSQL shared with the running hub)", async () => {
  const r = await cli(["clients", "create", "--role", "ADMIN", "--name", "cli test"], { DATABASE_URL: hub.db.url! });
  expect(r.code, r.stderr).toBe(0);
  expect(await hub.token(field(r.stdout, "client_id")!, field(r.stdout, "client_secret")!)).toMatch(JWT);
});

test("keys rotate: a first key, then a new one that signs while the old one stays published", async () => {
  const first = await cli(["keys", "rotate"]);
  expect(first.stdout).toMatch(/first signing key (\S+)/);
  const second = await cli(["keys", "rotate"]);
  const kid = second.stdout.match(/new signing key (\S+)/)?.[1];
  const firstKid = first.stdout.match(/first signing key (\S+)/)?.[1];
  expect(second.stdout).toContain(`published keys: ${kid}, ${firstKid}`);
});

test("settlement export: a run's statements as CSV and JSON, through the API and over the database", async () => {
  const admin = await hub.adminToken();
  const end = new Date();
  const r = await hub.gql(admin, "mutation($s: DateTime!, $e: DateTime!) { createSettlementRun(periodStart: $s, periodEnd: $e) { id } }", {
    s: new Date(end.getTime() - 86_400_000).toISOString(),
    e: end.toISOString(),
  });
  const runId = (r.data as { createSettlementRun: { id: string } }).createSettlementRun.id;
  const csv = await cli(["settlement", "export", runId, "--admin-id", TEST_ADMIN.clientId, "--admin-secret", TEST_ADMIN.secret, "--url", hub.baseUrl]);
  expect(csv.code, csv.stderr).toBe(0);
  expect(csv.stdout.split("\n")[0]).toBe(
    "run_id,period_start,period_end,status,currency,partner_id,partner_name,line_id,side,kind,points,postings,rate,rate_effective_from,amount,disputed,statement_amount_due,statement_amount_owed,statement_net_position",
  );
  const json = await cli(["settlement", "export", runId, "--format", "json", "--admin-id", TEST_ADMIN.clientId, "--admin-secret", TEST_ADMIN.secret, "--url", hub.baseUrl]);
  expect(JSON.parse(json.stdout)).toMatchObject({ run: { id: runId, status: "DRAFT", currency: "CNY" }, statements: expect.any(Array) });
  const missing = await cli(["settlement", "export", "00000000-0000-4000-8000-000000000000", "--admin-id", TEST_ADMIN.clientId, "--admin-secret", TEST_ADMIN.secret, "--url", hub.baseUrl]);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain("NOT_FOUND");
  if (hub.db.url) {
    const direct = await cli(["settlement", "export", runId, "--format", "json"], { DATABASE_URL: hub.db.url });
    expect(direct.code, direct.stderr).toBe(0);
    expect(JSON.parse(direct.stdout)).toEqual(JSON.parse(json.stdout));
  }
});

test("config: prints every variable with its effective value and source, secrets masked", async () => {
  const secrets = { HUB_INTERNAL_SECRET: "internal-secret-value-0123456789abcdef", HUB_ADMIN_CLIENT_SECRET: "admin-secret-value-42", HUB_SIGNING_KEYS: '[{"kid":"k1","d":"private-key-material"}]' };
  const r = await cli(["config"], { ...secrets, DATABASE_URL: "postgresql://hub:db-password-value@db.example:5432/hub", HUB_PORT: "4321", HUB_CURRENCY: "" });
  expect(r.code, r.stderr).toBe(0);
  for (const value of [...Object.values(secrets), "db-password-value", "private-key-material"]) expect(r.stdout).not.toContain(value);
  expect(r.stdout).toMatch(/^HUB_INTERNAL_SECRET\s+\*{8}$/m);
  expect(r.stdout).toMatch(/^DATABASE_URL\s+postgresql:\/\/hub:\*{8}@db\.example:5432\/hub$/m);
  expect(r.stdout).toMatch(/^HUB_PORT\s+4321$/m); // from the environment: no "(default)"
  expect(r.stdout).toMatch(/^HUB_CURRENCY\s+CNY {2}\(default\)$/m); // empty = unset: the demo coalition's currency
  expect(r.stdout).toMatch(/^HUB_EXPIRY_POLICY\s+months_after_earning:36 {2}\(default\)$/m);
  expect(r.stdout).toMatch(/^HUB_MEMBER_URL\s+\(unset\)$/m);
});

test("config: a bad value stops the CLI with one message naming the variable, exit code 1, no stack trace", async () => {
  const r = await cli(["config"], { HUB_MIN_COHORT: "1", HUB_INTERNAL_SECRET: "too-short-secret" });
  expect(r.code).toBe(1);
  expect(r.stdout).toBe("");
  expect(r.stderr).toMatch(/^Invalid configuration/);
  expect(r.stderr).toMatch(/^ {2}- HUB_MIN_COHORT="1": /m);
  expect(r.stderr).toMatch(/^ {2}- HUB_INTERNAL_SECRET=a secret value \(not shown\): /m);
  expect(r.stderr).not.toContain("too-short-secret");
  expect(r.stderr).not.toMatch(/^\s+at /m);
});

test("events replay on the embedded database: an unknown id is NOT_FOUND; --service is required", async () => {
  // One run that opens (and migrates) the embedded database: slow on a busy machine.
  const missing = await cli(["events", "replay", "00000000-0000-4000-8000-000000000000", "--service", "member"], {}, 200_000);
  expect(missing.code).toBe(1);
  expect(missing.stderr).toContain("Dead letter 00000000-0000-4000-8000-000000000000 not found");
  expect((await cli(["events", "replay", "00000000-0000-4000-8000-000000000000"])).stderr).toContain("--service");
}, 240_000);

test.skipIf(!process.env.DATABASE_URL)("events dead-letters / replay over the database: listed with its error, replayed into the outbox the running hub's relay delivers", async () => {
  const prisma = hub.db.client();
  const id = crypto.randomUUID();
  await prisma.partnerDeadLetterEvent.create({ data: { id, type: "partner.offer_paused", payload: { offerId: crypto.randomUUID() }, createdAt: new Date(), attempts: 10, lastError: "points: HTTP 502" } });
  const list = await cli(["events", "dead-letters", "--service", "partner", "--json"], { DATABASE_URL: hub.db.url! });
  expect(list.code, list.stderr).toBe(0);
  expect(JSON.parse(list.stdout)).toEqual([expect.objectContaining({ id, service: "partner", type: "partner.offer_paused", attempts: 10, lastError: "points: HTTP 502" })]);
  const replay = await cli(["events", "replay", id, "--service", "partner"], { DATABASE_URL: hub.db.url! });
  expect(replay.code, replay.stderr).toBe(0);
  expect(replay.stdout).toContain(`replayed partner partner.offer_paused ${id}`);
  expect(await prisma.partnerDeadLetterEvent.count({ where: { id } })).toBe(0);
  await hub.flushEvents();
  expect((await prisma.partnerOutboxEvent.findUniqueOrThrow({ where: { id } })).deliveredAt).not.toBeNull();
  expect(await prisma.pointsInboxEvent.count({ where: { eventId: id } })).toBe(1);
});
