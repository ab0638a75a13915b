// `npm start`: the whole hub in one process. Without DATABASE_URL it runs on an embedded PostgreSQL
// (PGlite, data in HUB_DATA_DIR, default .data/), applies migrations, seeds the demo coalition the
// first time and prints the URLs and a sample query. With DATABASE_URL it uses that PostgreSQL.
import { randomBytes } from "node:crypto";
import { existsSync, mkdirSync, readFileSync, writeFileSync } from "node:fs";
import path from "node:path";
import { configOrExit } from "../lib/config.ts";
import { isProduction } from "../lib/deployment.ts";
import { migrate, openDatabase } from "../lib/db.ts";
import { log } from "../lib/logger.ts";
import { seedDemo } from "../prisma/seed.ts";
import { startHub } from "./hub.ts";

// Every variable validated (lib/config.ts) and, in production (NODE_ENV=production), no made-up
// secrets and no demo data: checked before anything opens; a problem stops here, naming the variable.
const env = configOrExit("hub");
const dataDir = path.resolve(env.HUB_DATA_DIR);
mkdirSync(dataDir, { recursive: true });

/** The embedded default keeps its own internal secret; a real deployment configures one. */
function internalSecret(): string {
  if (env.HUB_INTERNAL_SECRET) return env.HUB_INTERNAL_SECRET;
  const file = path.join(dataDir, "internal-secret");
  if (!existsSync(file)) writeFileSync(file, randomBytes(32).toString("base64url"), { mode: 0o600 });
  return readFileSync(file, "utf8").trim();
}

const started = performance.now();
const db = await openDatabase(env.DATABASE_URL ? { url: env.DATABASE_URL, poolSize: env.HUB_DB_POOL_SIZE } : { dataDir: path.join(dataDir, "pgdata") });
const applied = await migrate(db);
if (applied.length) log.info("migrations applied", { applied });

const hub = await startHub({
  db,
  internalSecret: internalSecret(),
  port: env.HUB_PORT,
  host: env.HUB_HOST,
  subgraphPorts: { member: env.MEMBER_PORT, points: env.POINTS_PORT, partner: env.PARTNER_PORT },
  dataDir,
  issuer: env.HUB_ISSUER,
  audience: env.HUB_AUDIENCE,
});

// The demo coalition (and its well-known demo API clients) only on the embedded default or when
// asked, never in production; seedDemo itself refuses a database that holds anything but the demo.
const demo = !isProduction() && (env.HUB_DEMO ? env.HUB_DEMO === "1" : !env.DATABASE_URL);
let seeded = false;
let peopleText = "";
if (demo)
  seeded = await seedDemo(db.client(), {
    flushEvents: hub.flushEvents,
    // Printed once, at seeding: the admin's TOTP secret is not shown again.
    onPeople: (people) => {
      peopleText = `\nDemo people (console sign-in: client hub-console; printed only now, at seeding):\n${people
        .map((p) => `  ${p.role.padEnd(13)} ${p.email}  password ${p.password}${p.totpSecret ? `  TOTP secret ${p.totpSecret} (add it to an authenticator app)` : ""}`)
        .join("\n")}\n`;
    },
  });
await hub.flushEvents();

const secs = ((performance.now() - started) / 1000).toFixed(1);
process.stdout.write(`
Coalition Hub is up (${db.kind === "pglite" ? `embedded PostgreSQL in ${path.relative(process.cwd(), dataDir) || "."}/pgdata` : "PostgreSQL"}, ${secs} s${seeded ? ", demo coalition seeded" : ""}).

  GraphQL (GraphiQL in a browser):  ${hub.gatewayUrl}
  Token endpoint:                   ${hub.baseUrl}/oauth/token
  JWKS:                             ${hub.baseUrl}/.well-known/jwks.json
  Health:                           ${hub.baseUrl}/healthz  ${hub.baseUrl}/readyz
  Subgraphs (gateway only):         ${hub.subgraphs.member.url}  ${hub.subgraphs.points.url}  ${hub.subgraphs.partner.url}
${
  demo
    ? `
Tokens (demo clients: demo-admin, demo-shopmall, demo-freshco, demo-grandstay; secret = id + "-secret"):
  ADMIN=$(curl -s ${hub.baseUrl}/oauth/token -d grant_type=client_credentials -d client_id=demo-admin -d client_secret=demo-admin-secret | node -pe 'JSON.parse(require("fs").readFileSync(0)).access_token')
  # a member's own token: sign in through the hub's sign-in page (authorization code + PKCE, real flow)
  MEMBER=$(npm run -s cli -- token --url ${hub.baseUrl} --member member0001@demo.coalition.example --password demo-member0001-password)

Demo members who can sign in (demo only; never seeded with NODE_ENV=production):
  member0001@demo.coalition.example … member0005@demo.coalition.example, password demo-member<NNNN>-password
  sign-in page: ${hub.baseUrl}/oauth/authorize (see README "Getting a token"); activation: ${hub.baseUrl}/account/activate
Partner apps: demo-shopmall-app / demo-shopmall-app-secret (also demo-freshco-app, demo-grandstay-app), redirect http://localhost:8080/callback
${peopleText}
Sample query (the member app: everything in one request, answered by all three subgraphs):
  curl -s ${hub.gatewayUrl} -H "authorization: Bearer $MEMBER" -H 'content-type: application/json' \\
    -d '{"query":"{ me { displayName tier { tier tierCode qualifyingPoints qualifyingSpend nextTier pointsToNextTier progress { tierCode current missing } } wallet { balance available expiring { points expiresAt } } linkedAccounts { partner { name } externalRef } eligibleOffers { title coIssuers { partner { name } shareBps } } activity(first: 5) { edges { node { kind points partner { name } postedAt balanceAfter } } } } }"}'

As the admin: curl -s ${hub.gatewayUrl} -H "authorization: Bearer $ADMIN" -H 'content-type: application/json' -d '{"query":"{ partners { name category issuePrice redemptionRate } }"}'

The loyalty program in force (the classic program, version 1: 普通/银卡/金卡/钻石, silver above 1,000 points, gold at 5,000,
diamond above ¥10,000 spent in the calendar year, 1/2/2/3 points per ¥; any signed-in caller; admins change it with setProgram/scheduleProgram):
  curl -s ${hub.gatewayUrl} -H "authorization: Bearer $MEMBER" -H 'content-type: application/json' \\
    -d '{"query":"{ program { version effectiveFrom currency tiers { code names { en zhHans } earnRate qualifyAnyOf { metric threshold comparison period { kind months } } } benefits { tierCode percentOff } } }"}'
`
    : ""
}
Stop with Ctrl+C.
`);

let stopping = false;
for (const signal of ["SIGINT", "SIGTERM"] as const) {
  process.on(signal, async () => {
    if (stopping) return;
    stopping = true;
    await hub.close();
    await db.close();
    process.exit(0);
  });
}
