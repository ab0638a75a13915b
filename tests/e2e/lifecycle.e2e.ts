import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { freePorts, ROOT } from "../../bench/processes.ts";
import { type Database, openDatabase } from "../../lib/db.ts";
import { freshDatabase, onPostgres } from "../support/db.ts";
import { connect, type RawAnswer, request } from "../support/raw-http.ts";

// Graceful lifecycle of `npm start` (issue 18 §5), on the real entry point in its own process:
// a port clash is one line; /readyz is 503 until migrations and the demo seed are done; two hubs
// side by side start (the subgraphs take ports the OS assigns); SIGTERM during 100 requests in
// flight: each completes or gets a clean 503, none is cut, a request arriving after the signal (on
// a kept-alive connection or a new one) gets a whole 503 SHUTTING_DOWN, and no event is lost (after a restart
// every outbox row is delivered, each into its consumer's inbox).
// On PostgreSQL (DATABASE_URL) each hub gets a fresh clone; on PGlite a data dir loaded from the
// migrated template (a fresh initdb would only add minutes).

interface Spawned {
  child: ChildProcess;
  base: string;
  stderr: () => string;
  exited: Promise<number | null>;
}

const cleanup: (() => Promise<void> | void)[] = [];
afterAll(async () => {
  for (const f of cleanup.reverse()) await f();
});

/** A hub's database: the URL of a fresh PostgreSQL clone, or a PGlite data dir holding the migrated template. */
async function hubDatabase(): Promise<{ env: NodeJS.ProcessEnv; dataDir: string; open: () => Promise<Database> }> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "hub-lifecycle-"));
  cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
  if (onPostgres()) {
    // freshDatabase's close() drops the clone: only at the end, once the hubs on it have stopped.
    const db = await freshDatabase();
    const url = db.url!;
    cleanup.push(() => db.close());
    return { env: { DATABASE_URL: url, HUB_DATA_DIR: dataDir }, dataDir, open: () => openDatabase({ url }) };
  }
  const pgdata = path.join(dataDir, "pgdata");
  const dump = readFileSync(`/tmp/coalition-hub-pglite-template-${process.env.HUB_TEST_TEMPLATE}.tar.gz`);
  const db = await openDatabase({ dataDir: pgdata, loadDataDir: new Blob([dump]) });
  await db.close();
  return { env: { DATABASE_URL: "", HUB_DATA_DIR: dataDir }, dataDir, open: () => openDatabase({ dataDir: pgdata }) };
}

function spawnHub(env: NodeJS.ProcessEnv, port: number): Spawned {
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "scripts/start.ts")], {
    cwd: ROOT,
    env: { ...process.env, HUB_LOG_LEVEL: "warn", HUB_PORT: String(port), MEMBER_PORT: "", POINTS_PORT: "", PARTNER_PORT: "", ...env },
    stdio: ["ignore", "ignore", "pipe"],
  });
  let err = "";
  child.stderr!.setEncoding("utf8").on("data", (c: string) => (err += c));
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));
  cleanup.push(async () => {
    if (child.exitCode === null && child.signalCode === null) {
      child.kill("SIGKILL");
      await exited;
    }
  });
  return { child, base: `http://127.0.0.1:${port}`, stderr: () => err, exited };
}

/** Polls /readyz until 200; returns every status body seen before. */
async function untilReady(h: Spawned): Promise<{ status: number; body: Record<string, unknown> }[]> {
  const seen: { status: number; body: Record<string, unknown> }[] = [];
  for (;;) {
    if (h.child.exitCode !== null) throw new Error(`hub exited with ${h.child.exitCode}: ${h.stderr().slice(-2000)}`);
    const r = await fetch(`${h.base}/readyz`).then(
      async (res) => ({ status: res.status, body: (await res.json()) as Record<string, unknown> }),
      () => null,
    );
    if (r?.status === 200) return seen;
    if (r) seen.push(r);
    await new Promise((res) => setTimeout(res, 25));
  }
}

async function demoAdminToken(base: string): Promise<string> {
  const res = await fetch(`${base}/oauth/token`, { method: "POST", body: new URLSearchParams({ grant_type: "client_credentials", client_id: "demo-admin", client_secret: "demo-admin-secret" }) });
  const body = (await res.json()) as { access_token?: string };
  if (!body.access_token) throw new Error(`demo-admin token refused: ${JSON.stringify(body)}`);
  return body.access_token;
}

const gql = async (base: string, token: string, query: string, variables: Record<string, unknown> = {}) => {
  const res = await fetch(`${base}/graphql`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
  return { status: res.status, body: (await res.json()) as { data?: Record<string, any>; errors?: { extensions?: Record<string, unknown> }[] } };
};

describe("npm start", () => {
  test("a taken HUB_PORT is one line naming the port and the setting, exit code 1, no stack trace", async () => {
    const holder = createServer();
    await new Promise<void>((r) => holder.listen(0, "127.0.0.1", r));
    const port = (holder.address() as { port: number }).port;
    try {
      const dataDir = mkdtempSync(path.join(tmpdir(), "hub-clash-"));
      cleanup.push(() => rmSync(dataDir, { recursive: true, force: true }));
      const h = spawnHub({ HUB_DATA_DIR: dataDir, DATABASE_URL: "" }, port);
      expect(await h.exited).toBe(1);
      const lines = h.stderr().trim().split("\n");
      expect(lines).toHaveLength(1);
      expect(lines[0]).toContain(`Port ${port}`);
      expect(lines[0]).toContain("HUB_PORT");
      expect(h.stderr()).not.toMatch(/\n\s+at /);
    } finally {
      await new Promise((r) => holder.close(r));
    }
  }, 300_000);

  describe("a hub with the demo", () => {
    let hub: Spawned;
    let db: Awaited<ReturnType<typeof hubDatabase>>;
    let port: number;
    let beforeReady: { status: number; body: Record<string, unknown> }[];

    beforeAll(async () => {
      db = await hubDatabase();
      [port] = (await freePorts(1)) as [number];
      hub = spawnHub({ ...db.env, HUB_DEMO: "1", HUB_DEMO_MEMBERS: "12", HUB_DRAIN_TIMEOUT_MS: "60000" }, port);
      beforeReady = await untilReady(hub);
    }, 900_000);

    test("/readyz is 503 (naming the step) while the demo is seeded, and 200 only once it can be used", async () => {
      expect(beforeReady.length).toBeGreaterThan(0);
      expect(beforeReady.every((r) => r.status === 503)).toBe(true);
      expect(beforeReady.some((r) => String(r.body.step).startsWith("seed"))).toBe(true);
      // At the first 200 the demo is there: its admin client works and sees the three partners.
      const { body } = await gql(hub.base, await demoAdminToken(hub.base), "{ partners { slug } }");
      expect(body.data?.partners.map((p: { slug: string }) => p.slug).sort()).toEqual(["freshco", "grandstay", "shopmall"]);
      const ready = (await (await fetch(`${hub.base}/readyz`)).json()) as Record<string, unknown>;
      expect(ready).toMatchObject({ status: "ready", database: { member: "ok", points: "ok", partner: "ok" } });
      expect(ready.redis).toBeDefined();
    });

    test("a second hub beside it (another HUB_PORT, subgraphs on OS-assigned ports) starts too", async () => {
      const other = await hubDatabase();
      const [otherPort] = (await freePorts(1)) as [number];
      const second = spawnHub({ ...other.env, HUB_DEMO: "0" }, otherPort);
      await untilReady(second);
      expect((await fetch(`${second.base}/readyz`)).status).toBe(200);
      expect((await fetch(`${hub.base}/readyz`)).status).toBe(200);
      second.child.kill("SIGTERM");
      expect(await second.exited).toBe(0);
    }, 600_000);

    test("SIGTERM during 100 requests in flight: each completes or gets a clean 503; a late request (kept-alive or new connection) gets a whole 503 SHUTTING_DOWN; none is cut; no event lost", async () => {
      const token = await demoAdminToken(hub.base);
      const register = (name: string) =>
        JSON.stringify({
          query: "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }",
          variables: { i: { name, category: "RETAIL", issuePrice: "0.01", redemptionRate: "0.01" } },
        });
      const auth = { authorization: `Bearer ${token}` };
      // A kept-alive connection that has served a request, idle when the signal comes.
      const keptAlive = await connect(port);
      cleanup.push(() => void keptAlive.destroy());
      expect((await request(keptAlive, JSON.stringify({ query: "{ partners { id } }" }), auth)).status).toBe(200);
      let late: Promise<{ keptAlive: RawAnswer; fresh: RawAnswer }> | undefined;
      /** Once the hub drains (its /readyz says so): a request on the idle kept-alive connection and one on a new connection. */
      const lateRequests = async () => {
        for (;;) {
          const probe = await connect(port);
          const r = await request(probe, "", {}, "GET /readyz").finally(() => probe.destroy());
          if (r.status === 503) break;
        }
        const fresh = await connect(port);
        cleanup.push(() => void fresh.destroy());
        const [a, b] = await Promise.all([request(keptAlive, register("Late kept-alive"), auth), request(fresh, register("Late new connection"), auth)]);
        return { keptAlive: a, fresh: b };
      };
      let signalled = false;
      const outcomes = await new Promise<{ status: number; ok: boolean; afterSignal: boolean; code?: unknown; id?: string }[]>((resolve) => {
        const all = Array.from({ length: 100 }, (_, i) =>
          fetch(`${hub.base}/graphql`, {
            method: "POST",
            headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
            body: JSON.stringify({
              query: "mutation($i: RegisterPartnerInput!) { registerPartner(input: $i) { id } }",
              variables: { i: { name: `Drain ${i}`, category: "RETAIL", issuePrice: "0.01", redemptionRate: "0.01" } },
            }),
          }).then(
            async (res) => {
              // The whole body arrives and parses: nothing was cut mid-response.
              const text = await res.text();
              const body = JSON.parse(text) as { data?: { registerPartner?: { id: string } }; errors?: { extensions?: { code?: string } }[] };
              const afterSignal = signalled;
              if (!signalled) {
                // The first answer: the other requests are still in flight (PGlite/PostgreSQL work through them).
                signalled = true;
                hub.child.kill("SIGTERM");
                late = lateRequests();
              }
              return { status: res.status, ok: true, afterSignal, code: body.errors?.[0]?.extensions?.code, id: body.data?.registerPartner?.id };
            },
            (e: unknown) => ({
              status: 0,
              ok: false,
              afterSignal: signalled,
              code: `${String(e)}: ${(e as { cause?: { code?: string; message?: string } }).cause?.code ?? (e as { cause?: { message?: string } }).cause?.message}`,
            }),
          ),
        );
        void Promise.all(all).then(resolve);
      });
      expect(outcomes.filter((o) => !o.ok)).toEqual([]);
      for (const o of outcomes) {
        if (o.status === 200) expect(o.id).toMatch(/^[0-9a-f-]{36}$/);
        else expect(o).toMatchObject({ status: 503, code: "SHUTTING_DOWN" });
      }
      // The late requests: refused whole, before anything of them ran, and told to close the connection.
      const lateAnswers = await late!;
      for (const answer of [lateAnswers.keptAlive, lateAnswers.fresh]) {
        expect(answer).toMatchObject({ status: 503, headers: expect.objectContaining({ connection: "close", "retry-after": "1" }) });
        expect(JSON.parse(answer.body)).toEqual({ errors: [{ message: expect.any(String), extensions: { code: "SHUTTING_DOWN", retryAfterSeconds: 1 } }] });
      }
      const done = outcomes.filter((o) => o.status === 200);
      // Requests accepted before the signal finished after it (drained, not cut).
      expect(done.filter((o) => o.afterSignal).length).toBeGreaterThan(0);
      expect(await hub.exited).toBe(0);

      // Restart on the same database: every accepted request's partner is there, every event delivered.
      const again = spawnHub({ ...db.env, HUB_DEMO: "1", HUB_DEMO_MEMBERS: "12" }, port);
      await untilReady(again);
      const { body } = await gql(again.base, await demoAdminToken(again.base), "{ partners { id } }");
      const ids = new Set(body.data?.partners.map((p: { id: string }) => p.id));
      for (const o of done) expect(ids.has(o.id)).toBe(true);
      again.child.kill("SIGTERM");
      expect(await again.exited).toBe(0);
      const check = await db.open();
      try {
        const c = check.client();
        const [{ undelivered }] = await c.$queryRawUnsafe<{ undelivered: number }[]>(
          `SELECT ((SELECT count(*) FROM partner."OutboxEvent" WHERE "deliveredAt" IS NULL) + (SELECT count(*) FROM points."OutboxEvent" WHERE "deliveredAt" IS NULL) + (SELECT count(*) FROM member."OutboxEvent" WHERE "deliveredAt" IS NULL))::int AS undelivered`,
        );
        expect(undelivered).toBe(0);
        // Each accepted registration's partner.registered event reached the points subgraph's inbox.
        const [{ missing }] = await c.$queryRawUnsafe<{ missing: number }[]>(
          `SELECT count(*)::int AS missing FROM partner."OutboxEvent" o WHERE o.type = 'partner.registered' AND NOT EXISTS (SELECT 1 FROM points."InboxEvent" i WHERE i."eventId" = o.id)`,
        );
        expect(missing).toBe(0);
        const [{ registered }] = await c.$queryRawUnsafe<{ registered: number }[]>(`SELECT count(*)::int AS registered FROM partner."Partner" WHERE name LIKE 'Drain %'`);
        expect(registered).toBe(done.length);
        const [{ lateRan }] = await c.$queryRawUnsafe<{ lateRan: number }[]>(`SELECT count(*)::int AS "lateRan" FROM partner."Partner" WHERE name LIKE 'Late %'`);
        expect(lateRan).toBe(0);
      } finally {
        await check.close();
      }
    }, 900_000);
  });
});
