// `npm run bench:startup`: how long `npm start` takes until /readyz answers 200 with the demo
// coalition seeded, alternating a first start (an empty HUB_DATA_DIR: migrations + demo seed) and a
// restart (the same directory again), BENCH_ROUNDS times (default 2). Each run is the real entry
// point (`node --import tsx scripts/start.ts`) in its own process on ports the OS hands out; the
// clock runs from spawn to the first /readyz 200, and the demo is then checked through the API
// (the demo-admin client gets a token and sees the three demo partners and 500 members' worth of
// links). A first start copies the embedded database's template (an initdb'd, migrated cluster that
// `npm install` makes; made here first if missing); each round also times a first start without it
// (HUB_PGLITE_TEMPLATE=off: initdb and migrations in the start). The phase lines the hub logs ("startup phase") are collected and printed per run, so a
// regression shows where the time went. Prints the load average beside the figures: the machine
// is shared.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, rmSync } from "node:fs";
import { loadavg, tmpdir } from "node:os";
import path from "node:path";
import { buildTemplate } from "../lib/pglite-prepare.ts";
import { freePorts, ROOT } from "./processes.ts";

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 2);
const TIMEOUT_MS = Number(process.env.BENCH_STARTUP_TIMEOUT_MS ?? 300_000);

interface Run {
  kind: "first start" | "restart" | "first start, no template";
  /** Spawn to /readyz 200 with the demo seeded (the later of the two). */
  readyMs: number;
  /** /readyz answered 200 before the demo could be used (the old behaviour: a lie). */
  earlyReadyMs: number | null;
  phases: { phase: string; ms: number }[];
}

async function waitReady(child: ChildProcess, base: string, started: number): Promise<number> {
  for (;;) {
    if (child.exitCode !== null) throw new Error(`the hub exited with ${child.exitCode} while starting`);
    if (performance.now() - started > TIMEOUT_MS) throw new Error(`no /readyz 200 within ${TIMEOUT_MS} ms`);
    const ok = await fetch(`${base}/readyz`).then(
      (r) => r.status === 200,
      () => false,
    );
    if (ok) return performance.now() - started;
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** The demo is there: the demo admin's token works and sees the three demo partners. */
async function checkDemo(base: string) {
  const t = await fetch(`${base}/oauth/token`, { method: "POST", body: new URLSearchParams({ grant_type: "client_credentials", client_id: "demo-admin", client_secret: "demo-admin-secret" }) });
  const { access_token } = (await t.json()) as { access_token?: string };
  if (!access_token) throw new Error(`demo-admin token refused (HTTP ${t.status}): the demo is not seeded`);
  const r = await fetch(`${base}/graphql`, {
    method: "POST",
    headers: { "content-type": "application/json", authorization: `Bearer ${access_token}` },
    body: JSON.stringify({ query: "{ partners { slug } }" }),
  });
  const body = (await r.json()) as { data?: { partners?: { slug: string }[] } };
  const slugs = (body.data?.partners ?? []).map((p) => p.slug).sort();
  if (slugs.join() !== "freshco,grandstay,shopmall") throw new Error(`demo partners missing: ${JSON.stringify(body)}`);
}

async function once(kind: Run["kind"], dataDir: string): Promise<Run> {
  const [port] = await freePorts(1);
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    HUB_DATA_DIR: dataDir,
    HUB_PORT: String(port),
    // The subgraphs take ports the OS assigns (the embedded hub's default; set for older builds).
    MEMBER_PORT: "0",
    POINTS_PORT: "0",
    PARTNER_PORT: "0",
    HUB_LOG_LEVEL: "info",
    DATABASE_URL: "",
    ...(kind === "first start, no template" ? { HUB_PGLITE_TEMPLATE: "off" } : {}),
  };
  const started = performance.now();
  const child = spawn(process.execPath, ["--import", "tsx", path.join(ROOT, "scripts/start.ts")], { cwd: ROOT, env, stdio: ["ignore", "ignore", "pipe"] });
  const phases: Run["phases"] = [];
  let stderr = "";
  child.stderr!.setEncoding("utf8").on("data", (chunk: string) => {
    stderr += chunk;
    for (const line of chunk.split("\n")) {
      if (!line.includes("startup phase")) continue;
      try {
        const j = JSON.parse(line) as { phase?: string; ms?: number };
        if (j.phase && typeof j.ms === "number") phases.push({ phase: j.phase, ms: j.ms });
      } catch {
        // not a JSON line
      }
    }
  });
  try {
    const base = `http://127.0.0.1:${port}`;
    const readyzMs = await waitReady(child, base, started);
    // Ready must mean seeded: a hub that says ready earlier is flagged (and timed until it is).
    let early: number | null = null;
    for (;;) {
      try {
        await checkDemo(base);
        break;
      } catch (e) {
        early = readyzMs;
        if (performance.now() - started > TIMEOUT_MS) throw e;
        await new Promise((r) => setTimeout(r, 100));
      }
    }
    return { kind, readyMs: early === null ? readyzMs : performance.now() - started, earlyReadyMs: early, phases };
  } catch (e) {
    process.stderr.write(stderr.slice(-4000));
    throw e;
  } finally {
    const exited = new Promise((r) => child.once("exit", r));
    if (child.exitCode === null) child.kill("SIGTERM");
    await exited;
  }
}

const load = () =>
  loadavg()
    .map((x) => x.toFixed(2))
    .join(" ");
const runs: (Run & { load: string })[] = [];
const made = await buildTemplate();
if (made.built) process.stdout.write(`(the embedded database's template was missing: made it in ${made.template})\n`);
for (let round = 0; round < ROUNDS; round++) {
  const dataDir = mkdtempSync(path.join(tmpdir(), "hub-startup-"));
  const bare = mkdtempSync(path.join(tmpdir(), "hub-startup-"));
  try {
    for (const kind of ["first start", "restart", "first start, no template"] as const) {
      const r = await once(kind, kind === "first start, no template" ? bare : dataDir);
      runs.push({ ...r, load: load() });
      const phases = r.phases.map((p) => `${p.phase} ${(p.ms / 1000).toFixed(1)}`).join(", ");
      process.stdout.write(
        `${kind.padEnd(24)} ${(r.readyMs / 1000).toFixed(1).padStart(6)} s to /readyz 200 with the demo seeded   (load ${load()})${r.earlyReadyMs !== null ? `\n            /readyz said 200 at ${(r.earlyReadyMs / 1000).toFixed(1)} s, before the demo was seeded` : ""}${phases ? `\n            phases (s since start): ${phases}` : ""}\n`,
      );
    }
  } finally {
    rmSync(dataDir, { recursive: true, force: true });
    rmSync(bare, { recursive: true, force: true });
  }
}
const summary = (kind: Run["kind"]) => {
  const xs = runs.filter((r) => r.kind === kind).map((r) => r.readyMs / 1000);
  return `${kind}: ${xs.map((x) => x.toFixed(1)).join(", ")} s (best ${Math.min(...xs).toFixed(1)})`;
};
process.stdout.write(`\n${summary("first start")}\n${summary("restart")}\n${summary("first start, no template")}\nload average now: ${load()} (2 cores, shared)\n`);
