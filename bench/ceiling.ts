// `npm run bench:ceiling`: how fast can our gateway answer the earn mutation when the subgraph
// behind it costs nothing? Our gateway (bench/gateway-child.ts, its own process, as deployed) in
// front of bench/canned-subgraph.cjs (its own process: one fixed awardPoints answer per request),
// loaded like the ledger bench (BENCH_CLIENTS, default 32, connections; BENCH_SECONDS, default 10;
// the same request hooks, autocannon in a worker thread). Also loads the canned subgraph directly:
// what the load generator and loopback HTTP alone reach on this machine.
// This bounds the earn goal of issues #4/#8 from above: real earns also need the points subgraph
// and PostgreSQL, on the same 2 cores, so they cannot beat the gateway alone.
// BENCH_CEILING_PROFILE=<file.cpuprofile>: a CPU profile of the gateway over the load window only.
import { type ChildProcess, spawn } from "node:child_process";
import { randomBytes, randomUUID } from "node:crypto";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import autocannon from "autocannon";
import { SignJWT } from "jose";
import { KeySet } from "../gateway/src/auth/keys.ts";
import { ACCESS_TOKEN_TYP } from "../gateway/src/auth/verify.ts";
import { startGatewayChild } from "./processes.ts";

const HERE = path.dirname(fileURLToPath(import.meta.url));
const CLIENTS = Number(process.env.BENCH_CLIENTS ?? 32);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);

export interface CeilingFigures {
  clients: number;
  seconds: number;
  /** Our gateway in front of the canned subgraph. */
  gateway: { perSecond: number; p50: number; p99: number; cpuMsPerRequest: number };
  /** The canned subgraph loaded directly (load generator + loopback HTTP). */
  direct: { perSecond: number; p50: number; p99: number };
}

async function load(url: string, headers: Record<string, string>) {
  const r = await autocannon({
    url,
    connections: CLIENTS,
    duration: SECONDS,
    workers: 1,
    method: "POST",
    headers: { "content-type": "application/json", ...headers },
    requests: [{ method: "POST", setupRequest: path.join(HERE, "earn-request.cjs") }],
    verifyBody: path.join(HERE, "earn-verify.cjs"),
  });
  const failed = r.non2xx + r.errors + r.timeouts + r.mismatches;
  if (failed) throw new Error(`ceiling: ${failed} of ${r.requests.total} requests failed (non2xx ${r.non2xx}, errors ${r.errors}, timeouts ${r.timeouts}, GraphQL errors ${r.mismatches})`);
  return { perSecond: r.requests.total / r.duration, p50: r.latency.p50, p99: r.latency.p99, requests: r.requests.total };
}

export async function runCeilingBench(): Promise<CeilingFigures> {
  const dataDir = mkdtempSync(path.join(tmpdir(), "bench-ceiling-"));
  let canned: ChildProcess | undefined;
  let gw: Awaited<ReturnType<typeof startGatewayChild>> | undefined;
  try {
    canned = spawn(process.execPath, [path.join(HERE, "canned-subgraph.cjs")], { stdio: ["ignore", "pipe", "inherit"] });
    const cannedUrl = await new Promise<string>((resolve, reject) => {
      canned!.once("exit", (code) => reject(new Error(`canned subgraph exited with ${code}`)));
      canned!.stdout!.on("data", (b: Buffer) => {
        const port = /port (\d+)/.exec(b.toString())?.[1];
        if (port) resolve(`http://127.0.0.1:${port}`);
      });
    });
    const env = { ...process.env, HUB_INTERNAL_SECRET: randomBytes(32).toString("hex"), HUB_DATA_DIR: dataDir, HUB_LOG_LEVEL: "warn", HUB_MEMBER_URL: cannedUrl, HUB_POINTS_URL: cannedUrl, HUB_PARTNER_URL: cannedUrl };
    gw = await startGatewayChild("ours", env);
    const gatewayUrl = gw.url;
    const cpu = () => gw!.request<NodeJS.CpuUsage>("cpu", "cpu");
    // A partner access token signed with the keys the gateway generated in dataDir (what the token
    // endpoint would issue to a partner client).
    const keys = await KeySet.fromConfig({ dataDir });
    const { kid, privateKey } = keys.signing();
    const token = await new SignJWT({ role: "PARTNER", partner_id: randomUUID(), scope: "", client_id: "bench-ceiling", purpose: "ACCOUNT_SERVICING" })
      .setProtectedHeader({ alg: "ES256", kid, typ: ACCESS_TOKEN_TYP })
      .setIssuer("https://coalition-hub.local")
      .setAudience("coalition-hub-api")
      .setSubject("bench-ceiling")
      .setIssuedAt()
      .setExpirationTime("15m")
      .setJti(randomUUID())
      .sign(privateKey);
    keys.close();
    process.env.BENCH_MEMBER_IDS = Array.from({ length: 2_000 }, () => randomUUID()).join(",");
    const headers = { authorization: `Bearer ${token}` };
    // Warm up (plan cache, JIT), then measure.
    for (let i = 0; i < 50; i++) {
      const r = await fetch(gatewayUrl, {
        method: "POST",
        headers: { "content-type": "application/json", ...headers },
        body: JSON.stringify({
          query: "mutation Earn($input: AwardPointsInput!) { awardPoints(input: $input) { id points } }",
          variables: { input: { memberId: randomUUID(), purchaseAmount: "12.50", idempotencyKey: `warm-${i}` } },
        }),
      });
      const body = (await r.json()) as { errors?: { message: string }[] };
      if (body.errors?.length) throw new Error(`ceiling warm-up: ${body.errors[0]!.message}`);
    }
    const profile = process.env.BENCH_CEILING_PROFILE;
    if (profile) await gw.request("profile-start", "profiling");
    const c0 = await cpu();
    const g = await load(gatewayUrl, headers);
    const c1 = await cpu();
    if (profile) await gw.request({ profileStop: profile }, "profiled");
    const d = await load(`${cannedUrl}/graphql`, {});
    const figures: CeilingFigures = {
      clients: CLIENTS,
      seconds: SECONDS,
      gateway: { perSecond: g.perSecond, p50: g.p50, p99: g.p99, cpuMsPerRequest: (c1.user - c0.user + c1.system - c0.system) / 1000 / g.requests },
      direct: { perSecond: d.perSecond, p50: d.p50, p99: d.p99 },
    };
    console.log(
      `gateway ceiling (our gateway, its own process, in front of a subgraph that costs nothing; ${CLIENTS} clients): ${g.perSecond.toFixed(0)} earns/s  p50 ${g.p50.toFixed(1)} ms  p99 ${g.p99.toFixed(1)} ms  (gateway CPU ${figures.gateway.cpuMsPerRequest.toFixed(2)} ms per request)`,
    );
    console.log(`the canned subgraph directly (load generator + loopback HTTP): ${d.perSecond.toFixed(0)}/s  p50 ${d.p50.toFixed(1)} ms  p99 ${d.p99.toFixed(1)} ms`);
    return figures;
  } finally {
    await gw?.stop();
    if (canned && canned.exitCode === null && canned.signalCode === null) {
      const exited = new Promise((r) => canned!.once("exit", r));
      canned.kill("SIGTERM");
      await exited;
    }
    rmSync(dataDir, { recursive: true, force: true });
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(path.resolve(process.argv[1])).href) {
  await runCeilingBench();
  process.exit(0);
}
