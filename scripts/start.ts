// `npm start`: the whole hub in one process. Without DATABASE_URL it runs on an embedded PostgreSQL
// (PGlite, data in HUB_DATA_DIR, default .data/), applies migrations, seeds the demo coalition the
// first time and prints the URLs and a sample query. With DATABASE_URL it uses that PostgreSQL.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { useCompileCache } from "../lib/compile-cache.ts";
import { configOrExit } from "../lib/config.ts";
import { isProduction } from "../lib/deployment.ts";
import type { Database } from "../lib/db.ts";
import { flushLogs, log } from "../lib/logger.ts";
import { DataDirProblem, isFreshDataDir, prepareDataDirInWorker } from "../lib/pglite-prepare.ts";
import { hashAhead } from "../lib/password.ts";
import { startTracing, stopTracing } from "../lib/tracing.ts";
import { demoSecrets } from "../prisma/demo-secrets.ts";
import { PortInUseError, type Served, serve } from "../lib/serve.ts";
import type { Hub } from "./hub.ts";

// Every variable validated (lib/config.ts) and, in production (NODE_ENV=production), no made-up
// secrets and no demo data: checked before anything opens; a problem stops here, naming the variable.
const env = configOrExit("hub");
// Compiled code of the modules loaded from here on (the services, dynamically below) is cached on
// disk: a restart's module loading 2.2 → 1.8 s (lib/compile-cache.ts; `npm install` warms it).
useCompileCache();
// Before anything opens: Prisma's and the gateway's spans need the provider (no-op without OTEL_EXPORTER_OTLP_ENDPOINT).
if (await startTracing({ serviceName: "coalition-hub" })) process.once("exit", () => void stopTracing());
const dataDir = path.resolve(env.HUB_DATA_DIR);
mkdirSync(dataDir, { recursive: true });

/** The embedded default keeps its own internal secret; a real deployment configures one. */
function internalSecret(): string {
  if (env.HUB_INTERNAL_SECRET) return env.HUB_INTERNAL_SECRET;
  const file = path.join(dataDir, "internal-secret");
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString("base64url"), { mode: 0o600 });
  return readFileSync(file, "utf8").trim();
}

// performance.now() counts from the process's start: loading the modules (tsx) is included.
const started = performance.now();
/** Each start-up step, logged with the milliseconds since the process started (bench/startup.ts prints them). */
const phase = (name: string) => {
  served?.setStep(name);
  log.info("startup phase", { phase: name, ms: Math.round(performance.now()) });
};
log.info("startup phase", { phase: "modules loaded", ms: Math.round(started) });

// 1. The gateway's port first: a clash is one line naming the port and the setting (no stack
// trace), and from here /healthz answers 200 and /readyz 503 with the step under way, until the
// migrations ran and the demo is seeded.
let served: Served | undefined;
try {
  served = await serve({ name: "gateway", port: env.HUB_PORT, host: env.HUB_HOST, setting: "HUB_PORT" });
} catch (e) {
  if (!(e instanceof PortInUseError)) throw e;
  process.stderr.write(`Coalition Hub cannot start: ${e.message}\n`);
  process.exit(1);
}

// 2. The rest of the hub is loaded only now (the database, the three subgraphs, the gateway runtime,
// the seed: most of the start-up's module loading), so the port and the health endpoints answer first.
phase("loading the services");
// The database opens while the rest loads (PGlite compiles its WASM and reads its files meanwhile:
// measured on a restart, loading took 5.6 s and opening 2.2 s one after the other).
// On a first start the embedded database is created and migrated on a worker thread meanwhile
// (lib/pglite-prepare.ts): initdb and the module loading are both seconds of CPU, and on one thread
// they took turns.
const pgdata = path.join(dataDir, "pgdata");
// The demo coalition only on the embedded default or when asked, never in production (seedDemo
// itself refuses a database that holds anything but the demo). On a new embedded database its published
// secrets' scrypt hashes are computed meanwhile, on libuv's threads.
const demo = !isProduction() && (env.HUB_DEMO ? env.HUB_DEMO === "1" : !env.DATABASE_URL);
if (demo && !env.DATABASE_URL && isFreshDataDir(pgdata)) hashAhead(demoSecrets(env.HUB_DEMO_MEMBERS));
// With the template (`npm install` makes it) the new cluster is a copy of an initdb'd, migrated one.
const preparing = !env.DATABASE_URL && isFreshDataDir(pgdata) ? prepareDataDirInWorker(pgdata) : Promise.resolve(null);
const dbModule = import("../lib/db.ts");
const opening = Promise.all([dbModule, preparing]).then(([{ openDatabase }, prepared]) => {
  if (prepared) log.info("embedded database created", { from: prepared.from, ...(prepared.applied.length ? { applied: prepared.applied, on: "a worker thread" } : {}) });
  return openDatabase(env.DATABASE_URL ? { url: env.DATABASE_URL, poolSize: env.HUB_DB_POOL_SIZE } : { dataDir: pgdata });
});
opening.catch(() => {}); // awaited (and thrown) below; not an unhandled rejection while the modules load
const [{ migrate }, { startHub }, { seedDemo }] = await Promise.all([dbModule, import("./hub.ts"), import("../prisma/seed.ts")]);

let db: Database | undefined;
let hub: Hub | undefined;
let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    log.info("stopping", { signal, phase: served?.phase() });
    // Readiness 503 at once; requests in flight and the relays' current batches finish, bounded by HUB_DRAIN_TIMEOUT_MS.
    if (hub) await hub.close(env.HUB_DRAIN_TIMEOUT_MS);
    else await served?.drain({ timeoutMs: 0 });
    await db?.close();
    await flushLogs(); // the buffered log lines (lib/logger.ts logDestination), before exit cuts a write in flight
    process.exit(0);
  });
}

phase("opening the database");
try {
  db = await opening;
} catch (e) {
  if (!(e instanceof DataDirProblem)) throw e;
  process.stderr.write(`Coalition Hub cannot start: ${e.message}\n`);
  process.exit(1);
}
phase("migrating");
const applied = await migrate(db);
if (applied.length) log.info("migrations applied", { applied });

phase("starting the services");
hub = await startHub({
  db,
  internalSecret: internalSecret(),
  host: env.HUB_HOST,
  // Unset: ports the OS assigns (two hubs side by side never clash); the gateway is told the URLs.
  subgraphPorts: { member: env.MEMBER_PORT ?? 0, points: env.POINTS_PORT ?? 0, partner: env.PARTNER_PORT ?? 0 },
  dataDir,
  issuer: env.HUB_ISSUER,
  audience: env.HUB_AUDIENCE,
  served,
  // Not while the demo is seeded: its back-dated holds would be expired by the hold job between
  // their authorization and capture (seen on a loaded machine: the seed failed, HOLD_ALREADY_RESOLVED).
  jobs: false,
});

let seeded = false;
let peopleText = "";
if (demo) {
  phase("seeding the demo");
  seeded = await seedDemo(db.client(), {
    flushEvents: hub.flushEvents,
    members: env.HUB_DEMO_MEMBERS,
    onPhase: phase,
    // Printed once, at seeding: the admin's TOTP secret is not shown again.
    onPeople: (people) => {
      peopleText = `\nDemo people (console sign-in: client hub-console; printed only now, at seeding):\n${people
        .map((p) => `  ${p.role.padEnd(13)} ${p.email}  password ${p.password}${p.totpSecret ? `  TOTP secret ${p.totpSecret} (add it to an authenticator app)` : ""}`)
        .join("\n")}\n`;
    },
  });
}
phase("delivering pending events");
await hub.flushEvents();
hub.startJobs();
// Ready only now: migrations applied, demo seeded, its events delivered.
served!.ready();
phase("ready");

const secs = ((performance.now() - started) / 1000).toFixed(1);
process.stdout.write(`
Coalition Hub is up (${db!.kind === "pglite" ? `embedded PostgreSQL in ${path.relative(process.cwd(), dataDir) || "."}/pgdata` : "PostgreSQL"}, ${secs} s${seeded ? ", demo coalition seeded" : ""}).

  GraphQL (GraphiQL in a browser):  ${hub!.gatewayUrl}
  Token endpoint:                   ${hub!.baseUrl}/oauth/token
  JWKS:                             ${hub!.baseUrl}/.well-known/jwks.json
  Health:                           ${hub!.baseUrl}/healthz  ${hub!.baseUrl}/readyz
  Subgraphs (gateway only):         ${hub!.subgraphs.member.url}  ${hub!.subgraphs.points.url}  ${hub!.subgraphs.partner.url}
${
  demo
    ? `
Tokens (demo clients: demo-admin, demo-shopmall, demo-freshco, demo-grandstay; secret = id + "-secret"):
  ADMIN=$(curl -s ${hub!.baseUrl}/oauth/token -d grant_type=client_credentials -d client_id=demo-admin -d client_secret=demo-admin-secret | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')
  # a member's own token: sign in through the hub's sign-in page (authorization code + PKCE, real flow)
  MEMBER=$(npm run -s cli -- token --url ${hub!.baseUrl} --member member0001@demo.coalition.example --password demo-member0001-password)

Demo members who can sign in (demo only; never seeded with NODE_ENV=production):
  member0001@demo.coalition.example … member0005@demo.coalition.example, password demo-member<NNNN>-password
  sign-in page: ${hub!.baseUrl}/oauth/authorize (see README "Getting a token"); activation: ${hub!.baseUrl}/account/activate
Partner apps: demo-shopmall-app / demo-shopmall-app-secret (also demo-freshco-app, demo-grandstay-app), redirect http://localhost:8080/callback
${peopleText}
Sample query (the member app: everything in one request, answered by all three subgraphs):
  curl -s ${hub!.gatewayUrl} -H "authorization: Bearer $MEMBER" -H 'content-type: application/json' \\
    -d '{"query":"{ me { displayName tier { tier tierCode qualifyingPoints qualifyingSpend nextTier pointsToNextTier progress { tierCode current missing } } wallet { balance available expiring { points expiresAt } } linkedAccounts { partner { name } externalRef } eligibleOffers { title coIssuers { partner { name } shareBps } } activity(first: 5) { edges { node { kind points partner { name } postedAt balanceAfter } } } } }"}'

As the admin: curl -s ${hub!.gatewayUrl} -H "authorization: Bearer $ADMIN" -H 'content-type: application/json' -d '{"query":"{ partners { name category issuePrice redemptionRate } }"}'

The loyalty program in force (the classic program, version 1: 普通/银卡/金卡/钻石, silver above 1,000 points, gold at 5,000,
diamond above ¥10,000 spent in the calendar year, 1/2/2/3 points per ¥; any signed-in caller; admins change it with setProgram/scheduleProgram):
  curl -s ${hub!.gatewayUrl} -H "authorization: Bearer $MEMBER" -H 'content-type: application/json' \\
    -d '{"query":"{ program { version effectiveFrom currency tiers { code names { en zhHans } earnRate qualifyAnyOf { metric threshold comparison period { kind months } } } benefits { tierCode percentOff } } }"}'
`
    : ""
}
Stop with Ctrl+C.
`);
