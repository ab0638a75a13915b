// `npm run cli -- <command>`: the coalition admin's command line.
//   token --client-id X --client-secret Y [--exchange <externalRef>] [--url http://localhost:4000]
//   clients create --role ADMIN|PARTNER [--partner <id>]   (over the database, or --admin-id/--admin-secret: through the API)
//   clients bootstrap-admin [--client-id admin]             (the first ADMIN client, over the database)
//   keys rotate                                             (the gateway's signing keys in HUB_DATA_DIR)
//   keys generate                                           (a new signing key for HUB_SIGNING_KEYS, printed)
//   settlement export <runId> [--format csv|json] [--partner <id>] [--out <file>]   (a run's statements)
//   ledger verify [--max <n>] [--json] [--no-events]       (every ledger invariant; exit code 1 on violations)
//   config [--json]                                         (the effective configuration, secrets masked)
//   events dead-letters [--service member|points|partner] [--first <n>] [--json]   (events the relays gave up on)
//   events replay <id> --service member|points|partner    (a dead letter back to its outbox)
import { userInfo } from "node:os";
import { randomBytes } from "node:crypto";
import { existsSync, writeFileSync } from "node:fs";
import path from "node:path";
import { Command, Option } from "commander";
import { configOrExit, effectiveConfig } from "../lib/config.ts";
import { SCHEMA_NAMES, type SchemaName } from "../lib/events/catalogue.ts";
import { listDeadLetters, replayDeadLetter } from "../lib/events/dead-letters.ts";
import type { Principal } from "../lib/principal.ts";
import { migrate, openDatabase } from "../lib/db.ts";
import { KeySet } from "../gateway/src/auth/keys.ts";
import { prisma, usePrisma } from "../subgraphs/partner/src/db.ts";
import { createApiClientWithSecret, newClientId, newSecret } from "../subgraphs/partner/src/services/api-clients.ts";
import { PURPOSES } from "../lib/vocabulary.ts";
import { prisma as pointsPrisma, usePrisma as usePointsPrisma } from "../subgraphs/points/src/db.ts";
import { exportRun } from "../subgraphs/points/src/settlement/export.ts";
import { formatReport, verifyLedger } from "../subgraphs/points/src/ledger/verify.ts";

const env = configOrExit(undefined);
const program = new Command().name("cli").description("Coalition Hub admin CLI").showHelpAfterError();
const defaultUrl = `http://localhost:${env.HUB_PORT}`;
const ROLES = ["ADMIN", "PARTNER"] as const;

/** POST /oauth/token (form body); the token response, or an error with the OAuth error code. */
async function tokenRequest(url: string, form: Record<string, string>) {
  const res = await fetch(`${url}/oauth/token`, { method: "POST", body: new URLSearchParams(form) }).catch((e: Error) => {
    throw new Error(`cannot reach the gateway at ${url} (${(e.cause as Error | undefined)?.message ?? e.message}); is it running? (--url)`);
  });
  const body = (await res.json().catch(() => ({}))) as Record<string, string>;
  if (!res.ok) throw new Error(`${res.status} ${body.error ?? res.statusText}${body.error_description ? `: ${body.error_description}` : ""}`);
  return body;
}

async function graphql(url: string, token: string, query: string, variables: Record<string, unknown>) {
  const res = await fetch(`${url}/graphql`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as { data?: any; errors?: { message: string; extensions?: { code?: string } }[] };
  if (body.errors?.length) throw new Error(body.errors.map((e) => `${e.extensions?.code ?? "ERROR"}: ${e.message}`).join("\n"));
  return body.data;
}

/**
 * Runs `fn` on the hub's database: DATABASE_URL, or the embedded data dir (only while the hub is
 * stopped: PGlite allows one process). The embedded database is migrated first, as `npm start` does.
 */
async function withDatabase<T>(fn: () => Promise<T>): Promise<T> {
  const db = await openDatabase(env.DATABASE_URL ? { url: env.DATABASE_URL, poolSize: 2 } : { dataDir: path.join(path.resolve(env.HUB_DATA_DIR), "pgdata") });
  try {
    if (db.kind === "pglite") await migrate(db);
    usePrisma(db.client());
    usePointsPrisma(db.client());
    return await fn();
  } finally {
    await db.close();
  }
}

function printClient(c: { clientId: string; secret: string; role: string; partner?: string | null }) {
  console.log(`client_id:     ${c.clientId}\nclient_secret: ${c.secret}   (shown once: store it now)\nrole:          ${c.role}${c.partner ? `\npartner:       ${c.partner}` : ""}`);
}

program
  .command("token")
  .description(
    "Print an access token: client credentials; with --exchange a PARTNER_VIEW token bound to one of the client's partner's members (RFC 8693: the partner's own view, never the member's authority); with --member/--password a member's own session through the real sign-in page (authorization code + PKCE)",
  )
  .option("--client-id <id>", "API client id")
  .option("--client-secret <secret>", "API client secret")
  .option("--exchange <externalRef>", "the member's reference at the client's partner: exchange it for a PARTNER_VIEW token")
  .option("--member <login>", "sign in as this member (member number or e-mail) through the hub's sign-in page")
  .option("--password <password>", "the member's password (env HUB_MEMBER_PASSWORD)", env.HUB_MEMBER_PASSWORD)
  .option("--url <url>", "gateway base URL", defaultUrl)
  .action(async (o: { clientId?: string; clientSecret?: string; exchange?: string; member?: string; password?: string; url: string }) => {
    if (o.member) {
      if (!o.password) throw new Error("--member needs --password (or HUB_MEMBER_PASSWORD)");
      const { memberSignIn } = await import("./oauth-client.ts");
      console.log((await memberSignIn(o.url, o.member, o.password)).accessToken);
      return;
    }
    if (!o.clientId || !o.clientSecret) throw new Error("--client-id and --client-secret are required (or --member and --password)");
    const grant: Record<string, string> = o.exchange
      ? { grant_type: "urn:ietf:params:oauth:grant-type:token-exchange", subject_token: o.exchange, subject_token_type: "urn:coalition:partner-member-ref" }
      : { grant_type: "client_credentials" };
    const body = await tokenRequest(o.url, { ...grant, client_id: o.clientId, client_secret: o.clientSecret });
    console.log(body.access_token);
  });

const clients = program.command("clients").description("API clients (OAuth2 client credentials)");
clients
  .command("create")
  .description(
    "Create an API client and print its secret once. Writes to the database (DATABASE_URL, or the embedded data dir while the hub is stopped); with --admin-id/--admin-secret it goes through the running gateway instead",
  )
  .addOption(new Option("--role <role>", "role of the client's tokens").choices(ROLES).makeOptionMandatory())
  .option("--partner <partnerId>", "the partner a PARTNER client acts for (its id)")
  .addOption(new Option("--purpose <purpose>", "purpose assumed when a request sends no Coalition-Purpose header").choices(PURPOSES))
  .option("--name <label>", 'a label for people, e.g. "checkout service" (database mode; the API takes none yet)')
  .option("--admin-id <id>", "an ADMIN client's id: create through the API (env HUB_ADMIN_CLIENT_ID)", env.HUB_ADMIN_CLIENT_ID)
  .option("--admin-secret <secret>", "its secret (env HUB_ADMIN_CLIENT_SECRET)", env.HUB_ADMIN_CLIENT_SECRET)
  .option("--url <url>", "gateway base URL (with --admin-id)", defaultUrl)
  .action(async (o: { role: (typeof ROLES)[number]; partner?: string; purpose?: (typeof PURPOSES)[number]; name?: string; adminId?: string; adminSecret?: string; url: string }) => {
    if (o.role === "PARTNER" && !o.partner) throw new Error("--role PARTNER needs --partner <partnerId>");
    if (o.role === "ADMIN" && o.partner) throw new Error("an ADMIN client belongs to no partner: drop --partner");
    if (o.adminId || o.adminSecret) {
      if (!o.adminId || !o.adminSecret) throw new Error("give both --admin-id and --admin-secret (or neither, to write to the database)");
      if (o.name) throw new Error("--name works only when writing to the database (the createApiClient mutation takes no name)");
      const { access_token } = await tokenRequest(o.url, { grant_type: "client_credentials", client_id: o.adminId, client_secret: o.adminSecret });
      const data = await graphql(
        o.url,
        access_token,
        "mutation($partnerId: ID, $role: Role!, $purpose: Purpose) { createApiClient(partnerId: $partnerId, role: $role, defaultPurpose: $purpose) { clientId clientSecret role partner { name } } }",
        { partnerId: o.partner ?? null, role: o.role, purpose: o.purpose ?? null },
      );
      const c = data.createApiClient;
      return printClient({ clientId: c.clientId, secret: c.clientSecret, role: c.role, partner: c.partner?.name });
    }
    await withDatabase(async () => {
      const partner = o.partner
        ? await prisma()
            .partner.findUnique({ where: { id: o.partner }, select: { slug: true, name: true } })
            .catch(() => null)
        : null;
      if (o.partner && !partner) throw new Error(`no partner with id ${o.partner}`);
      const clientId = newClientId(partner?.slug ?? null);
      const secret = newSecret();
      await createApiClientWithSecret({ clientId, secret, role: o.role, partnerId: o.partner ?? null, defaultPurpose: o.purpose, name: o.name });
      printClient({ clientId, secret, role: o.role, partner: partner?.name });
    });
  });
clients
  .command("bootstrap-admin")
  .description("Create the first ADMIN client with a chosen id, over the database (DATABASE_URL, or the embedded data dir while the hub is stopped)")
  .option("--client-id <id>", "client id", "admin")
  .action(async (o: { clientId: string }) => {
    await withDatabase(async () => {
      const secret = newSecret();
      await createApiClientWithSecret({ clientId: o.clientId, secret, role: "ADMIN", partnerId: null, name: "bootstrap admin (CLI)" });
      printClient({ clientId: o.clientId, secret, role: "ADMIN" });
    });
  });

const keys = program.command("keys").description("Access-token signing keys");
keys
  .command("generate")
  .description("Print a new private ES256 signing key as a one-element JSON array of JWKs: the value of HUB_SIGNING_KEYS (to rotate, put it first and keep the old key after it until its tokens expired)")
  .action(async () => {
    const { exportJWK, generateKeyPair } = await import("jose");
    const { privateKey } = await generateKeyPair("ES256", { extractable: true });
    const kid = `${new Date().toISOString().slice(0, 10)}-${randomBytes(4).toString("hex")}`;
    console.log(JSON.stringify([{ ...(await exportJWK(privateKey)), kid, alg: "ES256", use: "sig" }]));
  });
keys
  .command("rotate")
  .description("Add a new signing key to HUB_DATA_DIR/signing-keys.json (or HUB_SIGNING_KEYS_FILE); running gateways pick it up, and the old key keeps verifying until its tokens expire")
  .action(async () => {
    if (env.HUB_SIGNING_KEYS) throw new Error("keys come from HUB_SIGNING_KEYS: rotate by putting a new private JWK first in that list and keeping the old one until its tokens expire (15 minutes)");
    const dataDir = path.resolve(env.HUB_DATA_DIR);
    const file = env.HUB_SIGNING_KEYS_FILE ?? path.join(dataDir, "signing-keys.json");
    const existed = existsSync(file);
    const keys = await KeySet.fromConfig({ dataDir }); // creates the file with a first key when there is none
    const kid = existed ? await keys.rotate() : keys.jwks().keys[0]?.kid;
    console.log(
      `${existed ? "new" : "first"} signing key ${kid} in ${file}; published keys: ${keys
        .jwks()
        .keys.map((k) => k.kid)
        .join(", ")}`,
    );
  });

program
  .command("settlement")
  .description("Settlement runs")
  .command("export <runId>")
  .description(
    "Print (or write) a settlement run's statements as CSV (one row per statement line) or JSON. Over the database (DATABASE_URL, or the embedded data dir while the hub is stopped) as an admin; with --admin-id/--admin-secret through the running gateway",
  )
  .addOption(new Option("--format <format>", "file format").choices(["csv", "json"]).default("csv"))
  .option("--partner <partnerId>", "only this partner's statement")
  .option("--out <file>", "write to this file instead of standard output")
  .option("--admin-id <id>", "an ADMIN client's id: export through the API (env HUB_ADMIN_CLIENT_ID)", env.HUB_ADMIN_CLIENT_ID)
  .option("--admin-secret <secret>", "its secret (env HUB_ADMIN_CLIENT_SECRET)", env.HUB_ADMIN_CLIENT_SECRET)
  .option("--url <url>", "gateway base URL (with --admin-id)", defaultUrl)
  .action(async (runId: string, o: { format: "csv" | "json"; partner?: string; out?: string; adminId?: string; adminSecret?: string; url: string }) => {
    const format = o.format.toUpperCase() as "CSV" | "JSON";
    let text: string;
    if (o.adminId || o.adminSecret) {
      if (!o.adminId || !o.adminSecret) throw new Error("give both --admin-id and --admin-secret (or neither, to read the database)");
      const { access_token } = await tokenRequest(o.url, { grant_type: "client_credentials", client_id: o.adminId, client_secret: o.adminSecret });
      const data = await graphql(o.url, access_token, "query($id: ID!, $f: SettlementExportFormat!, $p: ID) { settlementRun(id: $id) { export(format: $f, partnerId: $p) } }", {
        id: runId,
        f: format,
        p: o.partner ?? null,
      });
      text = data.settlementRun.export;
    } else {
      text = await withDatabase(() => exportRun({ sub: "cli", role: "ADMIN", partnerId: null, memberId: null }, runId, format, o.partner ?? null));
    }
    if (o.out) {
      writeFileSync(o.out, text);
      console.error(`wrote ${o.out}`);
    } else process.stdout.write(text.endsWith("\n") ? text : `${text}\n`);
  });

program
  .command("ledger")
  .description("The points ledger")
  .command("verify")
  .description(
    "Check every ledger invariant (balanced transactions, balances = postings, wallets = lots and holds, lots, holds, idempotency keys, approved settlement runs, events applied once per consumer) in bounded memory, over one snapshot of the database (DATABASE_URL, or the embedded data dir while the hub is stopped). Prints the first violations with ids; exit code 1 when there is any",
  )
  .option("--max <n>", "violations to print (the rest are counted)", "100")
  .option("--json", "print the report as JSON")
  .option("--no-events", "skip the cross-subgraph event check (needs the three schemas in one database)")
  .action(async (o: { max: string; json?: boolean; events: boolean }) => {
    const max = Number(o.max);
    if (!Number.isInteger(max) || max < 1) throw new Error("--max must be a positive integer");
    const report = await withDatabase(() => verifyLedger(pointsPrisma(), { maxViolations: max, events: o.events ? "auto" : false }));
    console.log(o.json ? JSON.stringify(report, null, 2) : formatReport(report));
    if (!report.ok) process.exitCode = 1;
  });

program
  .command("config")
  .description("Print the effective configuration: every variable the hub reads (lib/config.ts), its value here (secrets masked) and whether it comes from the environment or is the default")
  .option("--json", "print it as JSON (name, group, value, source, secret, doc)")
  .action((o: { json?: boolean }) => {
    const settings = effectiveConfig();
    if (o.json) return console.log(JSON.stringify(settings, null, 2));
    const width = Math.max(...settings.map((s) => s.name.length));
    let group = "";
    for (const s of settings) {
      if (s.group !== group) console.log(`${group ? "\n" : ""}# ${(group = s.group)}`);
      console.log(`${s.name.padEnd(width)}  ${s.source === "unset" ? "(unset)" : s.value}${s.source === "default" ? "  (default)" : ""}`);
    }
  });

const events = program.command("events").description("Domain events between the subgraphs (outboxes, dead letters)");
const serviceOption = () => new Option("--service <name>", "the subgraph whose outbox holds the dead letters").choices(SCHEMA_NAMES as string[]);
/** The CLI acts as the coalition admin (it holds the database credentials). */
const CLI_ADMIN: Principal = { sub: `cli:${userInfo().username}`, role: "ADMIN", partnerId: null, memberId: null, scope: "", purpose: null };
events
  .command("dead-letters")
  .description("List the events the relays gave up on after HUB_EVENT_MAX_ATTEMPTS failed deliveries, oldest first, with their last error (DATABASE_URL, or the embedded data dir while the hub is stopped)")
  .addOption(serviceOption())
  .option("--first <n>", "at most this many per subgraph (1-500)", "50")
  .option("--json", "print them as JSON")
  .action(async (o: { service?: SchemaName; first: string; json?: boolean }) => {
    const first = Number(o.first);
    const letters = await withDatabase(async () => {
      const out = [];
      for (const schema of o.service ? [o.service] : SCHEMA_NAMES) out.push(...(await listDeadLetters(CLI_ADMIN, pointsPrisma(), schema, first)));
      return out;
    });
    if (o.json) console.log(JSON.stringify(letters, null, 2));
    else if (!letters.length) console.log("no dead letters");
    else for (const l of letters) console.log(`${l.service}\t${l.id}\t${l.type}\t${l.attempts} attempts\tdead ${l.deadAt.toISOString()}\t${l.lastError}`);
  });
events
  .command("replay <id>")
  .description("Put a dead letter back in its subgraph's outbox: a running relay delivers it at its next poll (consumers that applied it already do not apply it again)")
  .addOption(serviceOption().makeOptionMandatory())
  .action(async (id: string, o: { service: SchemaName }) => {
    const letter = await withDatabase(() => replayDeadLetter(CLI_ADMIN, pointsPrisma(), o.service, id));
    console.log(`replayed ${letter.service} ${letter.type} ${letter.id} (back in the outbox after ${letter.attempts} failed attempts)`);
  });

await program.parseAsync().catch((e: unknown) => {
  console.error(`error: ${e instanceof Error ? e.message : String(e)}`);
  process.exitCode = 1;
});
