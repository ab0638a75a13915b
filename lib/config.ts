import { z } from "zod";
import { deploymentProblems, type ProcessRole } from "./deployment.ts";

/**
 * Every variable the hub reads from its environment, in one table: its schema (type, bounds,
 * default), what it means and whether it is a secret. Processes validate the whole table at start
 * (`configOrExit`: a bad value stops the process with one line naming the variable); modules read
 * their settings through `loadEnv()` or `readSetting()`, never `process.env` directly. The same table
 * produces `.env.example` (scripts/env-example.ts, checked fresh by lib/config.test.ts) and
 * `npm run cli -- config` (the effective configuration, secrets masked).
 *
 * Everything has a default that runs the embedded demo, so `npm start` needs no variables at all.
 * An empty variable (`HUB_PORT=`) counts as unset.
 *
 * Not here on purpose: BENCH_* knobs (bench/ reads its own), the test harness's HUB_TEST_TEMPLATE and
 * HUB_PG_BIN (tests/), and PRISMA_* / CHECKPOINT_DISABLE (the Prisma CLI's own).
 */

type Group = "process" | "observability" | "database" | "network" | "lifecycle" | "rate limits" | "tokens" | "gateway limits" | "coalition" | "points tuning" | "events" | "webhooks" | "admin CLI" | "tooling";

interface Setting<S extends z.ZodType = z.ZodType> {
  group: Group;
  /** What it means, with its unit; one or two sentences (printed by `cli config`, written to .env.example). */
  doc: string;
  schema: S;
  /** Never printed: `cli config` and error messages show only whether it is set. */
  secret?: true;
  /** The parsed value written back as the variable's text (for values parsed into objects). */
  show?: (value: never) => string;
}

const def = <S extends z.ZodType>(group: Group, doc: string, schema: S, opts: { secret?: true; show?: (value: z.output<S>) => string } = {}): Setting<S> => ({ group, doc, schema, ...opts }) as Setting<S>;

const int = (min: number, max: number) => z.coerce.number().int().min(min).max(max);
const port = int(0, 65_535);
const positive = int(1, Number.MAX_SAFE_INTEGER);
const url = z.url();
const isTimeZone = (tz: string) => {
  try {
    new Intl.DateTimeFormat("en-US", { timeZone: tz });
    return true;
  } catch {
    return false;
  }
};
const isJsonArrayOfObjects = (s: string) => {
  try {
    const v: unknown = JSON.parse(s);
    return Array.isArray(v) && v.length > 0 && v.every((x) => typeof x === "object" && x !== null && !Array.isArray(x));
  } catch {
    return false;
  }
};

/** `months_after_earning:<N>`, `inactivity_months:<N>` or `never` (DESIGN.md §4). */
export type ExpiryPolicy = { kind: "months_after_earning"; months: number } | { kind: "inactivity_months"; months: number } | { kind: "never" };
const expiryPolicy = z
  .string()
  .trim()
  .regex(/^(never|(months_after_earning|inactivity_months):0*[1-9]\d{0,2})$/, "use months_after_earning:<N>, inactivity_months:<N> (N = 1–999) or never")
  .transform((s): ExpiryPolicy => {
    if (s === "never") return { kind: "never" };
    const [kind, months] = s.split(":") as ["months_after_earning" | "inactivity_months", string];
    return { kind, months: Number(months) };
  });

const showExpiryPolicy = (p: ExpiryPolicy) => (p.kind === "never" ? "never" : `${p.kind}:${p.months}`);

const days = int(1, 3650);

export const SETTINGS = {
  // ── process ────────────────────────────────────────────────────────────────────────────────
  NODE_ENV: def(
    "process",
    "`production` (the Dockerfile sets it): no made-up secrets, no demo data, every missing secret refuses the start (lib/deployment.ts). Anything else runs as development.",
    z.string().default("development"),
  ),
  HUB_LOG_LEVEL: def("process", "Lowest level of log lines written (JSON lines on stderr); `debug` also logs the gateway runtime.", z.enum(["debug", "info", "warn", "error", "silent"]).default("info")),
  HUB_DATA_DIR: def("process", "Directory of the embedded database (pgdata/), the embedded internal secret and the gateway's signing-keys.json.", z.string().min(1).default(".data")),
  HUB_PGLITE_TEMPLATE: def(
    "process",
    "Where a first start of the embedded database copies its cluster from: an empty database made by initdb with every migration applied, kept per PGlite version and migrations (built by `npm install`, or saved by the first start that had to make one). `off` = always initdb and migrate in place. Unset: node_modules/.cache/coalition-hub.",
    z.string().min(1).optional(),
  ),
  HUB_DEMO_MEMBERS: def("process", "Members of the demo coalition seeded on first start (with their links, consents and six months of history).", int(1, 5_000).default(500)),
  HUB_DEMO: def(
    "process",
    "1 = seed the demo coalition (and its well-known demo API clients) on an empty database, 0 = never. Unset: seed on the embedded database only. Refused in production.",
    z.enum(["0", "1"]).optional(),
  ),

  // ── observability (docs/ARCHITECTURE.md, rule "traces, metrics, logs"; docs/DECISIONS.md D26) ───────────────────────────────
  LOG_LEVEL: def("observability", "Alias of HUB_LOG_LEVEL (the common name); HUB_LOG_LEVEL wins when both are set.", z.enum(["debug", "info", "warn", "error", "silent"]).optional()),
  HUB_LOG_REDACT: def(
    "observability",
    "Extra keys (any depth up to 4) or dotted paths (`req.body.note`) whose values log lines replace with [redacted], comma-separated; added to the built-in list of secrets, tokens and personal data (lib/logger.ts REDACTED_KEYS).",
    z
      .string()
      .regex(/^[\w$.*[\]"'-]+(\s*,\s*[\w$.*[\]"'-]+)*$/, "a comma-separated list of keys or dotted paths")
      .optional()
      .transform((s) =>
        s
          ? s
              .split(",")
              .map((x) => x.trim())
              .filter(Boolean)
          : [],
      ),
    { show: (v: string[]) => v.join(",") },
  ),
  OTEL_EXPORTER_OTLP_ENDPOINT: def(
    "observability",
    "OTLP/HTTP collector base URL (traces go to <url>/v1/traces). Set: every process starts the OpenTelemetry SDK and exports traces. Unset: tracing is off and costs nothing (no SDK loaded).",
    url.optional(),
  ),
  HUB_TRACE_SAMPLE_RATIO: def(
    "observability",
    "Share of requests traced (0–1) when tracing is on; a trace's later spans (subgraphs, SQL, event consumers) follow its first span's decision.",
    z.coerce.number().min(0).max(1).default(0.1),
  ),
  HUB_METRICS_TOKEN: def(
    "observability",
    "Bearer token a Prometheus scraper sends to GET /metrics (every process; 16+ characters). Unset: /metrics answers loopback clients only (the embedded demo, a sidecar), 403 otherwise.",
    z.string().min(16).optional(),
    { secret: true },
  ),

  // ── database ───────────────────────────────────────────────────────────────────────────────
  DATABASE_URL: def("database", "PostgreSQL connection URL. Unset: the embedded PostgreSQL (PGlite) in HUB_DATA_DIR/pgdata, for the demo. Required in production. Its password is masked when printed.", url.optional()),
  HUB_DB_POOL_SIZE: def("database", "Connections per process in the PostgreSQL pool.", int(1, 200).default(10)),
  HUB_STATEMENT_TIMEOUT_MS: def("database", "PostgreSQL `statement_timeout` of every pooled session, in milliseconds (0 = none). Not applied on the embedded database.", int(0, 86_400_000).default(60_000)),

  // ── network ────────────────────────────────────────────────────────────────────────────────
  HUB_HOST: def("network", "Interface every server listens on (0.0.0.0 in a container whose port is reached from outside).", z.string().min(1).default("127.0.0.1")),
  HUB_PORT: def("network", "Port of the gateway (GraphQL, OAuth endpoints, sign-in pages); 0 = any free port.", port.default(4000)),
  MEMBER_PORT: def(
    "network",
    "Port of the member subgraph (reached by the gateway and its peers only). Unset: 4001 when it runs alone (`npm run start:member`), a port the OS assigns under `npm start` (the gateway learns it); 0 = any free port.",
    port.optional(),
  ),
  POINTS_PORT: def("network", "Port of the points subgraph. Unset: 4002 alone (`npm run start:points`), OS-assigned under `npm start`; 0 = any free port.", port.optional()),
  PARTNER_PORT: def("network", "Port of the partner subgraph. Unset: 4003 alone (`npm run start:partner`), OS-assigned under `npm start`; 0 = any free port.", port.optional()),
  HUB_MEMBER_URL: def("network", "GraphQL URL of the member subgraph, for the gateway and the other subgraphs' event relays when each runs alone (docker-compose). Unset under `npm start`.", url.optional()),
  HUB_POINTS_URL: def("network", "GraphQL URL of the points subgraph (see HUB_MEMBER_URL).", url.optional()),
  HUB_PARTNER_URL: def("network", "GraphQL URL of the partner subgraph (see HUB_MEMBER_URL).", url.optional()),
  HUB_PUBLIC_URL: def("network", "Base URL clients reach the gateway at, for the OAuth metadata's endpoints. Unset: taken from each request's Host header.", url.optional()),
  HUB_INTERNAL_SECRET: def(
    "network",
    "Shared by the gateway and the subgraphs only: signs the gateway's identity assertion (32+ characters, e.g. `openssl rand -base64 48`). Unset: made up once in HUB_DATA_DIR (demo only; required in production).",
    z.string().min(32).optional(),
    { secret: true },
  ),

  // ── tokens ─────────────────────────────────────────────────────────────────────────────────
  HUB_ISSUER: def("tokens", "Issuer (`iss`) of the access tokens the gateway signs.", z.string().min(1).default("https://coalition-hub.local")),
  HUB_AUDIENCE: def("tokens", "Audience (`aud`) of those access tokens.", z.string().min(1).default("coalition-hub-api")),
  HUB_SIGNING_KEYS: def(
    "tokens",
    "Access-token signing keys: a JSON array of private ES256 JWKs with kid, newest (signing) first; `npm run cli -- keys generate` prints one. Required in production (or HUB_SIGNING_KEYS_FILE).",
    z.string().refine(isJsonArrayOfObjects, "must be a JSON array of private JWKs").optional(),
    { secret: true },
  ),
  HUB_SIGNING_KEYS_FILE: def("tokens", "File of signing keys the gateway manages (`npm run cli -- keys rotate`). Unset: HUB_DATA_DIR/signing-keys.json.", z.string().min(1).optional()),
  HUB_MEMBER_IDP_ISSUER: def("tokens", "Issuer of an external identity provider whose tokens a member may exchange for a hub token. Unset: none.", z.string().min(1).optional()),
  HUB_MEMBER_IDP_JWKS_URL: def("tokens", "JWKS URL of that identity provider (required with HUB_MEMBER_IDP_ISSUER).", url.optional()),
  HUB_MEMBER_IDP_AUDIENCE: def("tokens", "Audience the identity provider's tokens must carry. Unset: HUB_AUDIENCE.", z.string().min(1).optional()),
  HUB_MEMBER_IDP_MEMBER_CLAIM: def("tokens", "Claim of the identity provider's token that holds the hub member id.", z.string().min(1).default("member_id")),
  HUB_SIGNIN_MAX_DELAY_MS: def("tokens", "Cap of the growing wait after failed sign-ins of one account, in milliseconds.", positive.default(60_000)),

  // ── gateway limits (docs/ARCHITECTURE.md "Limits") ─────────────────────────────────────────
  HUB_MAX_COST_MEMBER: def("gateway limits", "Highest estimated cost (gateway/src/cost.ts) of one operation by a MEMBER token.", positive.default(5_000)),
  HUB_MAX_COST_PARTNER: def("gateway limits", "Highest estimated cost of one operation by a PARTNER token.", positive.default(20_000)),
  HUB_MAX_COST_ADMIN: def("gateway limits", "Highest estimated cost of one operation by an ADMIN token.", positive.default(100_000)),
  HUB_MAX_INTROSPECTION_COST: def(
    "gateway limits",
    "Highest estimated cost of the introspection part of an operation (the standard introspection query of the whole API estimates about 62,000 since issue 16–18; nested type queries far more).",
    positive.default(150_000),
  ),
  HUB_SUBGRAPH_TIMEOUT_MS: def("gateway limits", "Each subgraph fetch is aborted after this many milliseconds.", positive.default(15_000)),
  HUB_NODE_LOOKUP_TIMEOUT_MS: def(
    "gateway limits",
    "`node(id:)` / `nodes(ids:)`: how long the member subgraph waits for the owning subgraph's lookup of a global id, in milliseconds; then that id is null with GATEWAY_TIMEOUT.",
    int(100, 60_000).default(5_000),
  ),
  HUB_REQUEST_DEADLINE_MS: def("gateway limits", "No subgraph fetch of a request runs past this many milliseconds after the request arrived.", positive.default(30_000)),
  HUB_MAX_RESPONSE_BYTES: def("gateway limits", "Largest response sent, in JSON characters; above it the client gets RESPONSE_TOO_LARGE and no data.", positive.default(5 * 1024 * 1024)),
  HUB_INTROSPECTION: def("gateway limits", "Who may introspect the API: `partners-and-admins` or `off`.", z.enum(["partners-and-admins", "off"]).default("partners-and-admins")),

  // ── lifecycle (lib/serve.ts: readiness, drain on SIGTERM) ───────────────────────────────────
  HUB_DRAIN_TIMEOUT_MS: def(
    "lifecycle",
    "On SIGTERM/SIGINT: the longest wait, in milliseconds, for requests in flight and the current event-relay batch to finish before connections are closed (keep it below the orchestrator's grace period, 30 s on Kubernetes).",
    int(0, 600_000).default(25_000),
  ),
  HUB_SHUTDOWN_DELAY_MS: def(
    "lifecycle",
    "On SIGTERM: milliseconds during which /readyz already answers 503 but new requests are still served (time for a load balancer to stop sending); then new requests get 503. Counts within HUB_DRAIN_TIMEOUT_MS.",
    int(0, 600_000).default(0),
  ),

  // ── rate limits (gateway/src/rate-limits.ts; per-partner and per-client overrides: setPartnerLimits, setApiClientLimits) ──
  REDIS_URL: def(
    "rate limits",
    "Redis shared by the gateway replicas for rate limits (redis://host:6379). Unset: limits are counted in each gateway's memory (the embedded default: one gateway). If Redis becomes unreachable the gateway logs a warning and counts in memory until it is back (fail open to per-replica limits). Its password is masked when printed.",
    url.optional(),
  ),
  HUB_RATE_LIMIT_PREFIX: def("rate limits", "Prefix of the rate-limit keys in Redis (several hubs, or tests, can share one Redis).", z.string().min(1).max(100).default("hub:rl")),
  HUB_RATE_PARTNER_REQUESTS_PER_MINUTE: def(
    "rate limits",
    "Default requests per minute of one partner, all its API clients and apps together (an admin sets a partner's own with setPartnerLimits).",
    positive.default(120_000),
  ),
  HUB_RATE_PARTNER_COST_PER_MINUTE: def("rate limits", "Default estimated cost (gateway/src/cost.ts) per minute of one partner, all its clients together.", positive.default(12_000_000)),
  HUB_RATE_CLIENT_REQUESTS_PER_MINUTE: def("rate limits", "Default requests per minute of one partner API client or app (setApiClientLimits sets a client's own).", positive.default(60_000)),
  HUB_RATE_CLIENT_COST_PER_MINUTE: def("rate limits", "Default estimated cost per minute of one partner API client or app.", positive.default(6_000_000)),
  HUB_RATE_LIMITS_POLL_MS: def("rate limits", "How often the gateway reads the admins' per-partner and per-client limits from the partner subgraph, in milliseconds.", int(100, 600_000).default(2_000)),

  // ── coalition (DESIGN.md §4, §6, §9) ───────────────────────────────────────────────────────
  HUB_CURRENCY: def(
    "coalition",
    "The coalition's settlement currency, ISO 4217 (rates, statements). The demo coalition settles in CNY.",
    z
      .string()
      .regex(/^[A-Z]{3}$/, "must be an ISO 4217 code like CNY")
      .default("CNY"),
  ),
  HUB_CURRENCY_MINOR_UNITS: def("coalition", "Decimals of that currency; each statement line is rounded half-even to them.", int(0, 4).default(2)),
  HUB_TIME_ZONE: def(
    "coalition",
    "The coalition's time zone (IANA name): where a day of a member's daily redemption limit starts and ends.",
    z.string().refine(isTimeZone, "must be an IANA time zone name, e.g. Asia/Shanghai").default("UTC"),
  ),
  HUB_EXPIRY_POLICY: def("coalition", "When earned points expire: `months_after_earning:<N>`, `inactivity_months:<N>` (pushed forward by every activity) or `never`.", expiryPolicy.prefault("months_after_earning:36"), {
    show: showExpiryPolicy,
  }),
  HUB_HOLD_TTL_MINUTES: def("coalition", "How long an uncaptured hold reserves points, in minutes.", int(1, 60 * 24 * 30).default(30)),
  HUB_REDEMPTION_CODE_TTL_SECONDS: def("coalition", "Lifetime of a member's single-use redemption code, in seconds.", int(30, 3600).default(600)),
  HUB_MIN_COHORT: def("coalition", "Partner insights about fewer members than this are suppressed.", int(2, 100_000).default(50)),
  HUB_INSIGHT_GRANULARITY: def("coalition", "Published insight counts are rounded down to a multiple of this (1 = exact).", int(1, 1000).default(10)),
  HUB_INSIGHT_STABILITY_HOURS: def("coalition", "Links and consents count in insights only once they are this many hours old (0 = at once).", int(0, 24 * 90).default(24)),
  HUB_LIFECYCLE_NEW_DAYS: def("coalition", "A member who joined less than this many days ago is NEW.", days.default(30)),
  HUB_LIFECYCLE_DORMANT_AFTER_JOIN_DAYS: def("coalition", "A member with no activity at all this many days after joining is DORMANT.", days.default(30)),
  HUB_LIFECYCLE_DORMANT_DAYS: def("coalition", "A member whose last activity is this many days old is DORMANT (below HUB_LIFECYCLE_CHURNED_DAYS).", days.default(90)),
  HUB_LIFECYCLE_CHURNED_DAYS: def("coalition", "A member whose last activity (or joining, without any) is this many days old is CHURNED.", days.default(180)),

  // ── points tuning (throughput knobs; the defaults are the measured ones, bench/) ──────────────
  HUB_LINK_GRACE_MS: def("points tuning", "How long a single award waits for a member link still in flight before NOT_FOUND, in milliseconds.", int(0, 5_000).default(750)),
  HUB_BULK_PARALLEL: def("points tuning", "Chunk transactions of one awardPointsBatch call in flight at once.", int(1, 64).default(2)),
  HUB_EARN_GROUP_COMMIT: def("points tuning", "1 = single awards of one partner are committed in groups (fewer commits), 0 = one transaction each.", z.enum(["0", "1"]).default("1")),
  HUB_EARN_GROUPS_INFLIGHT: def("points tuning", "Award groups of one partner in flight at once (with group commit).", int(1, 64).default(3)),

  // ── add a setting here ─────────────────────────────────────────────────────────────────────
  // New settings go in the group they belong to above (or a new group): name, doc with its unit,
  // a zod schema with bounds and a default that runs the demo. Then read it through loadEnv() or
  // readSetting() and run `npm run generate:env` (the .env.example test fails until you do).

  // ── events (lib/events/relay.ts) ────────────────────────────────────────────────────────────
  HUB_OUTBOX_RETENTION_HOURS: def("events", "Hours a delivered outbox event is kept (audits, `ledger verify`) before the relay prunes it.", int(1, 24 * 366).default(168)),
  HUB_EVENT_MAX_ATTEMPTS: def("events", "Failed deliveries after which the relay moves an event to its schema's dead-letter table.", int(1, 1000).default(10)),

  // ── webhooks (subgraphs/partner/src/webhooks/) ──────────────────────────────────────────────
  HUB_WEBHOOK_TIMEOUT_MS: def("webhooks", "How long one webhook delivery may take (connect, send, response headers and body), in milliseconds; then it counts as failed and is retried.", int(100, 60_000).default(10_000)),
  HUB_WEBHOOK_RETRY_WINDOW_SECONDS: def(
    "webhooks",
    "How long a failing delivery is retried, in seconds from its first attempt (default 3 days); then it is dead-lettered (status DEAD, replayable).",
    int(1, 30 * 86_400).default(3 * 86_400),
  ),
  HUB_WEBHOOK_BACKOFF_BASE_MS: def("webhooks", "Delay before the first retry, in milliseconds; each further retry doubles it (with ±50 % jitter) up to HUB_WEBHOOK_BACKOFF_MAX_MS.", int(10, 3_600_000).default(5_000)),
  HUB_WEBHOOK_BACKOFF_MAX_MS: def("webhooks", "Longest delay between two attempts, in milliseconds (default 1 hour).", int(10, 86_400_000).default(3_600_000)),
  HUB_WEBHOOK_ENDPOINT_CONCURRENCY: def("webhooks", "Deliveries in flight at once to one endpoint, per dispatcher process (a slow endpoint holds at most this many).", int(1, 64).default(4)),
  HUB_WEBHOOK_CONCURRENCY: def("webhooks", "Deliveries in flight at once per dispatcher process, all endpoints together.", int(1, 1_000).default(64)),
  HUB_WEBHOOK_RATE: def(
    "webhooks",
    "Deliveries a dispatcher process starts per second at most (0: no limit), claimed a tenth of a second's worth at a time and spread over it; while paced one endpoint gets at most HUB_WEBHOOK_ENDPOINT_CONCURRENCY per tenth of a second. Deliveries are background work: paced, a backlog drains as a steady stream that leaves the cores and the database to requests instead of a burst that takes them (bench:webhooks). Consent withdrawals go first whatever the backlog; more throughput: more partner replicas (claims never overlap).",
    int(0, 100_000).default(150),
  ),
  HUB_WEBHOOK_ROTATION_OVERLAP_SECONDS: def(
    "webhooks",
    "Default time both the old and the new signing secret sign deliveries after a rotation, in seconds (rotateWebhookSecret may ask for 0–7 days).",
    int(0, 7 * 86_400).default(86_400),
  ),
  HUB_WEBHOOK_ALLOWED_HOSTS: def(
    "webhooks",
    "Comma-separated host names or IP addresses (exactly as written in an endpoint URL) that may resolve to private, loopback or link-local addresses (tests, an on-premises receiver). Empty: none, except in the demo (HUB_DEMO, or the embedded database), where loopback and private hosts are allowed.",
    z.string().default(""),
  ),

  // ── admin CLI (defaults of `npm run cli` options) ──────────────────────────────────────────
  HUB_ADMIN_CLIENT_ID: def("admin CLI", "An ADMIN API client's id: `cli clients create` and `cli settlement export` go through the API with it.", z.string().min(1).optional()),
  HUB_ADMIN_CLIENT_SECRET: def("admin CLI", "That client's secret.", z.string().min(1).optional(), { secret: true }),
  HUB_MEMBER_PASSWORD: def("admin CLI", "A member's password for `cli token --member`.", z.string().min(1).optional(), { secret: true }),

  // ── tooling (read by prisma.config.ts and prisma/engine, not by the services) ─────────────────
  HUB_PRISMA_NATIVE_ENGINE: def("tooling", "1 = the Prisma CLI uses its native schema engine (downloaded; needs internet) instead of the bundled WASM one.", z.enum(["0", "1"]).default("0")),
  HUB_SCHEMA_ENGINE_LOG: def("tooling", "File the WASM schema engine shim appends every request, result and error to (debugging).", z.string().min(1).optional()),
} satisfies Record<string, Setting>;

export type SettingName = keyof typeof SETTINGS;
type Shape = { [K in SettingName]: (typeof SETTINGS)[K]["schema"] };

const Env = z.object(Object.fromEntries(Object.entries(SETTINGS).map(([k, s]) => [k, s.schema])) as Shape).superRefine((e, ctx) => {
  // Rules across settings: each issue names the variable to change.
  if (e.HUB_LIFECYCLE_DORMANT_DAYS >= e.HUB_LIFECYCLE_CHURNED_DAYS) {
    ctx.addIssue({ code: "custom", path: ["HUB_LIFECYCLE_DORMANT_DAYS"], message: `must be below HUB_LIFECYCLE_CHURNED_DAYS (${e.HUB_LIFECYCLE_CHURNED_DAYS})` });
  }
  if (e.HUB_MEMBER_IDP_ISSUER && !e.HUB_MEMBER_IDP_JWKS_URL) {
    ctx.addIssue({ code: "custom", path: ["HUB_MEMBER_IDP_JWKS_URL"], message: "is required with HUB_MEMBER_IDP_ISSUER" });
  }
});

export type HubEnv = z.infer<typeof Env>;

/** Raised for a bad configuration; its message names every bad variable (values of secrets masked). */
export class ConfigError extends Error {
  readonly problems: string[];

  constructor(problems: string[]) {
    super(`Invalid configuration:\n  - ${problems.join("\n  - ")}`);
    this.problems = problems;
    this.name = "ConfigError";
  }
}

/** The variables the table knows, with "" as unset. Unknown variables are not looked at. */
function known(env: NodeJS.ProcessEnv): Record<string, string> {
  const out: Record<string, string> = {};
  for (const name of Object.keys(SETTINGS)) {
    const v = env[name];
    if (v !== undefined && v !== "") out[name] = v;
  }
  return out;
}

const isSecret = (name: string) => (SETTINGS as Record<string, Setting>)[name]?.secret === true;

function problem(issue: z.core.$ZodIssue, raw: Record<string, string>): string {
  const name = String(issue.path[0] ?? "");
  const given = raw[name];
  const shown = given === undefined ? "unset" : isSecret(name) ? "a secret value (not shown)" : JSON.stringify(given);
  return `${name}=${shown}: ${issue.message}`;
}

/** The typed configuration from `env`; throws ConfigError naming every bad variable. */
export function loadEnv(env: NodeJS.ProcessEnv = process.env): HubEnv {
  const raw = known(env);
  const parsed = Env.safeParse(raw);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => problem(i, raw)));
  return parsed.data;
}

/**
 * One setting, validated on its own (for modules that need a single value, possibly often, and
 * for the logger, which must not fail while the process is still loading).
 */
export function readSetting<K extends SettingName>(name: K, env: NodeJS.ProcessEnv = process.env): HubEnv[K] {
  const raw = known({ [name]: env[name] });
  const parsed = SETTINGS[name].schema.safeParse(raw[name]);
  if (!parsed.success) throw new ConfigError(parsed.error.issues.map((i) => problem({ ...i, path: [name] }, raw)));
  return parsed.data as HubEnv[K];
}

/**
 * Start-up of a process, before it opens anything: the validated configuration, or one message on
 * stderr naming every bad variable (and, in production, every missing secret: lib/deployment.ts)
 * and exit code 1. A configuration mistake is not a crash: no stack trace.
 */
export function configOrExit(role: ProcessRole | undefined, env: NodeJS.ProcessEnv = process.env): HubEnv {
  let config: HubEnv;
  try {
    config = loadEnv(env);
  } catch (e) {
    if (!(e instanceof ConfigError)) throw e;
    refuseToStart("Invalid configuration (.env.example and `npm run cli -- config` list every variable, its default and its meaning)", e.problems);
  }
  const problems = role ? deploymentProblems(role, env) : [];
  if (problems.length) refuseToStart("Refusing to start in production (NODE_ENV=production)", problems);
  return config;
}

/** Stops a process that cannot start as configured: the reasons on stderr, exit code 1, no stack trace. */
export function refuseToStart(why: string, problems: string[]): never {
  process.stderr.write(`${why}:\n  - ${problems.join("\n  - ")}\n`);
  process.exit(1);
}

/** A value as printed: secrets masked, the password of a URL masked, parsed values as their text. */
function display(name: SettingName, value: unknown): string {
  if (value === undefined) return "";
  const s: Setting = SETTINGS[name];
  if (s.secret) return "********";
  if (s.show) return (s.show as (v: unknown) => string)(value);
  if ((name === "DATABASE_URL" || name === "REDIS_URL") && typeof value === "string" && URL.canParse(value)) {
    const u = new URL(value);
    if (u.password) u.password = "********";
    return u.toString();
  }
  return typeof value === "object" ? JSON.stringify(value) : String(value);
}

export interface EffectiveSetting {
  name: SettingName;
  group: Group;
  doc: string;
  secret: boolean;
  /** As printed: secrets masked; "" when unset without a default. */
  value: string;
  source: "environment" | "default" | "unset";
}

/** The effective configuration, one entry per variable in table order, safe to print. */
export function effectiveConfig(env: NodeJS.ProcessEnv = process.env): EffectiveSetting[] {
  const parsed = loadEnv(env);
  const raw = known(env);
  return (Object.entries(SETTINGS) as [SettingName, Setting][]).map(([name, s]) => ({
    name,
    group: s.group,
    doc: s.doc,
    secret: s.secret === true,
    value: display(name, parsed[name]),
    source: raw[name] !== undefined ? "environment" : parsed[name] === undefined ? "unset" : "default",
  }));
}

/** The text of `.env.example`: every variable, grouped, commented out at its default. */
export function envExample(): string {
  const defaults = loadEnv({});
  const lines = [
    "# Coalition Hub: every environment variable it reads, generated from lib/config.ts by",
    "# `npm run generate:env` (do not edit by hand). Each is shown at its default, commented out:",
    "# `npm start` needs none of them. An empty value counts as unset.",
  ];
  let group: Group | undefined;
  for (const [name, s] of Object.entries(SETTINGS) as [SettingName, Setting][]) {
    if (s.group !== group) {
      group = s.group;
      lines.push("", "", `# ── ${group} ${"─".repeat(Math.max(3, 96 - group.length))}`);
    }
    lines.push("", ...wrap(`${s.doc}${s.secret ? " Secret." : ""}`, 98).map((l) => `# ${l}`));
    const d = defaults[name];
    lines.push(`# ${name}=${d === undefined ? "" : s.show ? (s.show as (v: unknown) => string)(d) : String(d)}`);
  }
  return `${lines.join("\n")}\n`;
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  let line = "";
  for (const word of text.split(" ")) {
    if (line && line.length + 1 + word.length > width) {
      out.push(line);
      line = word;
    } else line = line ? `${line} ${word}` : word;
  }
  if (line) out.push(line);
  return out;
}
