// `npm run bench:mixed` (and part of `npm run bench`): the gateway under a mixed load that includes
// 10 % maximum-cost queries (issue 14, "Measure"), compared with the same load without them.
// On a scratch PostgreSQL database: the demo coalition (BENCH_MIXED_MEMBERS members, default 200)
// is seeded through the hub in this process; then the subgraphs each run in their own process
// and our gateway in its own (bench/processes.ts). Load: BENCH_MIXED_CONNECTIONS (default 20)
// concurrent clients, each sending one request after the other:
//   A (ordinary): the members' wallet query (bench/wallet.ts WALLET_QUERY), a random member each;
//   B (mixed): the same, but 1 request in 10 is a partner's query whose estimated cost is at the
//     partner maximum (HEAVY_QUERY: accepted and executed, the most a partner may ask at once).
// A and B alternate in short windows (A B A B …, BENCH_SECONDS in all per arrangement), so the
// shared machine's noise hits both alike. Reported: the ordinary queries' p50/p99 in each, their
// ratio (goal: B's p99 at most 2 × A's), the heavy queries' p99, and the gateway's RSS (sampled
// every 100 ms in its process) in each arrangement.
import { randomBytes } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { pathToFileURL } from "node:url";
import { parse } from "graphql";
import pg from "pg";
import { estimateCost } from "../gateway/src/cost.ts";
import { apiSchema, DEFAULT_LIMITS } from "../gateway/src/limits.ts";
import { migrate, openDatabase } from "../lib/db.ts";
import { seedDemo } from "../prisma/seed.ts";
import { startHub, SUPERGRAPH_PATH } from "../scripts/hub.ts";
import { memberTokensBySignIn } from "./member-tokens.ts";
import { startGatewayChild, startServices } from "./processes.ts";
import { WALLET_QUERY } from "./wallet.ts";

const BASE = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

/** A partner's query at (just under) the partner maximum: offers with co-issuers, their clients and redemption partners. */
export const HEAVY_QUERY = `query Heavy { partners { id name } offers(first: 100) { edges { node { id title coIssuers { shareBps partner { id name apiClients { clientId } rateHistory { issuePrice } } } redeemableAt { id name } } } } }`;

export interface MixedFigures {
  connections: number;
  windowSeconds: number;
  rounds: number;
  heavyCost: number;
  heavyAllowed: number;
  ordinary: { p50: number; p99: number; perSecond: number };
  mixed: { p50: number; p99: number; perSecond: number; heavyP99: number; heavyShare: number; heavyRefused: number };
  p99Ratio: number;
  rss: { idleMb: number; ordinaryPeakMb: number; mixedPeakMb: number };
  failed: number;
}

const pct = (xs: number[], p: number) => {
  if (!xs.length) return NaN;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))]!;
};

async function admin(sql: string) {
  const c = new pg.Client({ connectionString: BASE });
  await c.connect();
  try {
    return await c.query(sql);
  } finally {
    await c.end();
  }
}

export async function runMixedBench(opts: { seconds?: number; connections?: number; members?: number } = {}): Promise<MixedFigures> {
  const seconds = opts.seconds ?? Number(process.env.BENCH_SECONDS ?? 20);
  const connections = opts.connections ?? Number(process.env.BENCH_MIXED_CONNECTIONS ?? 20);
  const members = opts.members ?? Number(process.env.BENCH_MIXED_MEMBERS ?? 200);
  const rounds = Math.max(2, Math.round(seconds / 5));
  const windowSeconds = Math.max(2, seconds / rounds);
  const heavyCost = estimateCost(apiSchema(readFileSync(SUPERGRAPH_PATH, "utf8")), parse(HEAVY_QUERY), "Heavy", {}).data;
  const heavyAllowed = DEFAULT_LIMITS.maxCost.PARTNER;
  const name = `bench_mixed_${process.pid}_${Date.now()}`;
  const u = new URL(BASE);
  u.pathname = `/${name}`;
  await admin(`CREATE DATABASE "${name}"`);
  const dataDir = mkdtempSync(path.join(tmpdir(), "bench-mixed-"));
  const db = await openDatabase({ url: u.toString(), poolSize: 10 });
  const secret = randomBytes(32).toString("hex");
  const stops: (() => Promise<unknown>)[] = [];
  try {
    await migrate(db);
    const hub = await startHub({ db, internalSecret: secret, dataDir, jobs: false, relayIntervalMs: 3_600_000 });
    const client = db.client();
    try {
      await seedDemo(client, { flushEvents: hub.flushEvents, members });
      await hub.flushEvents();
    } finally {
      await hub.close();
    }
    const services = await startServices({ services: ["member", "points", "partner"], databaseUrl: u.toString(), internalSecret: secret, dataDir });
    stops.push(() => services.stop());
    const gateway = await startGatewayChild("ours", services.env);
    stops.unshift(() => gateway.stop());
    const tokenUrl = gateway.url.replace(/\/graphql$/, "/oauth/token");
    const token = async (form: Record<string, string>) => {
      const r = await fetch(tokenUrl, { method: "POST", body: new URLSearchParams(form) });
      const body = (await r.json()) as { access_token?: string };
      if (!body.access_token) throw new Error(`token request failed: ${JSON.stringify(body)}`);
      return body.access_token;
    };
    // Member tokens through the real sign-in (bench/member-tokens.ts), and one partner's token.
    const partners = new Map((await client.partner.findMany({ select: { id: true, slug: true } })).map((p) => [p.id, p.slug]));
    const linked = await client.linkedAccount.findMany({ where: { confirmedAt: { not: null } }, orderBy: [{ memberId: "asc" }, { linkedAt: "asc" }], select: { memberId: true } });
    const memberTokens = (await memberTokensBySignIn(gateway.url.replace(/\/graphql$/, ""), [...new Set(linked.map((l) => l.memberId))].slice(0, 50))).map((t) => t.token);
    const slug = [...partners.values()][0]!;
    const partnerToken = await token({ grant_type: "client_credentials", client_id: `demo-${slug}`, client_secret: `demo-${slug}-secret` });

    let failed = 0;
    let heavyRefused = 0;
    const send = async (heavy: boolean) => {
      const t0 = performance.now();
      const res = await fetch(gateway.url, {
        method: "POST",
        headers: { "content-type": "application/json", authorization: `Bearer ${heavy ? partnerToken : memberTokens[Math.floor(Math.random() * memberTokens.length)]}` },
        body: JSON.stringify(heavy ? { query: HEAVY_QUERY, operationName: "Heavy" } : { query: WALLET_QUERY, variables: { first: 20 } }),
      });
      const body = (await res.json()) as { data?: unknown; errors?: { extensions?: { code?: string } }[] };
      const ms = performance.now() - t0;
      if (heavy && body.errors?.some((e) => e.extensions?.code === "QUERY_TOO_COSTLY")) heavyRefused++;
      else if (!res.ok || body.errors?.length) failed++;
      return ms;
    };
    // Warm-up: plans cached, connections open.
    for (let i = 0; i < 20; i++) await Promise.all([send(false), send(true)]);
    const idleMb = (await gateway.memory()).rss / 1048576;

    const window = async (heavyShare: number) => {
      const ordinary: number[] = [];
      const heavy: number[] = [];
      let peak = 0;
      let sampling = true;
      const sampler = (async () => {
        while (sampling) {
          peak = Math.max(peak, (await gateway.memory()).rss);
          await new Promise((r) => setTimeout(r, 100));
        }
      })();
      const until = performance.now() + windowSeconds * 1000;
      let n = 0;
      await Promise.all(
        Array.from({ length: connections }, async () => {
          while (performance.now() < until) {
            // Every 10th request overall is heavy in the mixed arrangement (deterministic share).
            const isHeavy = heavyShare > 0 && n++ % Math.round(1 / heavyShare) === 0;
            (isHeavy ? heavy : ordinary).push(await send(isHeavy));
          }
        }),
      );
      sampling = false;
      await sampler;
      return { ordinary, heavy, peakMb: peak / 1048576 };
    };
    const a: Awaited<ReturnType<typeof window>>[] = [];
    const b: Awaited<ReturnType<typeof window>>[] = [];
    for (let r = 0; r < rounds; r++) {
      // A B, then B A: neither always goes first.
      if (r % 2 === 0) {
        a.push(await window(0));
        b.push(await window(0.1));
      } else {
        b.push(await window(0.1));
        a.push(await window(0));
      }
      console.log(`mixed: round ${r + 1}/${rounds}: ordinary p99 ${pct(a.at(-1)!.ordinary, 99).toFixed(0)} ms without, ${pct(b.at(-1)!.ordinary, 99).toFixed(0)} ms with 10 % maximum-cost queries`);
    }
    const all = (ws: typeof a, k: "ordinary" | "heavy") => ws.flatMap((w) => w[k]);
    const ordinary = { p50: pct(all(a, "ordinary"), 50), p99: pct(all(a, "ordinary"), 99), perSecond: all(a, "ordinary").length / (windowSeconds * rounds) };
    const heavyCount = all(b, "heavy").length;
    const mixed = {
      p50: pct(all(b, "ordinary"), 50),
      p99: pct(all(b, "ordinary"), 99),
      perSecond: (all(b, "ordinary").length + heavyCount) / (windowSeconds * rounds),
      heavyP99: pct(all(b, "heavy"), 99),
      heavyShare: heavyCount / (heavyCount + all(b, "ordinary").length),
      heavyRefused,
    };
    const figures: MixedFigures = {
      connections,
      windowSeconds,
      rounds,
      heavyCost,
      heavyAllowed,
      ordinary,
      mixed,
      p99Ratio: mixed.p99 / ordinary.p99,
      rss: { idleMb, ordinaryPeakMb: Math.max(...a.map((w) => w.peakMb)), mixedPeakMb: Math.max(...b.map((w) => w.peakMb)) },
      failed,
    };
    console.log(
      `mixed: ${connections} clients, ${rounds} × ${windowSeconds.toFixed(1)} s per arrangement; heavy query estimated cost ${heavyCost} (partner maximum ${heavyAllowed})\n` +
        `  ordinary only:            ${ordinary.perSecond.toFixed(0)} req/s, p50 ${ordinary.p50.toFixed(0)} ms, p99 ${ordinary.p99.toFixed(0)} ms, gateway RSS peak ${figures.rss.ordinaryPeakMb.toFixed(0)} MB\n` +
        `  with 10 % maximum-cost:   ${mixed.perSecond.toFixed(0)} req/s, ordinary p50 ${mixed.p50.toFixed(0)} ms, p99 ${mixed.p99.toFixed(0)} ms; heavy p99 ${mixed.heavyP99.toFixed(0)} ms (${(mixed.heavyShare * 100).toFixed(1)} % of requests); gateway RSS peak ${figures.rss.mixedPeakMb.toFixed(0)} MB\n` +
        `  ordinary p99 with / without: ${figures.p99Ratio.toFixed(2)} × (goal ≤ 2); idle RSS ${idleMb.toFixed(0)} MB; failed ${failed}, heavy refused ${heavyRefused}`,
    );
    return figures;
  } finally {
    for (const s of stops) await s().catch(() => undefined);
    await db.close();
    await admin(`DROP DATABASE IF EXISTS "${name}" WITH (FORCE)`).catch(() => undefined);
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await runMixedBench();
  process.exit(0);
}
