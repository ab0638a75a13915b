import { timingSafeEqual } from "node:crypto";
import type { IncomingMessage, ServerResponse } from "node:http";
import client from "prom-client";
import { readSetting } from "./config.ts";

/**
 * The hub's Prometheus metrics (prom-client), one registry per process: the embedded hub (one
 * process) exposes the gateway's and the three subgraphs' series together, each process of a
 * docker-compose / Kubernetes deployment its own. Served at GET /metrics by the gateway and by each
 * subgraph (`serveMetrics`), protected by HUB_METRICS_TOKEN (see there).
 *
 * Label values are bounded: operation names are clipped and capped (MAX_OPERATIONS distinct ones,
 * then "(other)"), error codes come from lib/errors.ts, partner ids from the partner table.
 * deploy/grafana/coalition-hub.json uses exactly the names of METRIC_NAMES (tests/tooling/grafana.test.ts).
 */
export const registry = new client.Registry();

const PREFIX = "hub_";
client.collectDefaultMetrics({ register: registry, prefix: PREFIX });

const LATENCY_BUCKETS = [0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

export const httpRequests = new client.Counter({
  name: "hub_http_requests_total",
  help: "HTTP requests answered, by service (gateway, member, points, partner), route and status code.",
  labelNames: ["service", "route", "status"] as const,
  registers: [registry],
});
export const httpDuration = new client.Histogram({
  name: "hub_http_request_duration_seconds",
  help: "Time from a request's arrival to its response's end, seconds, by service and route.",
  labelNames: ["service", "route"] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});
export const graphqlOperations = new client.Counter({
  name: "hub_graphql_operations_total",
  help: "GraphQL operations executed, by service, operation name (the client's) and outcome (ok = no error, error = at least one).",
  labelNames: ["service", "operation", "outcome"] as const,
  registers: [registry],
});
export const graphqlDuration = new client.Histogram({
  name: "hub_graphql_operation_duration_seconds",
  help: "GraphQL operation latency, seconds, by service and operation name.",
  labelNames: ["service", "operation"] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});
export const graphqlErrors = new client.Counter({
  name: "hub_graphql_errors_total",
  help: "GraphQL errors returned, by service and extensions.code (lib/errors.ts; INTERNAL_SERVER_ERROR = masked).",
  labelNames: ["service", "code"] as const,
  registers: [registry],
});
export const subgraphRequests = new client.Counter({
  name: "hub_subgraph_requests_total",
  help: "The gateway's fetches to subgraphs, by subgraph and outcome (ok, http_error, failed = no response).",
  labelNames: ["subgraph", "outcome"] as const,
  registers: [registry],
});
export const subgraphDuration = new client.Histogram({
  name: "hub_subgraph_request_duration_seconds",
  help: "The gateway's subgraph fetch latency, seconds, by subgraph.",
  labelNames: ["subgraph"] as const,
  buckets: LATENCY_BUCKETS,
  registers: [registry],
});

// ── events (lib/events/relay.ts) ──────────────────────────────────────────────────────────────
export const eventsDelivered = new client.Counter({
  name: "hub_events_delivered_total",
  help: "Outbox events delivered to every consumer, by producing schema.",
  labelNames: ["schema"] as const,
  registers: [registry],
});
export const eventDeliveryFailures = new client.Counter({
  name: "hub_event_delivery_failures_total",
  help: "Failed delivery attempts of outbox events (retried with backoff), by producing schema.",
  labelNames: ["schema"] as const,
  registers: [registry],
});
export const eventsDeadLettered = new client.Counter({
  name: "hub_events_dead_lettered_total",
  help: "Outbox events moved to the dead-letter table after their last allowed attempt, by producing schema.",
  labelNames: ["schema"] as const,
  registers: [registry],
});
export const eventLag = new client.Histogram({
  name: "hub_event_relay_lag_seconds",
  help: "Time from an event's commit to its delivery to every consumer, seconds, by producing schema.",
  labelNames: ["schema"] as const,
  buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 15, 60, 300, 1800],
  registers: [registry],
});

// ── webhooks (the partner subgraph's deliveries call recordWebhookDelivery) ─────────────────────
export type WebhookOutcome = "delivered" | "failed" | "dead_lettered";
export const webhookDeliveries = new client.Counter({
  name: "hub_webhook_deliveries_total",
  help: "Webhook delivery attempts, by outcome: delivered (2xx), failed (will retry), dead_lettered (gave up).",
  labelNames: ["outcome"] as const,
  registers: [registry],
});
export const webhookDuration = new client.Histogram({
  name: "hub_webhook_delivery_duration_seconds",
  help: "Webhook delivery attempt latency (request to the partner's endpoint until its answer or the timeout), seconds.",
  labelNames: ["outcome"] as const,
  buckets: [0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
  registers: [registry],
});

/** One webhook delivery attempt (called by the webhook sender). */
export function recordWebhookDelivery(outcome: WebhookOutcome, durationMs: number): void {
  webhookDeliveries.inc({ outcome });
  webhookDuration.observe({ outcome }, durationMs / 1000);
}

// ── gauges computed at scrape time (database pools, outbox backlog, business figures) ─────────
type Collector = () => Promise<void> | void;
const collectors = new Set<Collector>();

/** Registers a function run before each scrape (async allowed); returns its unregistering function. */
export function onScrape(fn: Collector): () => void {
  collectors.add(fn);
  return () => collectors.delete(fn);
}

export const dbPool = new client.Gauge({
  name: "hub_db_pool_connections",
  help: "PostgreSQL pool connections of this process, by pool (the subgraph or relay using it) and state (total, idle, waiting = clients queued for a connection).",
  labelNames: ["pool", "state"] as const,
  registers: [registry],
});
export const dbPoolMax = new client.Gauge({
  name: "hub_db_pool_max_connections",
  help: "Size limit of each PostgreSQL pool of this process (HUB_DB_POOL_SIZE).",
  labelNames: ["pool"] as const,
  registers: [registry],
});

interface PoolLike {
  totalCount: number;
  idleCount: number;
  waitingCount: number;
  options: { max?: number };
}
const pools = new Map<string, PoolLike>();
let poolSeq = 0;
/** Reports a pg pool's usage as hub_db_pool_connections{pool=<name>} (lib/db.ts calls it for every pool). */
export function watchPool(name: string, pool: PoolLike): () => void {
  const key = pools.has(name) ? `${name}-${++poolSeq}` : name;
  pools.set(key, pool);
  return () => {
    pools.delete(key);
    dbPool.remove({ pool: key, state: "total" });
    dbPool.remove({ pool: key, state: "idle" });
    dbPool.remove({ pool: key, state: "waiting" });
    dbPoolMax.remove({ pool: key });
  };
}
onScrape(() => {
  for (const [name, p] of pools) {
    dbPool.set({ pool: name, state: "total" }, p.totalCount);
    dbPool.set({ pool: name, state: "idle" }, p.idleCount);
    dbPool.set({ pool: name, state: "waiting" }, p.waitingCount);
    dbPoolMax.set({ pool: name }, p.options.max ?? 10);
  }
});

export const outboxPending = new client.Gauge({
  name: "hub_outbox_pending_events",
  help: "Outbox events not yet delivered, by producing schema (read at scrape time).",
  labelNames: ["schema"] as const,
  registers: [registry],
});
export const outboxOldestAge = new client.Gauge({
  name: "hub_outbox_oldest_pending_age_seconds",
  help: "Age of the oldest undelivered outbox event, seconds (0 = none pending), by producing schema: the relay's current lag.",
  labelNames: ["schema"] as const,
  registers: [registry],
});
export const deadLetters = new client.Gauge({
  name: "hub_dead_letter_events",
  help: "Events in each schema's dead-letter table (waiting for an admin's replay).",
  labelNames: ["schema"] as const,
  registers: [registry],
});
export const pointsIssuedLastHour = new client.Gauge({
  name: "hub_points_issued_last_hour",
  help: "Points issued (EARN and OFFER_BONUS) in the last 60 minutes, by issuing partner id (points).",
  labelNames: ["partner_id"] as const,
  registers: [registry],
});
export const pointsRedeemedLastHour = new client.Gauge({
  name: "hub_points_redeemed_last_hour",
  help: "Points redeemed (REDEEM) in the last 60 minutes, by redeeming partner id (points).",
  labelNames: ["partner_id"] as const,
  registers: [registry],
});
export const outstandingLiability = new client.Gauge({
  name: "hub_points_outstanding_liability",
  help: "Points in members' wallets, coalition-wide: what the partners owe their members (points).",
  registers: [registry],
});
export const holdsOpen = new client.Gauge({
  name: "hub_holds_open",
  help: "Redemption holds still PENDING (points reserved, neither captured, voided nor expired).",
  registers: [registry],
});
export const scrapeErrors = new client.Counter({
  name: "hub_metrics_collect_errors_total",
  help: "Scrape-time collections that failed (the previous values stay), by collector.",
  labelNames: ["collector"] as const,
  registers: [registry],
});

/**
 * Runs `fn` at most once per `everyMs`; a scrape in between keeps the last values. Bounds the SQL a
 * scraper can cause, however often it scrapes.
 */
export function throttled(name: string, everyMs: number, fn: () => Promise<void>): Collector {
  let last = 0;
  let running: Promise<void> | null = null;
  return () => {
    if (running) return running;
    if (Date.now() - last < everyMs) return;
    last = Date.now();
    running = fn()
      .catch(() => {
        scrapeErrors.inc({ collector: name });
      })
      .finally(() => {
        running = null;
      });
    return running;
  };
}

/** Every metric name this module exports (the dashboard test checks the Grafana JSON against it). */
export async function metricNames(): Promise<string[]> {
  return (await registry.getMetricsAsJSON()).map((m) => m.name);
}

/** The exposition text (Prometheus text format 0.0.4), collectors run first. */
export async function metricsText(): Promise<string> {
  await Promise.all([...collectors].map(async (fn) => fn()));
  return registry.metrics();
}

/** Clips and caps a client-given operation name for use as a label value. */
const MAX_OPERATIONS = 200;
const seenOperations = new Set<string>();
export function operationLabel(name: string | null | undefined): string {
  if (!name) return "(anonymous)";
  const clipped = name.slice(0, 64);
  if (seenOperations.has(clipped)) return clipped;
  if (seenOperations.size >= MAX_OPERATIONS) return "(other)";
  seenOperations.add(clipped);
  return clipped;
}

const LOOPBACK = new Set(["127.0.0.1", "::1", "::ffff:127.0.0.1"]);

/**
 * GET /metrics for any of the hub's servers. With HUB_METRICS_TOKEN set: `Authorization: Bearer
 * <token>` from anywhere (compared in constant time), 401 otherwise. Unset: loopback clients only
 * (403 otherwise), so an unconfigured deployment never publishes its figures.
 */
export async function serveMetrics(req: IncomingMessage, res: ServerResponse, token: string | undefined = readSetting("HUB_METRICS_TOKEN")): Promise<void> {
  if (req.method !== "GET" && req.method !== "HEAD") {
    res.writeHead(405, { allow: "GET, HEAD", "content-type": "text/plain; charset=utf-8" });
    return void res.end("Use GET\n");
  }
  if (token) {
    const given = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "")?.[1] ?? "";
    const a = Buffer.from(given);
    const b = Buffer.from(token);
    if (a.length !== b.length || !timingSafeEqual(a, b)) {
      res.writeHead(401, { "www-authenticate": 'Bearer realm="metrics"', "content-type": "text/plain; charset=utf-8" });
      return void res.end("A bearer token (HUB_METRICS_TOKEN) is required\n");
    }
  } else if (!LOOPBACK.has(req.socket.remoteAddress ?? "")) {
    res.writeHead(403, { "content-type": "text/plain; charset=utf-8" });
    return void res.end("Set HUB_METRICS_TOKEN to scrape /metrics from another host\n");
  }
  const body = await metricsText();
  res.writeHead(200, { "content-type": registry.contentType, "cache-control": "no-store" });
  res.end(req.method === "HEAD" ? undefined : body);
}
