import { type ChildProcess, spawn } from "node:child_process";
import { createHmac, randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { run } from "../../examples/partner-app/src/main.ts";
import { WebhookReceiver } from "../../examples/partner-app/src/webhooks.ts";
import type { Database } from "../../lib/db.ts";
import { freshDatabase } from "../support/db.ts";

// The example partner integration (issue 17 §7) against a hub started exactly as `npm start`
// starts it (scripts/start.ts in a child process: demo coalition seeded, credentials printed), on a
// fresh PostgreSQL database when DATABASE_URL is set (HUB_DEMO=1), else on the embedded PGlite in
// a temporary directory. The app gets its token, awards by its own references (idempotently),
// receives the hub's real webhook deliveries and verifies them with the standardwebhooks package,
// and reconciles the day.
const ROOT = path.resolve(import.meta.dirname, "../..");
let hubProcess: ChildProcess | null = null;
let db: Database | null = null;
let dataDir = "";
let baseUrl = "";
let client = { id: "", secret: "" };
let output = "";

beforeAll(async () => {
  dataDir = mkdtempSync(path.join(tmpdir(), "example-app-hub-"));
  const env: NodeJS.ProcessEnv = { ...process.env, HUB_DATA_DIR: dataDir, HUB_PORT: "0", MEMBER_PORT: "0", POINTS_PORT: "0", PARTNER_PORT: "0", HUB_DEMO: "1", NODE_ENV: "development" };
  delete env.HUB_TEST_TEMPLATE;
  if (process.env.DATABASE_URL) {
    db = await freshDatabase();
    env.DATABASE_URL = db.url;
  } else delete env.DATABASE_URL;
  hubProcess = spawn(path.join(ROOT, "node_modules/.bin/tsx"), ["scripts/start.ts"], { cwd: ROOT, env, stdio: ["ignore", "pipe", "pipe"] });
  hubProcess.stderr!.on("data", () => undefined);
  await new Promise<void>((resolve, reject) => {
    hubProcess!.on("exit", (code) => reject(new Error(`npm start exited with ${code}: ${output.slice(-2000)}`)));
    hubProcess!.stdout!.on("data", (c: Buffer) => {
      output += c.toString("utf8");
      // The banner ends with the sample query; the URLs and the demo clients are printed before it.
      if (/Coalition Hub is up/.test(output) && /demo clients: ([^)]*)\)/.test(output) && /GraphQL \(GraphiQL in a browser\):\s+(\S+)/.test(output)) resolve();
    });
  });
  baseUrl = new URL(output.match(/GraphQL \(GraphiQL in a browser\):\s+(\S+)/)![1]!).origin;
  // "Tokens (demo clients: demo-admin, demo-shopmall, …; secret = id + "-secret")": the shop's client.
  const clients = output
    .match(/demo clients: ([^;]*);/)![1]!
    .split(",")
    .map((s) => s.trim());
  const id = clients.find((c) => c.endsWith("shopmall"))!;
  client = { id, secret: `${id}-secret` };
}, 900_000);

afterAll(async () => {
  if (hubProcess?.pid && hubProcess.exitCode === null) {
    const exited = new Promise((r) => hubProcess!.once("exit", r));
    process.kill(hubProcess.pid, "SIGTERM");
    await exited;
  }
  await db?.close();
  rmSync(dataDir, { recursive: true, force: true });
}, 60_000);

describe("examples/partner-app against npm start's hub", () => {
  test("token, idempotent awards by reference, real signed webhooks verified by standardwebhooks, the day reconciled", async () => {
    // A member the app's partner enrols just now (its reference is ours), and the demo's member 0001.
    const token = (
      (await (await fetch(`${baseUrl}/oauth/token`, { method: "POST", body: new URLSearchParams({ grant_type: "client_credentials", client_id: client.id, client_secret: client.secret }) })).json()) as {
        access_token: string;
      }
    ).access_token;
    const ref = `EX-${randomUUID().slice(0, 8)}`;
    const enrolled = await fetch(`${baseUrl}/graphql`, {
      method: "POST",
      headers: { "content-type": "application/json", authorization: `Bearer ${token}` },
      body: JSON.stringify({ query: "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", variables: { i: { email: `${ref.toLowerCase()}@example.com`, externalRef: ref } } }),
    });
    expect(((await enrolled.json()) as { data: { enrollMember: { id: string } } }).data.enrollMember.id).toBeTruthy();

    const report = await run({ baseUrl, clientId: client.id, clientSecret: client.secret, memberRefs: ["SM-0001", ref], webhookTimeoutMs: 60_000 });
    expect(report.partner.slug).toBe("shopmall");
    expect(report.awards).toHaveLength(2);
    expect(report.idempotent).toBe(true);
    expect(report.unknownRefCode).toBe("NOT_FOUND");
    // Real deliveries from the hub's outbox, each verified by the standardwebhooks package.
    expect(report.webhooks.allArrived).toBe(true);
    expect(report.webhooks.rejected).toBe(0);
    const earned = report.webhooks.received.filter((e) => e.data.partnerRef === ref || e.data.partnerRef === "SM-0001");
    expect(earned.length).toBeGreaterThanOrEqual(2);
    for (const e of earned) expect(e.partnerId).toBe(report.partner.id);
    // Reconciliation: our two awards found with the same points and reference, list = export, totals consistent.
    expect(report.reconciliation.matched).toBe(2);
    expect(report.reconciliation.mismatched).toEqual([]);
    expect(report.reconciliation.exported).toBe(report.reconciliation.listed);
    expect(report.reconciliation.exportMatchesTotals).toBe(true);
    expect(BigInt(report.reconciliation.hubTotals.pointsIssued)).toBeGreaterThanOrEqual(30n);
  }, 300_000);

  test("the receiver accepts a request signed by the spec (HMAC-SHA256 of id.timestamp.body) and refuses a forged or replayed-old one", async () => {
    const receiver = new WebhookReceiver();
    const url = await receiver.listen();
    const key = randomBytes(32);
    receiver.useSecret(`whsec_${key.toString("base64")}`);
    const send = (id: string, ts: number, body: string, k = key, signed = body) =>
      fetch(url, {
        method: "POST",
        headers: { "content-type": "application/json", "webhook-id": id, "webhook-timestamp": String(ts), "webhook-signature": `v1,${createHmac("sha256", k).update(`${id}.${ts}.${signed}`).digest("base64")}` },
        body,
      });
    const body = JSON.stringify({ id: "evt_1", type: "points.earned", occurredAt: new Date().toISOString(), partnerId: randomUUID(), data: { partnerRef: "SM-0001" } });
    const now = Math.floor(Date.now() / 1000);
    expect((await send("evt_1", now, body)).status).toBe(204);
    expect((await send("evt_1", now, body)).status).toBe(204); // at least once: a duplicate is acknowledged, kept once
    expect((await send("evt_2", now, body, randomBytes(32))).status).toBe(401);
    expect((await send("evt_3", now, body.replace("SM-0001", "SM-0002"), key, body)).status).toBe(401); // body altered after signing
    expect((await send("evt_4", now - 3600, body)).status).toBe(401);
    expect(receiver.events.size).toBe(1);
    expect(receiver.duplicates).toBe(1);
    expect(receiver.rejected).toBe(3);
    await receiver.close();
  });
});
