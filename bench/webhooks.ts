// `npm run bench:webhooks`: webhook delivery (issue 17 §1, Measure) on the local PostgreSQL
// (DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/postgres), a scratch database created
// and dropped here. The arrangement is docker-compose's: gateway, member, points and partner (with
// its relay and the webhook dispatcher) each in its own process (bench/processes.ts); the receiver
// is another process (bench/webhook-receiver.cjs, node:http, answers 204 at once, on 127.0.0.1,
// allow-listed for the bench); this process only writes the setup data and generates the load.
//  1. throughput: BENCH_WEBHOOK_ENDPOINTS (100) endpoints = 10 partners × 10, each subscribed to
//     POINTS_EARNED; each partner awards BENCH_WEBHOOK_EARNS (300) earns in one awardPointsBatch through
//     the gateway → 10 deliveries per earn; deliveries per second from the first to the last arrival,
//     first unpaced (the partner process with HUB_WEBHOOK_RATE=0: what a dispatcher can do), then
//     paced as configured (HUB_WEBHOOK_RATE from this environment, else the hub's default), with a
//     fifth of those earns;
//  2. the earn path with and without deliveries, alternating arms in one run (BENCH_ROUNDS, 6, rounds
//     of two windows, BENCH_SECONDS/(2·rounds) each, the arms' order swapped every round): single
//     awardPoints through the gateway (BENCH_CLIENTS, 4, at once); before each window every partner
//     awards BENCH_WEBHOOK_BACKLOG (20) earns (recorded as deliveries in both arms); endpoints PAUSED
//     (the "off" arm: nothing sent) or ACTIVE (the "on" arm: that backlog is being sent). p50/p99 of
//     each arm and the added p99, with the dispatcher paced as configured.
// Figures are printed with the load average (`uptime`) beside them.
import { fork } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { loadEnv } from "../lib/config.ts";
import { internalKey } from "../lib/internal-auth.ts";
import { migrate, openDatabase } from "../lib/db.ts";
import type { Principal } from "../lib/principal.ts";
import { enrollMembers } from "../subgraphs/member/src/services/members.ts";
import { usePrisma as useMemberPrisma } from "../subgraphs/member/src/db.ts";
import { usePrisma as usePartnerPrisma } from "../subgraphs/partner/src/db.ts";
import { createApiClientWithSecret } from "../subgraphs/partner/src/services/api-clients.ts";
import { registerPartner } from "../subgraphs/partner/src/services/partners.ts";
import { createWebhookEndpoint } from "../subgraphs/partner/src/webhooks/endpoints.ts";
import { useWebhookSecretKey } from "../subgraphs/partner/src/webhooks/secrets.ts";
import { adminSql, ROOT, startServices } from "./processes.ts";

process.env.HUB_WEBHOOK_ALLOWED_HOSTS = "127.0.0.1";
const BASE = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const ENDPOINTS = Number(process.env.BENCH_WEBHOOK_ENDPOINTS ?? 100);
const EARNS = Number(process.env.BENCH_WEBHOOK_EARNS ?? 300);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 24);
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 6);
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 4);
/** Earns per partner awarded before each window (× 10 endpoints = the deliveries that window may send). */
const BACKLOG = Number(process.env.BENCH_WEBHOOK_BACKLOG ?? 20);
const PARTNERS = 10;
const PER_PARTNER = Math.ceil(ENDPOINTS / PARTNERS);
/** The dispatcher's pace in phase 2 and in the paced throughput run (deliveries per second per process; 0 = none). */
const RATE = loadEnv(process.env).HUB_WEBHOOK_RATE;

const admin = (sql: string) => adminSql(sql, BASE);

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? NaN;
};

/** CPU time (user + system) of a process so far, in milliseconds (/proc/<pid>/stat, clock ticks of 10 ms); 0 when it is gone. */
function cpuMs(pid: number | undefined): number {
  if (!pid) return 0;
  try {
    const f = readFileSync(`/proc/${pid}/stat`, "utf8").split(") ")[1]!.split(" ");
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
}

/** The receiver process: its URL, and its count of arrivals with the first and last arrival (epoch ms). */
async function startReceiver() {
  const child = fork(path.join(ROOT, "bench/webhook-receiver.cjs"), [], { stdio: ["ignore", "ignore", "inherit", "ipc"] });
  const url = await new Promise<string>((resolve, reject) => {
    child.once("exit", (code) => reject(new Error(`receiver exited with ${code}`)));
    child.on("message", (m: { ready?: string }) => m.ready && resolve(m.ready));
  });
  const count = () =>
    new Promise<{ received: number; firstAt: number; lastAt: number }>((resolve) => {
      const on = (m: { count?: { received: number; firstAt: number; lastAt: number } }) => {
        if (!m.count) return;
        child.off("message", on);
        resolve(m.count);
      };
      child.on("message", on);
      child.send("count");
    });
  const stop = async () => {
    if (child.exitCode !== null) return;
    const exited = new Promise((r) => child.once("exit", r));
    child.send("stop");
    await exited;
  };
  /** The next arrival is a new run's first (firstAt). */
  const mark = () => child.send("mark");
  return { url, count, stop, mark };
}

async function main() {
  const receiver = await startReceiver();
  const target = receiver.url;
  const name = `bench_webhooks_${process.pid}_${Date.now()}`;
  const u = new URL(BASE);
  u.pathname = `/${name}`;
  await admin(`CREATE DATABASE "${name}"`);
  const dataDir = mkdtempSync(path.join(tmpdir(), "bench-webhooks-"));
  const db = await openDatabase({ url: u.toString(), poolSize: 8 });
  let services: Awaited<ReturnType<typeof startServices>> | undefined;
  try {
    await migrate(db);
    const secretHex = randomBytes(32).toString("hex");
    process.env.HUB_WEBHOOK_RATE = "0"; // phase 1's first run: unpaced
    services = await startServices({ services: ["member", "points", "partner", "gateway"], databaseUrl: u.toString(), internalSecret: secretHex, dataDir });
    const baseUrl = `http://127.0.0.1:${services.ports.gateway}`;
    const gatewayUrl = `${baseUrl}/graphql`;
    // This process writes the setup data through the domain functions (endpoints' secrets encrypted
    // under the same internal key as the partner process's).
    const client = db.client();
    useMemberPrisma(client);
    usePartnerPrisma(client);
    useWebhookSecretKey(internalKey(secretHex));
    /** Until the relays have delivered every member and partner event (links reach points and partner). */
    const flushEvents = async () => {
      for (let i = 0; i < 600; i++) {
        const [pending] = await client.$queryRaw<{ n: number }[]>`
          SELECT (SELECT count(*) FROM "member"."OutboxEvent" WHERE "deliveredAt" IS NULL) + (SELECT count(*) FROM "partner"."OutboxEvent" WHERE "deliveredAt" IS NULL)
               + (SELECT count(*) FROM "points"."OutboxEvent" WHERE "deliveredAt" IS NULL) AS n`;
        if (Number(pending!.n) === 0) return;
        await new Promise((r) => setTimeout(r, 100));
      }
      throw new Error("events were not delivered within 60 s");
    };
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
      const tokenRes = await fetch(`${baseUrl}/oauth/token`, { method: "POST", body: new URLSearchParams({ grant_type: "client_credentials", client_id: `bench-wh-${p}`, client_secret: secret }) });
      partners.push({ id: partner.id, token: ((await tokenRes.json()) as { access_token: string }).access_token, members, endpoints });
    }
    await flushEvents();
    // Link events (member.linked) do not go to these endpoints (POINTS_EARNED only).
    const gql = async (token: string, query: string, variables: Record<string, unknown>) => {
      const res = await fetch(gatewayUrl, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
      const body = (await res.json()) as { data?: Record<string, unknown>; errors?: { message: string }[] };
      if (body.errors?.length) throw new Error(`gateway: ${body.errors[0]!.message}`);
      return body.data!;
    };
    const BATCH = `mutation Bulk($inputs: [AwardPointsInput!]!) { awardPointsBatch(inputs: $inputs) { accepted } }`;
    const AWARD = `mutation Earn($input: AwardPointsInput!) { awardPoints(input: $input) { id } }`;
    let key = 0;
    const bulk = (p: (typeof partners)[number], n: number) =>
      gql(p.token, BATCH, { inputs: Array.from({ length: n }, (_, i) => ({ memberId: p.members[i % p.members.length], points: 1, idempotencyKey: `bulk-${key++}` })) });
    const load = () =>
      loadavg()
        .map((l) => l.toFixed(2))
        .join(" ");

    /** CPU ms so far of each hub process and of this database's PostgreSQL backends (the load average says the machine is shared: CPU per delivery does not depend on it). */
    const backends = async () => (await client.$queryRawUnsafe<{ pid: number }[]>(`SELECT pid FROM pg_stat_activity WHERE datname = current_database()`)).map((r) => r.pid);
    const cpu = async () => {
      const out: Record<string, number> = {};
      for (const s of ["gateway", "member", "points", "partner"] as const) out[s] = cpuMs(services!.children[s]?.pid);
      out.postgres = (await backends()).reduce((a, pid) => a + cpuMs(pid), 0);
      return out;
    };
    const cpuDiff = (a: Record<string, number>, b: Record<string, number>, per: number) =>
      Object.keys(b)
        .map((k) => `${k} ${((b[k]! - (a[k] ?? 0)) / per).toFixed(2)}`)
        .join(", ");

    // 1. Throughput: unpaced, then paced as configured (the partner process restarted with its rate).
    const throughput = async (label: string, earns: number) => {
      const expected = PARTNERS * earns * PER_PARTNER;
      receiver.mark();
      const before = await receiver.count();
      const cpu0 = await cpu();
      const t0 = performance.now();
      await Promise.all(partners.map((p) => bulk(p, earns)));
      const enqueuedMs = performance.now() - t0;
      let c = await receiver.count();
      while (c.received - before.received < expected) {
        await new Promise((r) => setTimeout(r, 100));
        if (performance.now() - t0 > 600_000) throw new Error(`only ${c.received - before.received} of ${expected} deliveries in 10 minutes`);
        c = await receiver.count();
      }
      const spanS = (c.lastAt - c.firstAt) / 1000;
      // Let the last outcomes be written (they follow the last arrival by at most a flush).
      await new Promise((r) => setTimeout(r, 500));
      const cpu1 = await cpu();
      console.log(
        `throughput, ${label}: ${expected} deliveries to ${PARTNERS * PER_PARTNER} endpoints: ${(expected / spanS).toFixed(0)} deliveries/s (first to last arrival ${spanS.toFixed(1)} s; earns committed in ${(enqueuedMs / 1000).toFixed(1)} s) — load ${load()}`,
      );
      console.log(`  CPU ms per delivery (the earns that made them included: awardPointsBatch, relay, consumer): ${cpuDiff(cpu0, cpu1, expected)}`);
    };
    await throughput("unpaced (HUB_WEBHOOK_RATE=0)", EARNS);
    services.env.HUB_WEBHOOK_RATE = String(RATE);
    console.log("(the partner process restarts with its pace: the gateway's polls of it may warn meanwhile)");
    await services.stop(["partner"]);
    await services.restart(["partner"]);
    await throughput(`paced (HUB_WEBHOOK_RATE=${RATE})`, Math.max(1, Math.round(EARNS / 5)));

    // 2. Single earns, alternating arms: endpoints paused (off) vs active with a backlog being sent (on).
    const setPaused = (paused: boolean) => client.webhookEndpoint.updateMany({ data: { status: paused ? "PAUSED" : "ACTIVE" } });
    const lat: Record<"off" | "on", number[]> = { off: [], on: [] };
    const perRound: Record<"off" | "on", number[]> = { off: [], on: [] };
    const sentDuring: Record<"off" | "on", number[]> = { off: [], on: [] };
    /** CPU ms each process spent in each arm's windows (to price a delivery while earns run). */
    const cpuSpent: Record<"off" | "on", Record<string, number>> = { off: {}, on: {} };
    const windowMs = (SECONDS * 1000) / (ROUNDS * 2);
    for (let r = 0; r < ROUNDS; r++) {
      for (const mode of r % 2 === 0 ? (["off", "on"] as const) : (["on", "off"] as const)) {
        await setPaused(mode === "off");
        // A backlog for the window (recorded in both arms; sent only when active).
        await Promise.all(partners.map((p) => bulk(p, BACKLOG)));
        await flushEvents();
        const before = (await receiver.count()).received;
        const cpuBefore = await cpu();
        const end = performance.now() + windowMs;
        const mine: number[] = [];
        await Promise.all(
          Array.from({ length: CLIENTS }, async (_, k) => {
            const p = partners[k % partners.length]!;
            let i = 0;
            while (performance.now() < end) {
              const s = performance.now();
              await gql(p.token, AWARD, { input: { memberId: p.members[(k * 7 + i++) % p.members.length], points: 1, idempotencyKey: `single-${key++}` } });
              mine.push(performance.now() - s);
            }
          }),
        );
        sentDuring[mode].push((await receiver.count()).received - before);
        const cpuAfter = await cpu();
        for (const k of Object.keys(cpuAfter)) cpuSpent[mode][k] = (cpuSpent[mode][k] ?? 0) + cpuAfter[k]! - (cpuBefore[k] ?? 0);
        lat[mode].push(...mine);
        perRound[mode].push(pct(mine, 99));
      }
    }
    const f = (xs: number[]) => `p50 ${pct(xs, 50).toFixed(1)} ms, p99 ${pct(xs, 99).toFixed(1)} ms (${xs.length} earns)`;
    const added = (pct(lat.on, 99) / pct(lat.off, 99) - 1) * 100;
    const addedP50 = (pct(lat.on, 50) / pct(lat.off, 50) - 1) * 100;
    console.log(`single earns, deliveries off (endpoints paused; ${sentDuring.off.join("/")} sent per window): ${f(lat.off)}; p99 per window ${perRound.off.map((x) => x.toFixed(0)).join("/")}`);
    console.log(
      `single earns, deliveries on (${sentDuring.on.join("/")} sent per window, ${(sentDuring.on.reduce((a, b) => a + b, 0) / ((ROUNDS * windowMs) / 1000)).toFixed(0)}/s): ${f(lat.on)}; p99 per window ${perRound.on.map((x) => x.toFixed(0)).join("/")}`,
    );
    const sentOn = sentDuring.on.reduce((a, b) => a + b, 0);
    console.log(`CPU ms per delivery sent while earns ran (the "on" windows' CPU beyond the "off" windows', per delivery): ${cpuDiff(cpuSpent.off, cpuSpent.on, Math.max(1, sentOn))}`);
    console.log(
      `added while deliveries run (HUB_WEBHOOK_RATE=${RATE}): p99 ${added.toFixed(1)} % (goal < 10 %), p50 ${addedP50.toFixed(1)} % — ${ROUNDS} rounds of ${(windowMs / 1000).toFixed(1)} s windows, load ${load()}`,
    );
    await setPaused(true);
  } finally {
    await services?.stop();
    await db.close();
    await receiver.stop();
    await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

await main();
