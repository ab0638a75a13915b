import { z } from "zod";

/**
 * Runtime configuration from the environment, validated once at start-up. Everything has a default
 * that runs the embedded demo, so `npm start` needs no variables at all.
 */
const port = z.coerce.number().int().min(0).max(65535);
const Env = z.object({
  DATABASE_URL: z.string().url().optional(),
  /** Connections per process in the pg pool. */
  HUB_DB_POOL_SIZE: z.coerce.number().int().min(1).max(200).default(10),
  HUB_HOST: z.string().default("127.0.0.1"),
  HUB_PORT: port.default(4000),
  HUB_DATA_DIR: z.string().default(".data"),
  MEMBER_PORT: port.default(4001),
  POINTS_PORT: port.default(4002),
  PARTNER_PORT: port.default(4003),
  HUB_MEMBER_URL: z.string().url().optional(),
  HUB_POINTS_URL: z.string().url().optional(),
  HUB_PARTNER_URL: z.string().url().optional(),
  /** Shared by the gateway and the subgraphs only: signs the internal identity assertion. */
  HUB_INTERNAL_SECRET: z.string().min(32).optional(),
  /** Public issuer and audience of access tokens. */
  HUB_ISSUER: z.string().default("https://coalition-hub.local"),
  HUB_AUDIENCE: z.string().default("coalition-hub-api"),
  /** Currency of the coalition (settlement amounts and rates), ISO 4217. */
  HUB_CURRENCY: z.string().regex(/^[A-Z]{3}$/).default("CNY"),
  /** Minimum cohort below which partner insights are suppressed. */
  HUB_MIN_COHORT: z.coerce.number().int().min(2).max(100_000).default(50),
  /** Seed the demo coalition (and its well-known demo API clients) on an empty database. */
  HUB_DEMO: z.enum(["0", "1"]).optional(),
  HUB_LOG_LEVEL: z.enum(["debug", "info", "warn", "error", "silent"]).default("info"),
  /** Hours a delivered outbox event is kept (for audits and `ledger verify`) before the relay prunes it. */
  HUB_OUTBOX_RETENTION_HOURS: z.coerce.number().int().min(1).max(24 * 366).default(168),
  /** Failed deliveries after which the relay moves an event to its schema's dead-letter table. */
  HUB_EVENT_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(1000).default(10),
});
export type HubEnv = z.infer<typeof Env>;

export function loadEnv(env: NodeJS.ProcessEnv = process.env): HubEnv {
  const parsed = Env.safeParse(env);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join(".")}: ${i.message}`).join("; ");
    throw new Error(`Invalid configuration: ${issues}`);
  }
  return parsed.data;
}
