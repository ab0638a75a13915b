import { spawn } from "node:child_process";
import { PGlite } from "@electric-sql/pglite";
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, expect, test } from "vitest";
import { freePorts, ROOT } from "../../bench/processes.ts";
import { templateDir } from "../../lib/pglite-prepare.ts";

// The embedded hub's first start on an empty HUB_DATA_DIR, always on PGlite (whatever DATABASE_URL
// says for the other tests): the database is created and migrated on a worker thread in
// `pgdata.preparing` and only then renamed to `pgdata` (lib/pglite-prepare.ts). A start killed with
// SIGKILL while the cluster is being made leaves no half-made `pgdata`, and the next start begins
// again and comes up with the demo. With a template (lib/pglite-prepare.ts: an initdb'd, migrated
// cluster kept per PGlite version and migrations) the cluster is copied instead, the demo still seeded.

const cleanup: (() => void)[] = [];
afterAll(() => {
  for (const f of cleanup.reverse()) f();
});

function start(dataDir: string, port: number, template = "off", logLevel = "warn") {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "scripts/start.ts")], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: "",
      HUB_DATA_DIR: dataDir,
      HUB_PORT: String(port),
      MEMBER_PORT: "",
      POINTS_PORT: "",
      PARTNER_PORT: "",
      HUB_DEMO: "1",
      HUB_DEMO_MEMBERS: "12",
      HUB_LOG_LEVEL: logLevel,
      HUB_PGLITE_TEMPLATE: template,
    },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (err += c));
  const exited = new Promise<void>((r) => child.once("exit", () => r()));
  cleanup.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
  });
  return { child, exited, stderr: () => err };
}

async function until(what: string, ok: () => boolean | Promise<boolean>, ms = 120_000): Promise<void> {
  const end = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

test("kill -9 while the embedded database is being created leaves no half-made database; the next start makes it and comes up", async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "hub-first-start-"));
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const pgdata = path.join(dataDir, "pgdata");
  const [port] = await freePorts(1);

  const first = start(dataDir, port!);
  await until("the cluster being made", () => existsSync(path.join(`${pgdata}.preparing`, "base")) || first.child.exitCode !== null);
  first.child.kill("SIGKILL");
  await first.exited;
  expect(existsSync(pgdata)).toBe(false); // nothing the next start would take for a database

  const second = start(dataDir, port!);
  await ready(second, port!);
  expect(existsSync(path.join(pgdata, "PG_VERSION"))).toBe(true);
  expect(existsSync(`${pgdata}.preparing`)).toBe(false);
  expect(await demoPartners(port!)).toBe(3);
  second.child.kill("SIGTERM");
  await second.exited;
}, 240_000);

async function ready(h: ReturnType<typeof start>, port: number): Promise<void> {
  await until("/readyz 200", async () => {
    if (h.child.exitCode !== null) throw new Error(`the hub exited: ${h.stderr().slice(-2000)}`);
    return (
      (await fetch(`http://127.0.0.1:${port}/readyz`).then(
        (r) => r.status,
        () => 0,
      )) === 200
    );
  });
}

async function demoPartners(port: number): Promise<number | undefined> {
  const token = await fetch(`http://127.0.0.1:${port}/oauth/token`, {
    method: "POST",
    body: new URLSearchParams({ grant_type: "client_credentials", client_id: "demo-admin", client_secret: "demo-admin-secret" }),
  }).then((r) => r.json() as Promise<{ access_token: string }>);
  const res = await fetch(`http://127.0.0.1:${port}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${token.access_token}` },
    body: JSON.stringify({ query: "{ partners { slug } }" }),
  }).then((r) => r.json() as Promise<{ data?: { partners: { slug: string }[] } }>);
  return res.data?.partners.length;
}

test("a first start without a template makes the cluster and keeps it as the template; the next first start copies it and comes up the same", async () => {
  const cache = mkdtempSync(path.join(tmpdir(), "hub-template-"));
  cleanup.push(() => rmSync(cache, { recursive: true, force: true }));
  const template = templateDir(cache)!;
  const [port] = await freePorts(1);
  const made: string[] = [];
  for (const round of [0, 1]) {
    const dataDir = mkdtempSync(path.join(tmpdir(), "hub-first-start-"));
    cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
    const h = start(dataDir, port!, cache, "info");
    await ready(h, port!);
    expect(await demoPartners(port!)).toBe(3); // the demo is seeded either way: never part of the template
    h.child.kill("SIGTERM");
    await h.exited;
    const created = h
      .stderr()
      .split("\n")
      .find((l) => l.includes('"embedded database created"'));
    made.push(JSON.parse(created!).from);
    expect(existsSync(path.join(template, "PG_VERSION"))).toBe(true);
    expect(readdirSync(cache).filter((f) => f !== path.basename(template))).toEqual([]); // no half-made copy left beside it
    if (round === 0) {
      // What a template holds is the migrations' work only: no demo partner, client or member.
      const look = mkdtempSync(path.join(tmpdir(), "hub-template-look-"));
      cleanup.push(() => rmSync(look, { recursive: true, force: true }));
      cpSync(template, look, { recursive: true });
      const pg = await PGlite.create({ dataDir: look });
      const counts = await pg.query<{ partners: number; demo: number; members: number }>(
        `SELECT (SELECT count(*)::int FROM partner."Partner") AS partners, (SELECT count(*)::int FROM partner."ApiClient" WHERE "clientId" LIKE 'demo-%') AS demo,
                (SELECT count(*)::int FROM member."Member") AS members`,
      );
      await pg.close();
      expect(counts.rows[0]).toEqual({ partners: 0, demo: 0, members: 0 });
    }
  }
  expect(made).toEqual(["initdb", "template"]);
}, 240_000);

test("a data directory with files but no database is refused with one line naming it, and nothing in it is touched", async () => {
  const dataDir = mkdtempSync(path.join(tmpdir(), "hub-first-start-"));
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
  const pgdata = path.join(dataDir, "pgdata");
  mkdirSync(pgdata);
  writeFileSync(path.join(pgdata, "notes.txt"), "keep me");
  const [port] = await freePorts(1);
  const h = start(dataDir, port!);
  await h.exited;
  expect(h.child.exitCode).not.toBe(0);
  expect(h.stderr().trim().split("\n")).toEqual([expect.stringMatching(/^Coalition Hub cannot start: .*pgdata holds files but no database/)]);
  expect(existsSync(path.join(pgdata, "notes.txt"))).toBe(true);
}, 120_000);
