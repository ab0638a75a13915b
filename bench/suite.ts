// `npm run bench`: the benchmark suite of issue #8 on the local PostgreSQL (DATABASE_URL, default
// postgresql://postgres@127.0.0.1:5432/postgres; every part works on scratch databases it creates
// and drops). Runs, in one process and one run so the figures can be compared as ratios:
//   the ledger bench (bench/ledger.ts: pgbench tpcb-like, single earns at the service layer and
//   through the gateway, bulk earn), the wallet query bench (bench/wallet.ts: our gateway vs
//   @apollo/gateway vs the points subgraph directly, SQL per query, gateway memory, CPU profile),
//   the settlement bench (bench/settlement.ts, when present), and the mixed-load bench (bench/mixed.ts:
//   ordinary queries' p99 and gateway memory with 10 % maximum-cost queries vs without; BENCH_MIXED=0 skips);
// then writes bench/RESULTS.md (figures, machine, date, command) and bench/results.json (one
// { name, value, unit, goal, met } per goal of the issue, computed here).
// BENCH_SECONDS shortens every timed phase (default: 10 s for the ledger, 20 s for the wallet);
// BENCH_SETTLEMENT=0 skips the settlement bench (its 10M-posting load takes many minutes).
import { execFileSync } from "node:child_process";
import { existsSync, readFileSync, writeFileSync } from "node:fs";
import os from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import pg from "pg";
import type { LedgerFigures } from "./ledger.ts";
import type { MixedFigures } from "./mixed.ts";
import type { ObsFigures } from "./obs.ts";
import type { WalletFigures } from "./wallet.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const BASE = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

export interface Goal {
  name: string;
  value: number | null;
  unit: string;
  goal: string;
  met: boolean;
  note?: string;
}
type SettlementRow = { postings: number; seconds: number; bareAggregateSeconds: number };

const fmt = (n: number | null | undefined, digits = 0) => (n === null || n === undefined || !Number.isFinite(n) ? "—" : n.toLocaleString("en-US", { minimumFractionDigits: digits, maximumFractionDigits: digits }));
const errorText = (e: unknown) => (e instanceof Error ? e.message : String(e)).split("\n")[0]!.slice(0, 300);

function machine() {
  const cpu = os.cpus()[0]?.model ?? "unknown";
  let git = "unknown";
  try {
    git = execFileSync("git", ["rev-parse", "--short", "HEAD"], { cwd: HERE, encoding: "utf8" }).trim();
  } catch {
    // not a git checkout
  }
  let nproc = String(os.availableParallelism());
  try {
    nproc = execFileSync("nproc", { encoding: "utf8" }).trim();
  } catch {
    // no coreutils
  }
  return { nproc, cpu, memoryGiB: os.totalmem() / 1024 ** 3, node: process.version, git };
}

async function postgresVersion() {
  const c = new pg.Client({ connectionString: BASE });
  await c.connect();
  try {
    return ((await c.query("SHOW server_version")).rows[0] as { server_version: string }).server_version;
  } finally {
    await c.end();
  }
}

async function settlementBench(): Promise<{ rows?: SettlementRow[]; reason?: string }> {
  if (process.env.BENCH_SETTLEMENT === "0") return { reason: "not measured: skipped in this run (BENCH_SETTLEMENT=0)" };
  const file = path.join(HERE, "settlement.ts");
  if (!existsSync(file)) return { reason: "not measured: bench/settlement.ts does not exist yet (the lead wires it)" };
  try {
    const mod = (await import(pathToFileURL(file).href)) as { runSettlementBench?: () => Promise<SettlementRow[]> };
    if (typeof mod.runSettlementBench !== "function") return { reason: "not measured: bench/settlement.ts does not export runSettlementBench()" };
    return { rows: await mod.runSettlementBench() };
  } catch (e) {
    return { reason: `not measured: the settlement bench failed: ${errorText(e)}` };
  }
}

export function goals(ledger: LedgerFigures | undefined, wallet: WalletFigures | undefined, settlement: { rows?: SettlementRow[]; reason?: string }, errors: { ledger?: string; wallet?: string }): Goal[] {
  const out: Goal[] = [];
  const missing = (name: string, unit: string, goal: string, why: string | undefined) => out.push({ name, value: null, unit, goal, met: false, note: why ?? "not measured" });
  // Wallet query.
  if (wallet) {
    const vsApollo = wallet.ours.requestsPerSecond / wallet.apollo.requestsPerSecond;
    const vsDirect = wallet.ours.requestsPerSecond / wallet.direct.requestsPerSecond;
    const ok = wallet.ours.failed === 0;
    out.push({ name: "wallet query: our gateway / @apollo/gateway requests/s", value: vsApollo, unit: "ratio", goal: ">= 2", met: ok && vsApollo >= 2 });
    out.push({ name: "wallet query: our gateway / points subgraph directly requests/s", value: vsDirect, unit: "ratio", goal: ">= 0.35", met: ok && vsDirect >= 0.35 });
    out.push({ name: `wallet query p99 through our gateway at ${wallet.connections} connections`, value: wallet.ours.p99, unit: "ms", goal: "< 100", met: ok && wallet.ours.p99 < 100 });
    const [small, large] = wallet.sql;
    if (small && large) {
      out.push({
        name: `SQL statements per wallet query, large lists (${fmt(large.offers)} offers, ${fmt(large.activity)} activity entries) vs small (${fmt(small.offers)} offers, ${fmt(small.activity)} entries)`,
        value: large.sqlPerQuery / small.sqlPerQuery,
        unit: "ratio",
        goal: "<= 1.1 (does not grow with list sizes)",
        met: large.sqlPerQuery <= small.sqlPerQuery * 1.1,
        note: `${fmt(small.sqlPerQuery, 1)} → ${fmt(large.sqlPerQuery, 1)} statements per query`,
      });
    } else missing("SQL statements per wallet query (large / small lists)", "ratio", "<= 1.1 (does not grow with list sizes)", errors.wallet);
  } else {
    for (const [n, u, g] of [
      ["wallet query: our gateway / @apollo/gateway requests/s", "ratio", ">= 2"],
      ["wallet query: our gateway / points subgraph directly requests/s", "ratio", ">= 0.35"],
      ["wallet query p99 through our gateway at 50 connections", "ms", "< 100"],
      ["SQL statements per wallet query (large / small lists)", "ratio", "<= 1.1 (does not grow with list sizes)"],
    ] as const)
      missing(n, u, g, errors.wallet);
  }
  // Ledger: the gateway figures of the production arrangement (one process per service), else in-process.
  const gw = ledger?.gateway.processes ?? ledger?.gateway["in-process"];
  const tps = ledger?.pgbenchTps ?? NaN;
  if (gw && Number.isFinite(tps)) {
    const c = ledger!.ceiling;
    const note = c
      ? `our gateway alone, in front of a subgraph that costs nothing, reaches ${fmt(c.gateway.perSecond / tps, 2)} × (${fmt(c.gateway.perSecond)}/s, p99 ${fmt(c.gateway.p99)} ms, ${fmt(c.gateway.cpuMsPerRequest, 2)} ms CPU per request)`
      : undefined;
    out.push({ name: "single earns through the gateway / pgbench tpcb-like tps", value: gw.perSecond / tps, unit: "ratio", goal: ">= 0.5", met: gw.perSecond / tps >= 0.5, ...(note ? { note } : {}) });
    out.push({ name: `single earns through the gateway p99 at ${ledger!.clients} clients`, value: gw.p99, unit: "ms", goal: "< 50", met: gw.p99 < 50 });
  } else {
    missing("single earns through the gateway / pgbench tpcb-like tps", "ratio", ">= 0.5", errors.ledger);
    missing("single earns through the gateway p99 at 32 clients", "ms", "< 50", errors.ledger);
  }
  if (ledger?.service && Number.isFinite(tps)) {
    const r = ledger.service.bulkItemsPerSecond / tps;
    const floor = ledger.service.bulkFloorItemsPerSecond;
    const note = floor ? `the bare INSERTs of the same rows (no reads, no checks in code) reach ${fmt(floor / tps, 2)} × (${fmt(floor)} items/s)` : undefined;
    out.push({ name: "bulk earn items/s / pgbench tpcb-like tps", value: r, unit: "ratio", goal: ">= 5", met: r >= 5, ...(note ? { note } : {}) });
  } else missing("bulk earn items/s / pgbench tpcb-like tps", "ratio", ">= 5", errors.ledger);
  // Settlement.
  for (const size of [1_000_000, 10_000_000]) {
    const name = `settlement of ${size / 1_000_000}M postings / bare SQL aggregate`;
    const row = settlement.rows?.find((r) => r.postings === size);
    if (row) out.push({ name, value: row.seconds / row.bareAggregateSeconds, unit: "ratio", goal: "<= 2", met: row.seconds / row.bareAggregateSeconds <= 2 });
    else missing(name, "ratio", "<= 2", settlement.reason ?? `not measured: the settlement bench returned no ${size / 1_000_000}M row`);
  }
  return out;
}

function markdown(ctx: {
  m: ReturnType<typeof machine>;
  pgVersion: string;
  started: Date;
  minutes: number;
  command: string;
  load: { before: number[]; after: number[] };
  goals: Goal[];
  ledger?: LedgerFigures;
  wallet?: WalletFigures;
  settlement: { rows?: SettlementRow[]; reason?: string };
  errors: { ledger?: string; wallet?: string };
}) {
  const { m, wallet: w, ledger: l } = ctx;
  const L: string[] = [];
  L.push("# Benchmark results (issue #8)", "");
  L.push("Written by `npm run bench` (bench/suite.ts); every figure below comes from the one run described here. Compare ratios, not absolute rates: the machine is shared and its speed varies.", "");
  L.push("| | |", "|---|---|");
  L.push(`| date (UTC) | ${ctx.started.toISOString()} (${ctx.minutes.toFixed(1)} min) |`);
  L.push(`| command | \`${ctx.command}\` |`);
  L.push(`| commit | ${m.git} |`);
  L.push(`| machine | \`nproc\` ${m.nproc}, ${m.cpu}, ${m.memoryGiB.toFixed(1)} GiB memory |`);
  L.push(`| software | Node ${m.node}, PostgreSQL ${ctx.pgVersion} (local, 127.0.0.1:5432) |`);
  L.push(`| load average before / after | ${ctx.load.before.map((x) => x.toFixed(2)).join(" ")} / ${ctx.load.after.map((x) => x.toFixed(2)).join(" ")} (other work shares these cores) |`);
  L.push("");
  L.push("## Goals", "", "| goal | measured | target | met |", "|---|---|---|---|");
  for (const g of ctx.goals)
    L.push(
      `| ${g.name} | ${g.value === null ? "—" : `${fmt(g.value, g.unit === "ms" ? 0 : 2)}${g.unit === "ms" ? " ms" : " ×"}`}${g.note ? ` (${g.note})` : ""} | ${g.goal}${g.unit === "ms" ? " ms" : ""} | ${g.met ? "yes" : "**no**"} |`,
    );
  L.push("");

  L.push("## Wallet query", "");
  if (w) {
    L.push(
      `\`me { id displayName wallet tier eligibleOffers { coIssuers { shareBps partner { id name } } } activity(first: 20) { … partner { id name } } }\` (bench/wallet.ts, WALLET_QUERY): member → points → partner (offers) and partner (activity's partners), a random one of ${w.members} seeded members' tokens per request, ${w.connections} connections, on the same subgraph processes (member, points, partner: one process each, as docker-compose runs them). The arrangements take turns: ${w.rounds} rounds of ${w.windowSeconds} s windows each (A B C, B C A, C A B, …), figures are the medians of each arrangement's windows, so the shared machine's noise hits all alike. Before loading, 50 different members' queries are sent to each gateway at once and each answer must be that member's own. Load from autocannon in a worker thread of the bench process; each gateway in its own process; gateway CPU per request from the gateway process's cpuUsage over the window.`,
      "",
    );
    L.push("| arrangement | requests/s (median) | windows' requests/s | p50 | p99 | gateway CPU / request | failed | ours / this |", "|---|---|---|---|---|---|---|---|");
    const runs = (k?: keyof WalletFigures["windows"]) => (k && w.windows?.[k]?.length ? w.windows[k].map((f) => fmt(f.requestsPerSecond)).join(", ") : "");
    const row = (name: string, f: WalletFigures["ours"], k?: keyof WalletFigures["windows"]) =>
      `| ${name} | ${fmt(f.requestsPerSecond)} | ${runs(k)} | ${fmt(f.p50)} ms | ${fmt(f.p99)} ms | ${f.cpuMsPerRequest ? `${fmt(f.cpuMsPerRequest, 2)} ms` : ""} | ${f.failed} | ${fmt(w.ours.requestsPerSecond / f.requestsPerSecond, 2)} |`;
    L.push(row("our gateway (Hive gateway runtime + Rust planner)", w.ours, "ours"));
    L.push(row("@apollo/gateway 2.14 on @apollo/server 5 (same subgraphs, same supergraph, same identity signing)", w.apollo, "apollo"));
    L.push(row("@apollo/gateway at 1 connection (does it scale with concurrency?)", w.apolloOneConnection));
    L.push(row("points subgraph directly (the plan's points fetch verbatim: `_entities` wallet + tier + activity(20) + tierLevel, signed identity): the ceiling", w.direct, "direct"));
    L.push("");
    L.push("Gateway memory under that load (sampled every 250 ms in the gateway process):", "");
    L.push("| gateway | RSS idle | RSS peak | heap used peak |", "|---|---|---|---|");
    L.push(`| ours | ${fmt(w.oursMemory.idleRssMb)} MB | ${fmt(w.oursMemory.peakRssMb)} MB | ${fmt(w.oursMemory.peakHeapUsedMb)} MB |`);
    L.push(`| @apollo/gateway | ${fmt(w.apolloMemory.idleRssMb)} MB | ${fmt(w.apolloMemory.peakRssMb)} MB | ${fmt(w.apolloMemory.peakHeapUsedMb)} MB |`);
    L.push("");
    L.push(
      "SQL statements per wallet query through the gateway (counted at the pg driver: every statement the three subgraphs send, BEGIN/COMMIT included; 30 members' queries, sequential), and Prisma operations per subgraph:",
      "",
    );
    L.push("| lists | eligible offers | co-issuers | activity entries | SQL statements / query | Prisma ops member / points / partner |", "|---|---|---|---|---|---|");
    for (const s of w.sql)
      L.push(
        `| ${s.label} | ${fmt(s.offers, 1)} | ${fmt(s.coIssuers, 1)} | ${fmt(s.activity, 1)} | ${fmt(s.sqlPerQuery, 1)} | ${fmt(s.prismaOpsPerQuery.member, 1)} / ${fmt(s.prismaOpsPerQuery.points, 1)} / ${fmt(s.prismaOpsPerQuery.partner, 1)} |`,
      );
    L.push("");
  } else L.push(`Not measured: ${ctx.errors.wallet ?? "skipped"}`, "");

  L.push("## Ledger", "");
  if (l) {
    L.push(`bench/ledger.ts, ${l.clients} clients, ${l.seconds} s per phase.`, "");
    L.push("| figure | per second | p50 | p99 | × pgbench |", "|---|---|---|---|---|");
    L.push(`| pgbench tpcb-like (8 clients, scale 10) on the same server | ${fmt(l.pgbenchTps)} tps | | | 1.00 |`);
    const x = (v: number) => fmt(v / l.pgbenchTps, 2);
    if (l.service) {
      L.push(`| single earns, service layer, group commit | ${fmt(l.service.grouped.perSecond)} | ${fmt(l.service.grouped.p50, 1)} ms | ${fmt(l.service.grouped.p99, 1)} ms | ${x(l.service.grouped.perSecond)} |`);
      L.push(
        `| single earns, service layer, one transaction per earn | ${fmt(l.service.ungrouped.perSecond)} | ${fmt(l.service.ungrouped.p50, 1)} ms | ${fmt(l.service.ungrouped.p99, 1)} ms | ${x(l.service.ungrouped.perSecond)} |`,
      );
      L.push(`| bulk earn, service layer (awardPointsBatch, 5,000 items per call) | ${fmt(l.service.bulkItemsPerSecond)} items | | | ${x(l.service.bulkItemsPerSecond)} |`);
      if (l.service.bulkFloorItemsPerSecond)
        L.push(
          `| bulk floor: the rows a bulk item writes as bare INSERTs (500 per transaction, 2 at once; nothing read, locked or checked in code) | ${fmt(l.service.bulkFloorItemsPerSecond)} items | | | ${x(l.service.bulkFloorItemsPerSecond)} |`,
        );
    }
    if (l.ceiling)
      L.push(
        `| gateway ceiling: our gateway alone (its own process) in front of a subgraph that costs nothing (bench/ceiling.ts; ${fmt(l.ceiling.gateway.cpuMsPerRequest, 2)} ms gateway CPU per request) | ${fmt(l.ceiling.gateway.perSecond)} | ${fmt(l.ceiling.gateway.p50, 1)} ms | ${fmt(l.ceiling.gateway.p99, 1)} ms | ${x(l.ceiling.gateway.perSecond)} |`,
        `| the same canned subgraph loaded directly (load generator + loopback HTTP) | ${fmt(l.ceiling.direct.perSecond)} | ${fmt(l.ceiling.direct.p50, 1)} ms | ${fmt(l.ceiling.direct.p99, 1)} ms | ${x(l.ceiling.direct.perSecond)} |`,
      );
    for (const [mode, g] of Object.entries(l.gateway)) {
      const where = mode === "processes" ? "one process per service" : "hub in one process";
      L.push(`| single earns through the gateway (${where}) | ${fmt(g.perSecond)} | ${fmt(g.p50, 1)} ms | ${fmt(g.p99, 1)} ms | ${x(g.perSecond)} |`);
      L.push(`| bulk earn through the gateway (${where}, 1,000 items per call) | ${fmt(g.bulkItemsPerSecond)} items | | | ${x(g.bulkItemsPerSecond)} |`);
    }
    L.push("");
  } else L.push(`Not measured: ${ctx.errors.ledger ?? "skipped"}`, "");

  L.push("## Settlement", "");
  if (ctx.settlement.rows?.length) {
    L.push("| postings | settlement | bare SQL aggregate | ratio |", "|---|---|---|---|");
    for (const r of ctx.settlement.rows) L.push(`| ${fmt(r.postings)} | ${fmt(r.seconds, 2)} s | ${fmt(r.bareAggregateSeconds, 2)} s | ${fmt(r.seconds / r.bareAggregateSeconds, 2)} |`);
  } else L.push(ctx.settlement.reason ?? "Not measured.");
  L.push("");

  L.push("## Where the gateway's time goes (wallet query)", "");
  if (w?.profile) {
    const p = w.profile;
    L.push(
      `CPU profile of our gateway process (inspector Profiler, 0.5 ms sampling) over ${fmt(Math.min(w.seconds, 10))} s of the same ${w.connections}-connection wallet load, start-up excluded: ${fmt(100 - p.idlePercent)} % of the time busy. Self time by module (share of busy time):`,
      "",
    );
    L.push("| module | self time | share |", "|---|---|---|");
    for (const e of p.modules) L.push(`| ${e.name} | ${fmt(e.selfMs)} ms | ${fmt(e.percent, 1)} % |`);
    L.push("", "Top functions by self time:", "", "| function | self time | share |", "|---|---|---|");
    for (const e of p.functions) L.push(`| \`${e.name}\` | ${fmt(e.selfMs)} ms | ${fmt(e.percent, 1)} % |`);
    L.push("", `Profile file (open in Chrome DevTools → Performance, or speedscope): \`${p.file}\``);
    for (const [sg, sp] of Object.entries(w.subgraphProfiles ?? {})) {
      L.push(
        "",
        `${sg} subgraph (whole process life, start-up included; BENCH_PROFILE_SUBGRAPHS=1): ${fmt(100 - sp.idlePercent)} % busy; by module: ${sp.modules
          .slice(0, 8)
          .map((m) => `${m.name} ${fmt(m.percent, 0)} %`)
          .join(", ")}`,
      );
    }
  } else L.push("Not profiled (BENCH_PROFILE=0 or the wallet bench did not run).");
  L.push("");
  L.push("## Notes", "");
  L.push(
    "- @apollo/gateway is given Node's own fetch (undici) as its fetcher: its default (make-fetch-happen) spent its time in agent-base's `isSecureEndpoint` (a stack trace per subgraph request) and was slower still. It verifies the same ES256 access tokens with the same key set and signs the same x-hub-identity assertion (cached per token) as ours (bench/gateway-child.ts).",
  );
  L.push("- The wallet arrangements alternate in short windows (medians reported) on a shared 2-core machine: the load generator, the gateways, three subgraphs and PostgreSQL share the cores with other work.");
  L.push(
    "- Until commit ab29240 our gateway merged concurrent subgraph requests with identical bodies (executor-http's in-flight deduplication ignores the identity header added in onFetch): its earlier 600 req/s were mostly other members' answers. The bench now refuses any gateway that answers a member with another member's data.",
  );
  return `${L.join("\n")}\n`;
}

function mixedMarkdown(x: MixedFigures | undefined, error?: string): string {
  const L = ["## Mixed load with maximum-cost queries (issue 14)", ""];
  if (!x) return `${[...L, `Not measured: ${error ?? "skipped"}`, ""].join("\n")}\n`;
  L.push(
    `bench/mixed.ts: ${x.connections} clients, each sending one request after the other; the members' wallet query (ordinary), and in the mixed arrangement 1 request in 10 a partner's query at the partner maximum (estimated cost ${fmt(x.heavyCost)} of ${fmt(x.heavyAllowed)} allowed: accepted and executed). The two arrangements alternate, ${x.rounds} windows of ${fmt(x.windowSeconds, 1)} s each; subgraphs and gateway in their own processes; gateway RSS sampled every 100 ms.`,
    "",
    "| arrangement | requests/s | ordinary p50 | ordinary p99 | maximum-cost p99 | gateway RSS peak |",
    "|---|---|---|---|---|---|",
    `| ordinary only | ${fmt(x.ordinary.perSecond)} | ${fmt(x.ordinary.p50)} ms | ${fmt(x.ordinary.p99)} ms | | ${fmt(x.rss.ordinaryPeakMb)} MB |`,
    `| with ${fmt(x.mixed.heavyShare * 100, 1)} % maximum-cost queries | ${fmt(x.mixed.perSecond)} | ${fmt(x.mixed.p50)} ms | ${fmt(x.mixed.p99)} ms | ${fmt(x.mixed.heavyP99)} ms | ${fmt(x.rss.mixedPeakMb)} MB |`,
    "",
    `Ordinary p99 with / without: ${fmt(x.p99Ratio, 2)} × (goal ≤ 2). Gateway RSS idle ${fmt(x.rss.idleMb)} MB. Failed requests: ${x.failed}; maximum-cost queries refused: ${x.mixed.heavyRefused}.`,
    "",
  );
  return `${L.join("\n")}\n`;
}

export async function runSuite() {
  const started = new Date();
  const t0 = performance.now();
  const load = { before: os.loadavg(), after: [] as number[] };
  const command = `${["BENCH_SECONDS", "BENCH_SETTLEMENT", "BENCH_SETTLEMENT_SIZES"]
    .filter((k) => process.env[k])
    .map((k) => `${k}=${process.env[k]} `)
    .join("")}npm run bench`;
  const m = machine();
  const pgVersion = await postgresVersion().catch((e) => `unknown (${errorText(e)})`);
  const errors: { ledger?: string; wallet?: string } = {};
  let ledger: LedgerFigures | undefined;
  let wallet: WalletFigures | undefined;
  console.log(`== ledger bench (bench/ledger.ts)`);
  try {
    ledger = await (await import("./ledger.ts")).runLedgerBench();
  } catch (e) {
    errors.ledger = `the ledger bench failed: ${errorText(e)}`;
    console.error(e);
  }
  console.log(`== wallet bench (bench/wallet.ts)`);
  try {
    wallet = await (await import("./wallet.ts")).runWalletBench({ profileFile: path.join(os.tmpdir(), `bench-wallet-gateway-${Date.now()}.cpuprofile`) });
  } catch (e) {
    errors.wallet = `the wallet bench failed: ${errorText(e)}`;
    console.error(e);
  }
  console.log(`== settlement bench (bench/settlement.ts)`);
  const settlement = await settlementBench();
  if (settlement.reason) console.log(settlement.reason);
  // Issue 14: the gateway under a mixed load with 10 % maximum-cost queries (BENCH_MIXED=0 skips).
  let mixed: MixedFigures | undefined;
  let mixedError: string | undefined;
  if (process.env.BENCH_MIXED !== "0") {
    console.log(`== mixed-load bench (bench/mixed.ts)`);
    try {
      mixed = await (await import("./mixed.ts")).runMixedBench();
    } catch (e) {
      mixedError = `the mixed-load bench failed: ${errorText(e)}`;
      console.error(e);
    }
  } else mixedError = "skipped (BENCH_MIXED=0)";
  // Issue 18: tracing (10 % sampled) + metrics + request logs, on vs off, alternating (BENCH_OBS=0 skips).
  let obs: ObsFigures | undefined;
  let obsError: string | undefined;
  if (process.env.BENCH_OBS !== "0") {
    console.log(`== observability overhead bench (bench/obs.ts)`);
    try {
      const mod = await import("./obs.ts");
      obs = await mod.runObsBench();
      mod.printObs(obs);
    } catch (e) {
      obsError = `the observability bench failed: ${errorText(e)}`;
      console.error(e);
    }
  } else obsError = "skipped (BENCH_OBS=0)";
  load.after = os.loadavg();
  const list = goals(ledger, wallet, settlement, errors);
  const mixedGoal = "ordinary queries' p99 with 10 % maximum-cost queries / without";
  if (mixed)
    list.push({
      name: mixedGoal,
      value: mixed.p99Ratio,
      unit: "ratio",
      goal: "<= 2",
      met: mixed.p99Ratio <= 2,
      note: `${fmt(mixed.mixed.p99)} ms vs ${fmt(mixed.ordinary.p99)} ms; gateway RSS peak ${fmt(mixed.rss.mixedPeakMb)} MB vs ${fmt(mixed.rss.ordinaryPeakMb)} MB`,
    });
  else list.push({ name: mixedGoal, value: null, unit: "ratio", goal: "<= 2", met: false, note: mixedError });
  for (const [kind, name] of [
    ["wallet", "wallet query throughput with tracing (10 %) + metrics + logs / without"],
    ["earn", "single-earn throughput with tracing (10 %) + metrics + logs / without"],
  ] as const) {
    const c = obs?.[kind];
    list.push(
      c
        ? {
            name,
            value: c.ratio,
            unit: "ratio",
            goal: ">= 0.90",
            met: c.ratio >= 0.9,
            note: `${fmt(c.on.perSecond)}/s vs ${fmt(c.off.perSecond)}/s; windows on ${c.windows.on.join(", ")} / off ${c.windows.off.join(", ")}; hub CPU per request ${c.off.cpuMsPerRequest.toFixed(2)} → ${c.on.cpuMsPerRequest.toFixed(2)} ms (+${((c.cpuRatio - 1) * 100).toFixed(1)} %)`,
          }
        : { name, value: null, unit: "ratio", goal: ">= 0.90", met: false, note: obsError },
    );
  }
  let md = markdown({ m, pgVersion, started, minutes: (performance.now() - t0) / 60_000, command, load, goals: list, ledger, wallet, settlement, errors });
  md += mixedMarkdown(mixed, mixedError);
  if (obs)
    md += `\n## Observability overhead (issue 18)\n\nbench/obs.ts: two embedded hubs on one PostgreSQL database, "off" (tracing off, warn-level logs) and "on" (OTLP export to a local sink, ${obs.sampleRatio * 100} % of requests traced, one JSON log line per request per server, /metrics scraped every 5 s); ${obs.rounds} alternating windows of ${obs.seconds} s, ${obs.connections} connections. Wallet query: ${fmt(obs.wallet.on.perSecond)}/s on vs ${fmt(obs.wallet.off.perSecond)}/s off (${fmt(obs.wallet.ratio, 3)}); single earns: ${fmt(obs.earn.on.perSecond)}/s vs ${fmt(obs.earn.off.perSecond)}/s (${fmt(obs.earn.ratio, 3)}). ${obs.loadAverage}\n`;
  // The measured reasons behind missed goals and what would close them: written by people from
  // profiles and experiments (bench/FINDINGS.md), carried into every RESULTS.md.
  const findings = path.join(HERE, "FINDINGS.md");
  if (existsSync(findings)) md += `\n${readFileSync(findings, "utf8").trim()}\n`;
  writeFileSync(path.join(HERE, "RESULTS.md"), md);
  writeFileSync(path.join(HERE, "results.json"), `${JSON.stringify(list, null, 2)}\n`);
  console.log(`\nwrote bench/RESULTS.md and bench/results.json`);
  for (const g of list) console.log(`${g.met ? "MET   " : "MISSED"} ${g.name}: ${g.value === null ? "—" : fmt(g.value, 2)} ${g.unit} (goal ${g.goal})${g.note ? ` — ${g.note}` : ""}`);
  return list;
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await runSuite();
  process.exit(0);
}
