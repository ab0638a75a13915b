// `npm run cli -- <command>`: the coalition admin's command line.
import path from "node:path";
import { Command, Option } from "commander";
import { loadEnv } from "../lib/config.ts";
import { migrate, openDatabase } from "../lib/db.ts";
import { KeySet } from "../gateway/src/auth/keys.ts";
import { usePrisma } from "../subgraphs/partner/src/db.ts";
import { createApiClientWithSecret, newSecret } from "../subgraphs/partner/src/services/api-clients.ts";

const env = loadEnv();
const program = new Command().name("cli").description("Coalition Hub admin CLI");
const defaultUrl = `http://localhost:${env.HUB_PORT}`;

async function post(url: string, form: Record<string, string>) {
  const res = await fetch(`${url}/oauth/token`, { method: "POST", body: new URLSearchParams(form) });
  const body = (await res.json()) as Record<string, string>;
  if (!res.ok) throw new Error(`${res.status} ${body.error}: ${body.error_description ?? ""}`);
  return body;
}

async function graphql(url: string, token: string, query: string, variables: Record<string, unknown>) {
  const res = await fetch(`${url}/graphql`, { method: "POST", headers: { "content-type": "application/json", authorization: `Bearer ${token}` }, body: JSON.stringify({ query, variables }) });
  const body = (await res.json()) as { data?: any; errors?: { message: string; extensions?: { code?: string } }[] };
  if (body.errors?.length) throw new Error(body.errors.map((e) => `${e.extensions?.code ?? "ERROR"}: ${e.message}`).join("\n"));
  return body.data;
}

program
  .command("token")
  .description("Print an access token: client credentials, or (with --exchange) a member token for a partner's member")
  .requiredOption("--client-id <id>", "API client id")
  .requiredOption("--client-secret <secret>", "API client secret")
  .option("--exchange <externalRef>", "the member's reference at the client's partner (RFC 8693 token exchange)")
  .option("--url <url>", "gateway base URL", defaultUrl)
  .action(async (o: { clientId: string; clientSecret: string; exchange?: string; url: string }) => {
    const form: Record<string, string> = o.exchange
      ? { grant_type: "urn:ietf:params:oauth:grant-type:token-exchange", subject_token: o.exchange, subject_token_type: "urn:coalition:partner-member-ref" }
      : { grant_type: "client_credentials" };
    const body = await post(o.url, { ...form, client_id: o.clientId, client_secret: o.clientSecret });
    console.log(body.access_token);
  });

const clients = program.command("clients").description("API clients");
clients
  .command("create")
  .description("Create an API client through the API (needs an admin client); prints the secret once")
  .addOption(new Option("--role <role>", "ADMIN or PARTNER").choices(["ADMIN", "PARTNER"]).makeOptionMandatory())
  .option("--partner <partnerId>", "the partner (PARTNER clients)")
  .addOption(new Option("--purpose <purpose>", "default purpose of the client's requests").choices(["ACCOUNT_SERVICING", "OFFER_TARGETING", "ANALYTICS"]))
  .requiredOption("--admin-id <id>", "an ADMIN client's id", process.env.HUB_ADMIN_CLIENT_ID)
  .requiredOption("--admin-secret <secret>", "its secret", process.env.HUB_ADMIN_CLIENT_SECRET)
  .option("--url <url>", "gateway base URL", defaultUrl)
  .action(async (o: { role: string; partner?: string; purpose?: string; adminId: string; adminSecret: string; url: string }) => {
    const { access_token } = await post(o.url, { grant_type: "client_credentials", client_id: o.adminId, client_secret: o.adminSecret });
    const data = await graphql(
      o.url,
      access_token,
      "mutation($partnerId: ID, $role: Role!, $purpose: Purpose) { createApiClient(partnerId: $partnerId, role: $role, defaultPurpose: $purpose) { clientId clientSecret role partner { name } } }",
      { partnerId: o.partner ?? null, role: o.role, purpose: o.purpose ?? null },
    );
    const c = data.createApiClient;
    console.log(`client_id:     ${c.clientId}\nclient_secret: ${c.clientSecret}   (shown once: store it now)\nrole:          ${c.role}${c.partner ? `\npartner:       ${c.partner.name}` : ""}`);
  });
clients
  .command("bootstrap-admin")
  .description("Create the first ADMIN client directly in the database (DATABASE_URL, or the embedded data dir while the hub is stopped)")
  .option("--client-id <id>", "client id", "admin")
  .action(async (o: { clientId: string }) => {
    const db = await openDatabase(env.DATABASE_URL ? { url: env.DATABASE_URL } : { dataDir: path.join(path.resolve(env.HUB_DATA_DIR), "pgdata") });
    try {
      await migrate(db);
      usePrisma(db.client());
      const secret = newSecret();
      await createApiClientWithSecret({ clientId: o.clientId, secret, role: "ADMIN", partnerId: null });
      console.log(`client_id:     ${o.clientId}\nclient_secret: ${secret}   (shown once: store it now)`);
    } finally {
      await db.close();
    }
  });

program
  .command("keys")
  .description("Access-token signing keys")
  .command("rotate")
  .description("Add a new signing key; the old one keeps verifying until its tokens expire (takes effect when the gateway restarts)")
  .action(async () => {
    const keys = await KeySet.fromConfig({ dataDir: path.resolve(env.HUB_DATA_DIR) });
    const kid = await keys.rotate();
    console.log(`new signing key ${kid}; published keys: ${keys.jwks().keys.map((k) => k.kid).join(", ")}`);
  });

await program.parseAsync().catch((e: unknown) => {
  console.error(e instanceof Error ? e.message : e);
  process.exitCode = 1;
});
