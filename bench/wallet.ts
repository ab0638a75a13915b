// `npm run bench:wallet`: the member wallet query (DESIGN.md §2a, issue #8) on the local PostgreSQL
// (DATABASE_URL, default postgresql://postgres@127.0.0.1:5432/postgres), on a scratch database
// created and dropped here. In one run:
//  1. the demo coalition (prisma/seed.ts, BENCH_WALLET_MEMBERS members, default 500) is seeded
//     through the whole hub in this process; member tokens come from the real flows (activation
//     code issued by the demo admin, the activation page, the sign-in page with code + PKCE), one
//     per member, BENCH_WALLET_TOKENS of them (default 300);
//  2. SQL statements per wallet query, counted at the pg driver (every statement any subgraph
//     sends, BEGIN/COMMIT included), for two list sizes (few offers and 5 activity entries, then
//     more co-issued offers and 50 entries): the count must not grow with the lists;
//  3. load: the subgraphs each in their own process (as docker-compose runs them), our gateway and
//     @apollo/gateway each in their own process, and the points subgraph queried directly with the
//     plan's points fetch (DIRECT_QUERY, signed identity: the ceiling). The arrangements alternate in
//     BENCH_ROUNDS rounds of short windows (BENCH_SECONDS in all per arrangement; A B C, B C A, ...)
//     and the medians are reported, BENCH_CONNECTIONS (50) connections, a random member per request,
//     autocannon in a worker thread. Before loading, each gateway must answer 50 concurrent members
//     each with their own data. Gateway memory (RSS, heap) and CPU per request are sampled under load;
//  4. a CPU profile of our gateway process under the same load (the inspector's Profiler over the
//     load window only), summarised by self time (BENCH_PROFILE=0 skips it); BENCH_PROFILE_SUBGRAPHS=1
//     also profiles the three subgraph processes (--cpu-prof, whole process life).
// Dev knobs: BENCH_ARRANGEMENTS=ours,apollo,direct (a subset), BENCH_WALLET_DB=<name> (keep and reuse
// the seeded database between runs), BENCH_GATEWAY_STATS=1 (see bench/gateway-child.ts).
import { randomBytes } from "node:crypto";
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import autocannon from "autocannon";
import pg from "pg";
import { migrate, openDatabase, type PrismaClient } from "../lib/db.ts";
import type { SchemaName } from "../lib/events/catalogue.ts";
import { internalKey, OPERATION_NAME_HEADER, signIdentity } from "../lib/internal-auth.ts";
import type { Principal } from "../lib/principal.ts";
import { seedDemo } from "../prisma/seed.ts";
import { startHub } from "../scripts/hub.ts";
import { memberTokensBySignIn } from "./member-tokens.ts";
import { startGatewayChild, startServices } from "./processes.ts";
import { approveOffer, submitOffer } from "../subgraphs/partner/src/services/offers/lifecycle.ts";
import { createOffer } from "../subgraphs/partner/src/services/offers/terms.ts";

const BASE = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";
const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, "..");
const ALL_CATEGORIES = ["PROFILE_BASIC", "PROFILE_CONTACT", "POINTS_BALANCE", "TIER", "ACTIVITY", "SEGMENTS"];

/** The wallet query of issue #8 on the real schema: 4 subgraph fetches (member → points → partner ×2). */
export const WALLET_QUERY = `query Wallet($first: Int!) {
  me {
    id
    displayName
    wallet { balance available held }
    tier { tier qualifyingPoints nextTier pointsToNextTier }
    eligibleOffers { id title kind bonusPoints coIssuers { shareBps partner { id name } } }
    activity(first: $first) { edges { cursor node { id kind points postedAt balanceAfter partner { id name } } } pageInfo { hasNextPage endCursor } }
  }
}`;
/**
 * The ceiling: the points subgraph's fetch of WALLET_QUERY's query plan, verbatim (the plan's
 * heaviest fetch and the one every wallet query waits on: wallet, tier, 20 activity entries with
 * their postings, tierLevel for the partner fetch), with the representation the gateway sends
 * ({ __typename, id, sharedScopes }). Printed from @apollo/query-planner over schema/supergraph.graphql
 * (the Rust planner's points fetch selects the same fields).
 */
export const DIRECT_QUERY = `query Wallet__points__1($representations: [_Any!]!, $first: Int!) {
  _entities(representations: $representations) {
    ... on Member {
      __typename
      wallet { balance available held }
      tier { tier qualifyingPoints nextTier pointsToNextTier }
      activity(first: $first) { edges { cursor node { id kind points postedAt balanceAfter partner { __typename id } } } pageInfo { hasNextPage endCursor } }
      tierLevel
    }
  }
}`;

export interface LoadFigures {
  requestsPerSecond: number;
  p50: number;
  p99: number;
  requests: number;
  failed: number;
  /** The gateway process's CPU time (user + system) per request over the window. */
  cpuMsPerRequest?: number;
}
export interface MemoryFigures {
  idleRssMb: number;
  peakRssMb: number;
  peakHeapUsedMb: number;
}
export interface SqlCount {
  label: string;
  offers: number;
  activity: number;
  coIssuers: number;
  sqlPerQuery: number;
  prismaOpsPerQuery: Record<SchemaName, number>;
}
export interface ProfileEntry {
  name: string;
  selfMs: number;
  percent: number;
}
export type Arrangement = "ours" | "apollo" | "direct";
export interface WalletFigures {
  members: number;
  connections: number;
  seconds: number;
  /** Load windows per arrangement, alternated (ours, apollo, direct, rotating the start each round). */
  rounds: number;
  windowSeconds: number;
  /** Every window's figures per arrangement; `ours`, `apollo`, `direct` are their medians. */
  windows: Record<Arrangement, LoadFigures[]>;
  ours: LoadFigures;
  apollo: LoadFigures;
  apolloOneConnection: LoadFigures;
  direct: LoadFigures;
  oursMemory: MemoryFigures;
  apolloMemory: MemoryFigures;
  sql: SqlCount[];
  profile?: { functions: ProfileEntry[]; modules: ProfileEntry[]; totalMs: number; idlePercent: number; file: string };
  subgraphProfiles?: Record<string, { functions: ProfileEntry[]; modules: ProfileEntry[]; totalMs: number; idlePercent: number; file: string }>;
}

async function admin(sql: string, params: unknown[] = []) {
  const c = new pg.Client({ connectionString: BASE });
  await c.connect();
  try {
    return await c.query(sql, params);
  } finally {
    await c.end();
  }
}

const DAY = 86_400_000;
const partnerActor = (partnerId: string): Principal => ({ sub: `bench-${partnerId}`, role: "PARTNER", partnerId, memberId: null, scope: "hub:partner", purpose: "ACCOUNT_SERVICING" });

/** `n` more active co-issued offers (two partners each, open to every segment and tier). */
async function addOffers(client: PrismaClient, n: number) {
  const partners = await client.partner.findMany({ orderBy: { name: "asc" }, select: { id: true } });
  const now = new Date();
  for (let i = 0; i < n; i++) {
    const a = partners[i % partners.length]!.id;
    const b = partners[(i + 1) % partners.length]!.id;
    const o = await createOffer(
      partnerActor(a),
      {
        title: `Bench offer ${i + 1}: ${50 + i} bonus points`,
        description: "Bench-only co-issued offer.",
        kind: "BONUS_POINTS",
        bonusPoints: 50 + i,
        coIssuers: [
          { partnerId: a, shareBps: 5000 },
          { partnerId: b, shareBps: 5000 },
        ],
        redeemableAtPartnerIds: [a, b],
        segments: ["NEW", "ACTIVE", "DORMANT", "CHURNED"],
        startsAt: new Date(now.getTime() - DAY),
        endsAt: new Date(now.getTime() + 60 * DAY),
        budgetPoints: 100_000,
        perMemberLimit: 5,
      },
      { now },
    );
    await submitOffer(partnerActor(a), o.id, { now });
    await approveOffer(partnerActor(a), o.id, { now });
    await approveOffer(partnerActor(b), o.id, { now });
  }
}

interface Prepared {
  headers: Record<string, string>;
  body: string;
}

async function load(url: string, prepared: Prepared[], connections: number, seconds: number): Promise<LoadFigures> {
  const file = path.join(tmpdir(), `bench-wallet-${process.pid}-${Date.now()}.json`);
  writeFileSync(file, JSON.stringify(prepared));
  process.env.BENCH_WALLET_FILE = file;
  try {
    const r = await autocannon({
      url,
      connections,
      duration: seconds,
      workers: 1,
      method: "POST",
      headers: { "content-type": "application/json" },
      requests: [{ method: "POST", setupRequest: path.join(HERE, "wallet-request.cjs") }],
      verifyBody: path.join(HERE, "wallet-verify.cjs"),
    });
    return {
      requestsPerSecond: r.requests.total / r.duration,
      p50: r.latency.p50,
      p99: r.latency.p99,
      requests: r.requests.total,
      failed: r.non2xx + r.errors + r.timeouts + r.mismatches,
    };
  } finally {
    rmSync(file, { force: true });
  }
}

/** Runs the load while sampling the gateway's memory every 250 ms. */
async function loadWithMemory(g: Awaited<ReturnType<typeof startGatewayChild>>, prepared: Prepared[], connections: number, seconds: number) {
  const mb = (n: number) => n / 1024 / 1024;
  const idle = await g.memory();
  const cpu0 = await g.request<NodeJS.CpuUsage>("cpu", "cpu");
  let peakRss = idle.rss;
  let peakHeap = idle.heapUsed;
  let sampling = true;
  const sampler = (async () => {
    while (sampling) {
      const m = await g.memory();
      peakRss = Math.max(peakRss, m.rss);
      peakHeap = Math.max(peakHeap, m.heapUsed);
      await new Promise((r) => setTimeout(r, 250));
    }
  })();
  const figures = await load(g.url, prepared, connections, seconds);
  sampling = false;
  await sampler;
  const cpu1 = await g.request<NodeJS.CpuUsage>("cpu", "cpu");
  figures.cpuMsPerRequest = (cpu1.user - cpu0.user + cpu1.system - cpu0.system) / 1000 / Math.max(1, figures.requests);
  return { figures, memory: { idleRssMb: mb(idle.rss), peakRssMb: mb(peakRss), peakHeapUsedMb: mb(peakHeap) } };
}

/** Median of each figure separately over the windows (NaN when there are none). */
export function medianFigures(runs: LoadFigures[]): LoadFigures {
  const med = (xs: number[]) => {
    if (!xs.length) return NaN;
    const s = [...xs].sort((a, b) => a - b);
    const m = Math.floor(s.length / 2);
    return s.length % 2 ? s[m]! : (s[m - 1]! + s[m]!) / 2;
  };
  return {
    requestsPerSecond: med(runs.map((r) => r.requestsPerSecond)),
    p50: med(runs.map((r) => r.p50)),
    p99: med(runs.map((r) => r.p99)),
    requests: runs.reduce((s, r) => s + r.requests, 0),
    cpuMsPerRequest: med(runs.map((r) => r.cpuMsPerRequest ?? NaN).filter((x) => !Number.isNaN(x))),
    failed: runs.reduce((s, r) => s + r.failed, 0),
  };
}

/**
 * The subgraphs as docker-compose runs them: one process each (`tsx <subgraph>/src/main.ts`).
 * `cpuProfDir`: each subgraph process writes a V8 CPU profile there when it exits (--cpu-prof).
 */
async function startSubgraphProcesses(url: string, secret: string, dataDir: string, cpuProfDir?: string) {
  // One folder per subgraph: tsx's loader thread writes its own (small) profile beside the main thread's.
  const nodeArgs = (s: string) => (cpuProfDir ? ["--cpu-prof", "--cpu-prof-dir", path.join(cpuProfDir, s), "--cpu-prof-interval", "500"] : []);
  const services = await startServices({ services: ["member", "points", "partner"], databaseUrl: url, internalSecret: secret, dataDir, nodeArgs });
  return { env: services.env, urls: services.urls, close: () => services.stop() };
}

/** Self time per function and per module (package or project file) from a .cpuprofile. */
export function summariseProfile(file: string, top = 15) {
  const prof = JSON.parse(readFileSync(file, "utf8")) as {
    nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[];
    samples: number[];
    timeDeltas: number[];
  };
  const byId = new Map(prof.nodes.map((n) => [n.id, n]));
  const self = new Map<number, number>();
  for (let i = 0; i < prof.samples.length; i++) self.set(prof.samples[i]!, (self.get(prof.samples[i]!) ?? 0) + (prof.timeDeltas[i] ?? 0) / 1000);
  const moduleOf = (url: string) => {
    if (!url) return "(V8 / native)";
    const p = url.replace(/^file:\/\//, "");
    const nm = p.lastIndexOf("node_modules/");
    if (nm >= 0) {
      const rest = p.slice(nm + 13).split("/");
      return rest[0]!.startsWith("@") ? `${rest[0]}/${rest[1]}` : rest[0]!;
    }
    if (p.startsWith("node:")) return p;
    return path.relative(ROOT, p);
  };
  const fns = new Map<string, number>();
  const mods = new Map<string, number>();
  let total = 0;
  let idle = 0;
  for (const [id, ms] of self) {
    const n = byId.get(id)!;
    if (n.callFrame.functionName === "(idle)") {
      idle += ms;
      continue;
    }
    total += ms;
    const fname = n.callFrame.functionName || "(anonymous)";
    // (garbage collector), (program): V8's own buckets, kept by name.
    const mod = n.callFrame.url ? moduleOf(n.callFrame.url) : /^\(.*\)$/.test(fname) ? fname : "(V8 / native)";
    const key = n.callFrame.url ? `${fname} (${mod}:${n.callFrame.lineNumber + 1})` : fname;
    fns.set(key, (fns.get(key) ?? 0) + ms);
    mods.set(mod, (mods.get(mod) ?? 0) + ms);
  }
  const sorted = (m: Map<string, number>) =>
    [...m.entries()]
      .sort((a, b) => b[1] - a[1])
      .slice(0, top)
      .map(([name, selfMs]) => ({ name, selfMs, percent: (100 * selfMs) / total }));
  return { functions: sorted(fns), modules: sorted(mods), totalMs: total, idlePercent: (100 * idle) / (idle + total) };
}

export async function runWalletBench(opts: { seconds?: number; connections?: number; members?: number; tokens?: number; profile?: boolean; profileFile?: string } = {}): Promise<WalletFigures> {
  const seconds = opts.seconds ?? Number(process.env.BENCH_SECONDS ?? 20);
  const connections = opts.connections ?? Number(process.env.BENCH_CONNECTIONS ?? 50);
  const members = opts.members ?? Number(process.env.BENCH_WALLET_MEMBERS ?? 500);
  const tokenCount = opts.tokens ?? Number(process.env.BENCH_WALLET_TOKENS ?? 300);
  const profile = opts.profile ?? process.env.BENCH_PROFILE !== "0";
  // Alternating windows: each arrangement gets `rounds` windows of `windowSeconds` (≈ `seconds` in all).
  const rounds = Number(process.env.BENCH_ROUNDS ?? Math.max(3, Math.round(seconds / 5)));
  const windowSeconds = Math.max(2, Math.round(seconds / rounds));
  const arrangements = (process.env.BENCH_ARRANGEMENTS ?? "ours,apollo,direct").split(",").filter((a): a is Arrangement => ["ours", "apollo", "direct"].includes(a));
  // BENCH_WALLET_DB=<name>: a database (and signing-key folder) kept after the run and reused by the
  // next one (seeding takes minutes; the SQL counts run only when it is freshly seeded). Bench dev only.
  const keep = process.env.BENCH_WALLET_DB;
  const u = new URL(BASE);
  const name = keep ?? `bench_wallet_${process.pid}_${Date.now()}`;
  u.pathname = `/${name}`;
  const fresh = !keep || !(await admin("SELECT 1 FROM pg_database WHERE datname = $1", [name])).rowCount;
  if (fresh) await admin(`CREATE DATABASE "${name}"`);
  const dataDir = keep ? path.join(tmpdir(), name) : mkdtempSync(path.join(tmpdir(), "bench-wallet-"));
  mkdirSync(dataDir, { recursive: true });
  const db = await openDatabase({ url: u.toString(), poolSize: 10 });
  const secret = randomBytes(32).toString("hex");
  const cleanup: (() => Promise<void>)[] = [];
  try {
    if (fresh) await migrate(db);
    // 1. Seed through the hub in this process (its relays deliver the events at once).
    const ops: Record<SchemaName, number> = { member: 0, points: 0, partner: 0 };
    const wrapClient = (client: PrismaClient, subgraph: SchemaName) =>
      client.$extends({
        query: {
          async $allOperations({ args, query }) {
            ops[subgraph]++;
            return query(args);
          },
        },
      }) as unknown as PrismaClient;
    // Relays are flushed by hand (flushEvents), so nothing polls while statements are counted.
    const hub = await startHub({ db, internalSecret: secret, dataDir, jobs: false, relayIntervalMs: 3_600_000, wrapClient });
    let hubOpen = true;
    cleanup.push(async () => {
      if (hubOpen) await hub.close();
    });
    const client = db.client();
    const t0 = performance.now();
    if (fresh) {
      await seedDemo(client, { flushEvents: hub.flushEvents, members });
      await hub.flushEvents();
      console.log(`wallet: seeded the demo coalition with ${members} members in ${((performance.now() - t0) / 1000).toFixed(1)} s`);
    } else console.log(`wallet: reusing the seeded database ${name} (BENCH_WALLET_DB); SQL counts skipped`);

    // Member tokens through the real flows (bench/member-tokens.ts).
    const links = await client.linkedAccount.findMany({ where: { confirmedAt: { not: null } }, orderBy: [{ memberId: "asc" }, { linkedAt: "asc" }], select: { memberId: true, partnerId: true, externalRef: true } });
    const firstLink = new Map<string, (typeof links)[number]>();
    for (const l of links) if (!firstLink.has(l.memberId)) firstLink.set(l.memberId, l);
    const tokens = await memberTokensBySignIn(hub.baseUrl, [...firstLink.keys()].slice(0, tokenCount));

    const ask = async (token: string, first: number) => {
      const res = await fetch(hub.gatewayUrl, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ query: WALLET_QUERY, variables: { first } }) });
      const body = (await res.json()) as { data?: { me: { eligibleOffers: { coIssuers: unknown[] }[]; activity: { edges: unknown[] } } }; errors?: { message: string }[] };
      if (body.errors?.length || !body.data?.me) throw new Error(`wallet query failed: ${JSON.stringify(body.errors ?? body)}`);
      return body.data.me;
    };
    // 2. SQL statements per wallet query at two list sizes.
    const sql: SqlCount[] = [];
    const countSql = async (label: string, first: number) => {
      const sample = tokens.slice(0, 30);
      for (const t of sample.slice(0, 3)) await ask(t.token, first); // warm (plans, caches of the runtime)
      let statements = 0;
      const proto = pg.Client.prototype as unknown as { query: (...a: unknown[]) => unknown };
      const original = proto.query;
      proto.query = function (this: unknown, ...a: unknown[]) {
        statements++;
        return original.apply(this, a);
      };
      const before = { ...ops };
      let offers = 0;
      let activity = 0;
      let coIssuers = 0;
      try {
        for (const t of sample) {
          const me = await ask(t.token, first);
          offers += me.eligibleOffers.length;
          coIssuers += me.eligibleOffers.reduce((s, o) => s + o.coIssuers.length, 0);
          activity += me.activity.edges.length;
        }
      } finally {
        proto.query = original;
      }
      const n = sample.length;
      sql.push({
        label,
        offers: offers / n,
        activity: activity / n,
        coIssuers: coIssuers / n,
        sqlPerQuery: statements / n,
        prismaOpsPerQuery: { member: (ops.member - before.member) / n, points: (ops.points - before.points) / n, partner: (ops.partner - before.partner) / n },
      });
      const s = sql.at(-1)!;
      console.log(
        `wallet: ${label}: ${s.offers.toFixed(1)} offers (${s.coIssuers.toFixed(1)} co-issuers), ${s.activity.toFixed(1)} activity entries → ${s.sqlPerQuery.toFixed(1)} SQL statements per query (Prisma operations: member ${s.prismaOpsPerQuery.member}, points ${s.prismaOpsPerQuery.points}, partner ${s.prismaOpsPerQuery.partner})`,
      );
    };
    if (fresh) {
      await countSql("small lists", 5);
      await addOffers(client, 18);
      await hub.flushEvents();
      await countSql("large lists", 50);
    }
    await hub.close();
    hubOpen = false;

    // 3. Load: subgraphs in their own processes, each gateway in its own; the arrangements take
    // turns in short windows (A B C, B C A, C A B, ...) so the machine's noise hits all of them alike.
    const profDir = process.env.BENCH_PROFILE_SUBGRAPHS === "1" ? mkdtempSync(path.join(tmpdir(), "bench-wallet-subgraph-prof-")) : undefined;
    const subgraphs = await startSubgraphProcesses(u.toString(), secret, dataDir, profDir);
    let subgraphsOpen = true;
    cleanup.push(async () => {
      if (subgraphsOpen) await subgraphs.close();
    });
    const gwEnv = { ...subgraphs.env, HUB_PORT: "0" };
    const viaGateway: Prepared[] = tokens.map((t) => ({ headers: { authorization: `Bearer ${t.token}` }, body: JSON.stringify({ query: WALLET_QUERY, variables: { first: 20 } }) }));
    const key = internalKey(secret);
    const direct: Prepared[] = [];
    for (const t of tokens) {
      const principal: Principal = { sub: t.memberId, role: "MEMBER", partnerId: null, memberId: t.memberId, scope: "hub:member", purpose: null };
      direct.push({
        headers: { "x-hub-identity": await signIdentity(key, principal, 3600), [OPERATION_NAME_HEADER]: "Wallet" },
        body: JSON.stringify({ query: DIRECT_QUERY, variables: { first: 20, representations: [{ __typename: "Member", id: t.memberId, sharedScopes: ALL_CATEGORIES }] } }),
      });
    }
    // Check each arrangement answers before loading it.
    const checkOnce = async (url: string, p: Prepared) => {
      const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...p.headers }, body: p.body });
      const text = await res.text();
      if (!text.includes('"wallet":{"balance"') || text.includes('"errors"')) throw new Error(`bench query failed at ${url}: ${text.slice(0, 500)}`);
    };
    const warm = async (url: string, prepared: Prepared[]) => {
      await checkOnce(url, prepared[0]!);
      await load(url, prepared, connections, Math.min(3, seconds));
    };

    const gateways: Partial<Record<"ours" | "apollo", Awaited<ReturnType<typeof startGatewayChild>>>> = {};
    for (const kind of ["ours", "apollo"] as const) {
      if (!arrangements.includes(kind) && !(profile && kind === "ours")) continue;
      const g = await startGatewayChild(kind, gwEnv);
      cleanup.push(() => g.stop());
      gateways[kind] = g;
    }
    const targets: Record<Arrangement, { url: string; prepared: Prepared[] }> = {
      ours: { url: gateways.ours?.url ?? "", prepared: viaGateway },
      apollo: { url: gateways.apollo?.url ?? "", prepared: viaGateway },
      direct: { url: `${subgraphs.urls.points}/graphql`, prepared: direct },
    };
    // Concurrency check: 50 different members at once through each gateway; every answer must be
    // that member's own (no cross-request batching or deduplication may mix callers).
    const crossCheck = async (url: string, concurrent = true) => {
      const sample = tokens.slice(0, 50);
      const one = async (t: (typeof tokens)[number], i: number) => {
        const res = await fetch(url, { method: "POST", headers: { "content-type": "application/json", ...viaGateway[i]!.headers }, body: viaGateway[i]!.body });
        const body = (await res.json()) as { data?: { me?: { id: string } } };
        return body.data?.me?.id === t.memberId;
      };
      const answers: boolean[] = [];
      if (concurrent) answers.push(...(await Promise.all(sample.map(one))));
      else for (const [i, t] of sample.entries()) answers.push(await one(t, i));
      const wrong = answers.filter((ok) => !ok).length;
      if (wrong) throw new Error(`${url}: ${wrong} of ${sample.length} concurrent wallet queries answered another member's data`);
    };
    for (const a of arrangements) {
      if (a !== "direct" && process.env.BENCH_DEBUG) await crossCheck(targets[a].url, false);
      if (a !== "direct") await crossCheck(targets[a].url);
      await warm(targets[a].url, targets[a].prepared);
    }
    const mem: Record<"ours" | "apollo", MemoryFigures> = { ours: { idleRssMb: NaN, peakRssMb: NaN, peakHeapUsedMb: NaN }, apollo: { idleRssMb: NaN, peakRssMb: NaN, peakHeapUsedMb: NaN } };
    const windows: Record<Arrangement, LoadFigures[]> = { ours: [], apollo: [], direct: [] };
    const line = (f: LoadFigures) =>
      `${f.requestsPerSecond.toFixed(0)} req/s p50 ${f.p50} ms p99 ${f.p99} ms (${f.failed} failed)${f.cpuMsPerRequest ? `; gateway CPU ${f.cpuMsPerRequest.toFixed(2)} ms per request` : ""}`;
    for (let r = 0; r < rounds; r++) {
      for (let i = 0; i < arrangements.length; i++) {
        const a = arrangements[(i + r) % arrangements.length]!;
        let f: LoadFigures;
        if (a === "direct") f = await load(targets.direct.url, direct, connections, windowSeconds);
        else {
          const m = await loadWithMemory(gateways[a]!, viaGateway, connections, windowSeconds);
          f = m.figures;
          const acc = mem[a];
          mem[a] = {
            idleRssMb: Number.isNaN(acc.idleRssMb) ? m.memory.idleRssMb : acc.idleRssMb,
            peakRssMb: Math.max(m.memory.peakRssMb, Number.isNaN(acc.peakRssMb) ? 0 : acc.peakRssMb),
            peakHeapUsedMb: Math.max(m.memory.peakHeapUsedMb, Number.isNaN(acc.peakHeapUsedMb) ? 0 : acc.peakHeapUsedMb),
          };
        }
        windows[a].push(f);
        console.log(`wallet round ${r + 1}/${rounds} ${a}: ${line(f)}`);
      }
    }
    const o = medianFigures(windows.ours);
    const a = medianFigures(windows.apollo);
    const d = medianFigures(windows.direct);
    // @apollo/gateway's rate at one connection: whether it scales with concurrency at all.
    const apolloOne = gateways.apollo && arrangements.includes("apollo") ? await load(gateways.apollo.url, viaGateway, 1, Math.min(3, seconds)) : medianFigures([]);
    await gateways.apollo?.stop();
    console.log(`wallet medians of ${rounds} windows of ${windowSeconds} s at ${connections} connections:`);
    console.log(`  our gateway: ${line(o)}; RSS ${mem.ours.idleRssMb.toFixed(0)} → ${mem.ours.peakRssMb.toFixed(0)} MB, heap peak ${mem.ours.peakHeapUsedMb.toFixed(0)} MB`);
    console.log(`  @apollo/gateway: ${line(a)}; at 1 connection ${apolloOne.requestsPerSecond.toFixed(0)} req/s p50 ${apolloOne.p50} ms; RSS ${mem.apollo.idleRssMb.toFixed(0)} → ${mem.apollo.peakRssMb.toFixed(0)} MB`);
    console.log(`  points subgraph directly (the plan's points fetch): ${line(d)}`);
    console.log(`wallet ratios: ours / apollo ${(o.requestsPerSecond / a.requestsPerSecond).toFixed(2)}, ours / direct ${(o.requestsPerSecond / d.requestsPerSecond).toFixed(2)}`);

    // 4. Profile of our gateway under the same load (the load window only, not start-up).
    let prof: WalletFigures["profile"];
    if (profile && gateways.ours) {
      const file = opts.profileFile ?? path.join(tmpdir(), `bench-wallet-gateway-${process.pid}.cpuprofile`);
      const g = gateways.ours;
      await g.request("profile-start", "profiling");
      await load(g.url, viaGateway, connections, Math.min(seconds, 10));
      await g.request({ profileStop: file }, "profiled");
      prof = { ...summariseProfile(file), file };
      console.log(
        `wallet: gateway CPU profile ${file}; busy ${(100 - prof.idlePercent).toFixed(0)}%; top self time: ${prof.modules
          .slice(0, 6)
          .map((m) => `${m.name} ${m.percent.toFixed(0)}%`)
          .join(", ")}`,
      );
    }
    await gateways.ours?.stop();
    // Subgraph CPU profiles (BENCH_PROFILE_SUBGRAPHS=1): whole process life, start-up included.
    let subgraphProfiles: WalletFigures["subgraphProfiles"];
    await subgraphs.close();
    subgraphsOpen = false;
    if (profDir) {
      subgraphProfiles = {};
      for (const sg of readdirSync(profDir)) {
        const files = readdirSync(path.join(profDir, sg)).map((f) => path.join(profDir, sg, f));
        const main = files.sort((x, y) => statSync(y).size - statSync(x).size)[0];
        if (!main) continue;
        const s = summariseProfile(main);
        subgraphProfiles[sg] = { ...s, file: main };
        console.log(
          `wallet: ${sg} subgraph profile ${main}: busy ${(100 - s.idlePercent).toFixed(0)}%; top self time: ${s.modules
            .slice(0, 8)
            .map((m) => `${m.name} ${m.percent.toFixed(0)}%`)
            .join(", ")}`,
        );
      }
    }
    return {
      members,
      connections,
      seconds: windowSeconds * rounds,
      rounds,
      windowSeconds,
      windows,
      ours: o,
      apollo: a,
      apolloOneConnection: apolloOne,
      direct: d,
      oursMemory: mem.ours,
      apolloMemory: mem.apollo,
      sql,
      profile: prof,
      subgraphProfiles,
    };
  } finally {
    for (const c of cleanup.reverse()) await c().catch((e) => console.error("wallet bench cleanup:", e));
    await db.close();
    if (!keep) {
      rmSync(dataDir, { recursive: true, force: true });
      await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`);
    }
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await runWalletBench();
  process.exit(0);
}
