// `npm run bench:obs` (also part of `npm run bench`): the overhead of tracing + metrics + logging
// (issue 18, Measure) on the wallet query and on single earns through the gateway. On the local
// PostgreSQL (DATABASE_URL), on a scratch database created and dropped here. In one run:
//  1. the demo coalition (BENCH_OBS_MEMBERS members, default 60) is seeded through an in-process
//     hub; member tokens come from the real sign-in flows (BENCH_OBS_TOKENS, default 20);
//  2. two hubs start as child processes (`scripts/start.ts`, the embedded arrangement) on that one
//     database: "off" (no OTEL endpoint: tracing off, no SDK loaded; HUB_LOG_LEVEL=warn: no request
//     lines) and "on" (OTEL_EXPORTER_OTLP_ENDPOINT at a collector sink in this process,
//     HUB_TRACE_SAMPLE_RATIO=0.1, HUB_LOG_LEVEL=info: one JSON line per request in every server,
//     written to a file, /metrics scraped every 5 s). The metric counters are always on in both
//     (they have no switch): their cost is in both figures;
//  3. load windows alternate between them (off on, on off, …; BENCH_OBS_ROUNDS rounds, default 3,
//     of BENCH_SECONDS each, default 5), BENCH_CONNECTIONS connections (default 20), autocannon in a
//     worker thread; medians are compared: on / off throughput (goal ≥ 0.90, i.e. < 10 % overhead),
//     and the hub process's CPU time per answered request (/proc: user + system), which the windows'
//     spread on these shared 2 cores moves far less than throughput.
// Attribution: BENCH_OBS_PARTS=traces or =logs turns on only that part in the "on" hub (default
// both); BENCH_OBS_SAMPLE sets the sampling ratio (default 0.1); BENCH_OBS_PROFILE=<dir> runs the
// "on" hub with --cpu-prof, writing its CPU profile there when it stops.
import { execFileSync, spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from "node:fs";
import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import autocannon from "autocannon";
import { migrate, openDatabase } from "../lib/db.ts";
import { seedDemo } from "../prisma/seed.ts";
import { startHub } from "../scripts/hub.ts";
import { memberTokensBySignIn } from "./member-tokens.ts";
import { freePorts, adminSql } from "./processes.ts";
import { WALLET_QUERY } from "./wallet.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const BASE = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

export interface ObsSide {
  perSecond: number;
  p99: number;
  /** CPU time of the hub process (user + system, /proc) per answered request, in ms: load-independent, unlike throughput. */
  cpuMsPerRequest: number;
}
export interface ObsCase {
  off: ObsSide;
  on: ObsSide;
  /** on / off throughput (1 = no overhead). */
  ratio: number;
  /** on / off hub CPU per request (1 = no overhead). */
  cpuRatio: number;
  windows: { off: number[]; on: number[] };
}
export interface ObsFigures {
  wallet: ObsCase;
  earn: ObsCase;
  seconds: number;
  rounds: number;
  connections: number;
  sampleRatio: number;
  parts: string;
  spansExportRequests: number;
  logBytes: number;
  loadAverage: string;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[(s.length - 1) >> 1]! + s[s.length >> 1]!) / 2 : 0;
};

const admin = (sql: string) => adminSql(sql, BASE);

async function untilReady(base: string, child: ReturnType<typeof spawn>) {
  for (let i = 0; i < 600; i++) {
    if (child.exitCode !== null) throw new Error(`hub child exited with ${child.exitCode}`);
    try {
      if ((await fetch(`${base}/readyz`)).ok) return;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${base} never became ready`);
}

/** CPU ms (user + system) a process has used, from /proc (Linux; 0 elsewhere). */
function cpuMs(pid: number | undefined): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
    const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
    return ((Number(f[11]) + Number(f[12])) * 1000) / 100; // utime + stime, in clock ticks of 1/100 s
  } catch {
    return 0;
  }
}

async function window(url: string, connections: number, seconds: number, kind: "wallet" | "earn", headers: Record<string, string>, pid: number | undefined): Promise<ObsSide> {
  const cpuBefore = cpuMs(pid);
  const r = await autocannon({
    url,
    connections,
    duration: seconds,
    workers: 1,
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    requests: [{ method: "POST", setupRequest: path.join(HERE, kind === "wallet" ? "wallet-request.cjs" : "earn-request.cjs") }],
    verifyBody: path.join(HERE, kind === "wallet" ? "wallet-verify.cjs" : "earn-verify.cjs"),
  });
  const failed = r.non2xx + r.errors + r.timeouts + r.mismatches;
  if (r.requests.total === 0) throw new Error(`${kind} load: no answer within ${seconds} s at ${url} (hub stalled?)`);
  if (failed) throw new Error(`${kind} load: ${failed} of ${r.requests.total} failed (non2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts}, mismatches ${r.mismatches})`);
  return { perSecond: r.requests.total / r.duration, p99: r.latency.p99, cpuMsPerRequest: (cpuMs(pid) - cpuBefore) / r.requests.total };
}

export async function runObsBench(opts: { seconds?: number; rounds?: number; connections?: number } = {}): Promise<ObsFigures> {
  const seconds = opts.seconds ?? Number(process.env.BENCH_SECONDS ?? 5);
  const rounds = opts.rounds ?? Number(process.env.BENCH_OBS_ROUNDS ?? 3);
  const connections = opts.connections ?? Number(process.env.BENCH_CONNECTIONS ?? 20);
  const members = Number(process.env.BENCH_OBS_MEMBERS ?? 60);
  const tokenCount = Number(process.env.BENCH_OBS_TOKENS ?? 20);
  const sampleRatio = Number(process.env.BENCH_OBS_SAMPLE ?? 0.1);
  // What the "on" hub turns on (attribution runs): traces, logs, or both (default).
  const parts = new Set((process.env.BENCH_OBS_PARTS ?? "traces,logs").split(",").map((x) => x.trim()));
  const profileDir = process.env.BENCH_OBS_PROFILE; // a directory: the "on" hub runs with --cpu-prof there
  const name = `bench_obs_${process.pid}_${Date.now()}`;
  const u = new URL(BASE);
  u.pathname = `/${name}`;
  await admin(`CREATE DATABASE "${name}"`);
  const dataDir = mkdtempSync(path.join(tmpdir(), "bench-obs-"));
  const secret = randomBytes(32).toString("hex");
  const cleanup: (() => Promise<unknown> | unknown)[] = [];
  try {
    // 1. Seed through an in-process hub (the relay links members to partners), then close it.
    const db = await openDatabase({ url: u.toString(), poolSize: 8 });
    await migrate(db);
    const setup = await startHub({ db, internalSecret: secret, dataDir, jobs: false });
    await seedDemo(db.client(), { flushEvents: setup.flushEvents, members });
    await setup.flushEvents();
    const client = db.client();
    const links = await client.linkedAccount.findMany({ where: { confirmedAt: { not: null } }, orderBy: [{ memberId: "asc" }], select: { memberId: true, partnerId: true } });
    const memberIds = [...new Set(links.map((l) => l.memberId))];
    const tokens = await memberTokensBySignIn(setup.baseUrl, memberIds.slice(0, tokenCount));
    // Earns: the demo partner ShopMall's client, for the members linked to it.
    const shopmall = await client.apiClient.findUniqueOrThrow({ where: { clientId: "demo-shopmall" }, select: { partnerId: true } });
    const earners = links.filter((l) => l.partnerId === shopmall.partnerId).map((l) => l.memberId);
    await setup.close();
    await db.close();

    // 2. Collector sink for OTLP/HTTP (answers like a collector; counts export requests).
    let exports = 0;
    const sink = createServer((req, res) => {
      exports++;
      req.resume();
      req.on("end", () => res.writeHead(200, { "content-type": "application/json" }).end("{}"));
    });
    await new Promise<void>((r) => sink.listen(0, "127.0.0.1", r));
    cleanup.push(() => new Promise((r) => sink.close(r)));
    const [offPort, onPort] = await freePorts(2);
    const logFile = path.join(dataDir, "on.log");
    const start = (port: number, on: boolean) => {
      const env: NodeJS.ProcessEnv = {
        ...process.env,
        DATABASE_URL: u.toString(),
        HUB_DATA_DIR: dataDir,
        HUB_INTERNAL_SECRET: secret,
        HUB_PORT: String(port),
        MEMBER_PORT: "0",
        POINTS_PORT: "0",
        PARTNER_PORT: "0",
        HUB_DEMO: "0",
        // Four pools per hub (three subgraphs + relays), two hubs, other users of the server: stay well under max_connections (100).
        HUB_DB_POOL_SIZE: process.env.BENCH_OBS_POOL ?? "5",
        HUB_LOG_LEVEL: on && parts.has("logs") ? "info" : "warn",
        OTEL_EXPORTER_OTLP_ENDPOINT: on && parts.has("traces") ? `http://127.0.0.1:${(sink.address() as AddressInfo).port}` : "",
        HUB_TRACE_SAMPLE_RATIO: String(sampleRatio),
      };
      const prof = on && profileDir ? ["--cpu-prof", `--cpu-prof-dir=${profileDir}`] : [];
      const child = spawn(process.execPath, [...prof, "--import", "tsx", path.join(ROOT, "scripts/start.ts")], { cwd: ROOT, env, stdio: ["ignore", "ignore", on ? openSync(logFile, "a") : "inherit"] });
      cleanup.push(() => {
        if (child.exitCode === null) child.kill("SIGTERM");
      });
      return child;
    };
    const offChild = start(offPort!, false);
    const onChild = start(onPort!, true);
    const off = `http://127.0.0.1:${offPort}`;
    const on = `http://127.0.0.1:${onPort}`;
    await Promise.all([untilReady(off, offChild), untilReady(on, onChild)]);
    // A Prometheus scraping the "on" hub every 5 s.
    const scraper = setInterval(() => void fetch(`${on}/metrics`).then((r) => r.text()), 5000);
    cleanup.push(() => clearInterval(scraper));

    // Partner token for earns (client credentials), minted by each hub (same signing keys anyway).
    const tokenRes = await fetch(`${off}/oauth/token`, { method: "POST", body: new URLSearchParams({ grant_type: "client_credentials", client_id: "demo-shopmall", client_secret: "demo-shopmall-secret" }) });
    const partnerToken = ((await tokenRes.json()) as { access_token: string }).access_token;
    const walletFile = path.join(dataDir, "wallet-requests.json");
    writeFileSync(walletFile, JSON.stringify(tokens.map((t) => ({ headers: { authorization: `Bearer ${t.token}` }, body: JSON.stringify({ query: WALLET_QUERY, variables: { first: 20 } }) }))));
    process.env.BENCH_WALLET_FILE = walletFile;
    process.env.BENCH_MEMBER_IDS = earners.join(",");
    // Warm both (JIT, pools, caches) outside the measured windows.
    // Sequential requests, no deadline: the first ones compile the query plans and open the pools.
    const EARN = "mutation Earn($input: AwardPointsInput!) { awardPoints(input: $input) { id points } }";
    for (const url of [off, on]) {
      for (let i = 0; i < 10; i++) {
        const w = await fetch(`${url}/graphql`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${tokens[i % tokens.length]!.token}` },
          body: JSON.stringify({ query: WALLET_QUERY, variables: { first: 20 } }),
        });
        if (!w.ok) throw new Error(`warm-up wallet query: HTTP ${w.status} ${await w.text()}`);
        const e = await fetch(`${url}/graphql`, {
          method: "POST",
          headers: { "content-type": "application/json", authorization: `Bearer ${partnerToken}` },
          body: JSON.stringify({ query: EARN, variables: { input: { memberId: earners[i % earners.length], purchaseAmount: "12.50", idempotencyKey: `warm-${url}-${i}` } } }),
        });
        if (!e.ok) throw new Error(`warm-up earn: HTTP ${e.status} ${await e.text()}`);
      }
    }

    // 3. Alternating windows.
    const measure = async (kind: "wallet" | "earn"): Promise<ObsCase> => {
      const runs: { off: ObsSide[]; on: ObsSide[] } = { off: [], on: [] };
      const headers: Record<string, string> = kind === "earn" ? { authorization: `Bearer ${partnerToken}` } : {};
      for (let r = 0; r < rounds; r++) {
        for (const side of r % 2 === 0 ? (["off", "on"] as const) : (["on", "off"] as const)) {
          runs[side].push(await window(`${side === "off" ? off : on}/graphql`, connections, seconds, kind, headers, (side === "off" ? offChild : onChild).pid));
        }
      }
      const m = (xs: ObsSide[]): ObsSide => ({ perSecond: median(xs.map((x) => x.perSecond)), p99: median(xs.map((x) => x.p99)), cpuMsPerRequest: median(xs.map((x) => x.cpuMsPerRequest)) });
      const offM = m(runs.off);
      const onM = m(runs.on);
      return {
        off: offM,
        on: onM,
        ratio: onM.perSecond / offM.perSecond,
        cpuRatio: offM.cpuMsPerRequest ? onM.cpuMsPerRequest / offM.cpuMsPerRequest : 0,
        windows: { off: runs.off.map((x) => Math.round(x.perSecond)), on: runs.on.map((x) => Math.round(x.perSecond)) },
      };
    };
    const wallet = await measure("wallet");
    const earn = await measure("earn");
    let loadAverage = "unknown";
    try {
      loadAverage = execFileSync("uptime", { encoding: "utf8" }).trim();
    } catch {
      // no uptime
    }
    let logBytes = 0;
    try {
      logBytes = statSync(logFile).size;
    } catch {
      // no log
    }
    return { wallet, earn, seconds, rounds, connections, sampleRatio, parts: [...parts].join("+"), spansExportRequests: exports, logBytes, loadAverage };
  } finally {
    for (const fn of cleanup.reverse()) await fn();
    await new Promise((r) => setTimeout(r, 500));
    await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

export function printObs(f: ObsFigures) {
  const pct = (r: number) => `${((1 - r) * 100).toFixed(1)} %`;
  console.log(
    `obs overhead (${f.parts.replace("traces", `tracing sampled at ${f.sampleRatio * 100} %`).replace("logs", "request logs")}, metrics in both), ${f.rounds} alternating rounds of ${f.seconds} s, ${f.connections} connections`,
  );
  for (const [k, c] of [
    ["wallet query", f.wallet],
    ["single earn", f.earn],
  ] as const) {
    console.log(
      `  ${k.padEnd(12)} off ${c.off.perSecond.toFixed(0)}/s (p99 ${c.off.p99} ms)  on ${c.on.perSecond.toFixed(0)}/s (p99 ${c.on.p99} ms)  on/off ${c.ratio.toFixed(3)} (overhead ${pct(c.ratio)}; windows off ${c.windows.off.join(", ")} / on ${c.windows.on.join(", ")})`,
    );
    console.log(
      `  ${"".padEnd(12)} hub CPU per request (user + system, median of windows): off ${c.off.cpuMsPerRequest.toFixed(2)} ms, on ${c.on.cpuMsPerRequest.toFixed(2)} ms (+${((c.cpuRatio - 1) * 100).toFixed(1)} %)`,
    );
  }
  console.log(`  OTLP export requests received: ${f.spansExportRequests}; request-log bytes written by the "on" hub: ${f.logBytes}`);
  console.log(`  ${f.loadAverage}`);
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  const f = await runObsBench();
  printObs(f);
  process.exit(0);
}
