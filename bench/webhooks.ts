// `npm run bench:webhooks`: webhook delivery (issue 17 §1, Measure) on the local PostgreSQL
// (DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/postgres), a scratch database created
// and dropped here, the whole hub in this process (gateway, subgraphs, relays, the dispatcher) and a
// local receiver (node:http, answers 204 at once) on 127.0.0.1 (allow-listed for the bench).
//  1. throughput: BENCH_WEBHOOK_ENDPOINTS (100) endpoints = 10 partners × 10, each subscribed to
//     POINTS_EARNED; each partner awards BENCH_WEBHOOK_EARNS (300) earns in one awardPointsBatch through
//     the gateway → 10 deliveries per earn; deliveries per second from the first to the last arrival;
//  2. the earn path while deliveries run: single awardPoints through the gateway (BENCH_CLIENTS, 4,
//     at once) in alternating windows (BENCH_WEBHOOK_BACKLOG, 20, earns per partner awarded before each) (BENCH_ROUNDS, 4, of BENCH_SECONDS/rounds each): endpoints
//     PAUSED (deliveries still recorded by the consumer, none sent) vs ACTIVE with a backlog being
//     sent; p50/p99 of each, and the added p99.
// Figures are printed; say the load average (`uptime`) beside them.
import { randomBytes } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { adminSql } from "./processes.ts";
import { migrate, openDatabase } from "../lib/db.ts";
import type { Principal } from "../lib/principal.ts";
import { startHub } from "../scripts/hub.ts";
import { enrollMembers } from "../subgraphs/member/src/services/members.ts";
import { prisma as partnerPrisma } from "../subgraphs/partner/src/db.ts";
import { createApiClientWithSecret } from "../subgraphs/partner/src/services/api-clients.ts";
import { registerPartner } from "../subgraphs/partner/src/services/partners.ts";
import { createWebhookEndpoint } from "../subgraphs/partner/src/webhooks/endpoints.ts";

process.env.HUB_WEBHOOK_ALLOWED_HOSTS = "127.0.0.1";
const BASE = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const ENDPOINTS = Number(process.env.BENCH_WEBHOOK_ENDPOINTS ?? 100);
const EARNS = Number(process.env.BENCH_WEBHOOK_EARNS ?? 300);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 4);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4);
/** Earns per partner awarded before each window (× 10 endpoints = the deliveries that window may send). */
const BACKLOG = Number(process.env.BENCH_WEBHOOK_BACKLOG ?? 20);
const PARTNERS = 10;
const PER_PARTNER = Math.ceil(ENDPOINTS / PARTNERS);

const admin = (sql: string) => adminSql(sql, BASE);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

async function main() {
  let received = 0;
  let firstAt = 0;
  let lastAt = 0;
  const receiver = createServer((req, res) => {
    req.resume();
    req.on("end", () => {
      received++;
      lastAt = performance.now();
      if (!firstAt) firstAt = lastAt;
      res.statusCode = 204;
      res.end();
    });
  });
  receiver.keepAliveTimeout = 30_000;
  await new Promise<void>((r) => receiver.listen(0, "127.0.0.1", r));
  const target = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}`;

  const name = `bench_webhooks_${process.pid}_${Date.now()}`;
  const u = new URL(BASE);
  u.pathname = `/${name}`;
  await admin(`CREATE DATABASE "${name}"`);
  const dataDir = mkdtempSync(path.join(tmpdir(), "bench-webhooks-"));
  const db = await openDatabase({ url: u.toString(), poolSize: 24 });
  let hub: Awaited<ReturnType<typeof startHub>> | undefined;
  try {
    await migrate(db);
    hub = await startHub({ db, internalSecret: randomBytes(32).toString("hex"), dataDir, jobs: false, webhooks: { settings: { pollMs: 200 } } });
    const adminActor: Principal = { sub: "bench-admin", role: "ADMIN", partnerId: null, memberId: null, scope: "", purpose: null };
    const partners: { id: string; token: string; members: string[]; endpoints: string[] }[] = [];
    for (let p = 0; p < PARTNERS; p++) {
      const partner = await registerPartner(adminActor, { name: `Webhook Bench ${p}`, category: "ECOMMERCE", issuePrice: "0.015", redemptionRate: "0.01", earnRate: "1" });
      const actor: Principal = { sub: `bench-wh-${p}`, role: "PARTNER", partnerId: partner.id, memberId: null, scope: "", purpose: "ACCOUNT_SERVICING", authority: "CLIENT" };
      const rows = await enrollMembers(
        actor,
        Array.from({ length: 50 }, (_, i) => ({ email: `wh-bench-${p}-${i}@example.com`, externalRef: `W-${p}-${i}` })),
      );
      const members = rows.flatMap((r) => ("member" in r ? [r.member.id] : []));
      const endpoints: string[] = [];
      for (let e = 0; e < PER_PARTNER; e++) endpoints.push((await createWebhookEndpoint(actor, { url: `${target}/p${p}/e${e}`, eventTypes: ["POINTS_EARNED"] })).endpoint.id);
      const secret = randomBytes(24).toString("hex");
      await createApiClientWithSecret({ clientId: `bench-wh-${p}`, secret, role: "PARTNER", partnerId: partner.id });
      const tokenRes = await fetch(`${hub.baseUrl}/oauth/token`, { method: "POST", body: new URLSearchParams({ grant_type: "client_credentials", client_id: `bench-wh-${p}`, client_secret: secret }) });
      partners.push({ id: partner.id, token: ((await tokenRes.json()) as { access_token: string }).access_token, members, endpoints });
    }
    await hub.flushEvents();
    // Link events (member.linked) do not go to these endpoints (POINTS_EARNED only).
    const gql = async (token: string, query: string, variables: Record<string, unknown>) => {
      const res = await fetch(hub!.gatewayUrl, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as { data?: Record<string, unknown>; errors?: { message: string }[] };
      if (body.errors?.length) throw new Error(`gateway: ${body.errors[0]!.message}`);
      return body.data!;
    };
    const BATCH = `mutation Bulk($inputs: [AwardPointsInput!]!) { awardPointsBatch(inputs: $inputs) { accepted } }`;
    const AWARD = `mutation Earn($input: AwardPointsInput!) { awardPoints(input: $input) { id } }`;
    let key = 0;
    const bulk = (p: (typeof partners)[number], n: number) =>
      gql(p.token, BATCH, { inputs: Array.from({ length: n }, (_, i) => ({ memberId: p.members[i % p.members.length], points: 1, idempotencyKey: `bulk-${key++}` })) });

    // 1. Throughput.
    const expected = PARTNERS * EARNS * PER_PARTNER;
    const t0 = performance.now();
    await Promise.all(partners.map((p) => bulk(p, EARNS)));
    const enqueuedMs = performance.now() - t0;
    while (received < expected) {
      await new Promise((r) => setTimeout(r, 50));
      if (performance.now() - t0 > 600_000) throw new Error(`only ${received} of ${expected} deliveries in 10 minutes`);
    }
    const perSecond = expected / ((lastAt - firstAt) / 1000);
    console.log(
      `throughput: ${expected} deliveries to ${PARTNERS * PER_PARTNER} endpoints: ${perSecond.toFixed(0)} deliveries/s (first to last arrival ${((lastAt - firstAt) / 1000).toFixed(1)} s; earns committed in ${(enqueuedMs / 1000).toFixed(1)} s) — load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}`,
    );

    // 2. Single earns: endpoints paused vs active with a backlog being sent, alternating.
    const setPaused = (paused: boolean) => partnerPrisma().webhookEndpoint.updateMany({ data: { status: paused ? "PAUSED" : "ACTIVE" } });
    const lat: Record<"paused" | "sending", number[]> = { paused: [], sending: [] };
    const sentDuring: number[] = [];
    const windowMs = (SECONDS * 1000) / (ROUNDS * 2);
    for (let r = 0; r < ROUNDS; r++) {
      for (const mode of r % 2 === 0 ? (["paused", "sending"] as const) : (["sending", "paused"] as const)) {
        await setPaused(mode === "paused");
        // A backlog for the window (recorded in both modes; sent only when active).
        await Promise.all(partners.map((p) => bulk(p, BACKLOG)));
        await hub.flushEvents();
        const before = received;
        const end = performance.now() + windowMs;
        await Promise.all(
          Array.from({ length: CLIENTS }, async (_, c) => {
            const p = partners[c % partners.length]!;
            let i = 0;
            while (performance.now() < end) {
              const s = performance.now();
              await gql(p.token, AWARD, { input: { memberId: p.members[(c * 7 + i++) % p.members.length], points: 1, idempotencyKey: `single-${key++}` } });
              lat[mode].push(performance.now() - s);
            }
          }),
        );
        if (mode === "sending") sentDuring.push(received - before);
      }
    }
    const f = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms (${xs.length} earns)`;
    const added = (pct(lat.sending, 99) / pct(lat.paused, 99) - 1) * 100;
    console.log(`single earns, endpoints paused: ${f(lat.paused)}`);
    console.log(`single earns, deliveries running (${sentDuring.join("/")} sent per window): ${f(lat.sending)}`);
    console.log(
      `added p99 while deliveries run: ${added.toFixed(1)} % (goal < 10 %) — load ${loadavg()
        .map((l) => l.toFixed(2))
        .join(" ")}`,
    );
    await setPaused(true);
  } finally {
    await hub?.close();
    await db.close();
    receiver.closeAllConnections();
    receiver.close();
    await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
