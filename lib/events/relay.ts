import { hostname } from "node:os";
import { loadEnv } from "../config.ts";
import { IDENTITY_HEADER, serviceIdentity } from "../internal-auth.ts";
import type { PrismaClient } from "../db.ts";
import { log } from "../logger.ts";
import { deadLetters as deadLetterGauge, eventDeliveryFailures, eventLag, eventsDeadLettered, eventsDelivered, onScrape, outboxOldestAge, outboxPending, throttled } from "../metrics.ts";
import { untraced } from "../tracing.ts";
import { SERVICE_SUB } from "../principal.ts";
import { isEventType, type SchemaName, SUBSCRIPTIONS } from "./catalogue.ts";
import type { DomainEvent } from "./inbox.ts";
import { onEmitted } from "./outbox.ts";
import { HELD, subjectKey } from "./subject.ts";

/** A released event's lastError: it waits behind an earlier event about its subject. */
const HELD_BEHIND = "held: waiting behind an earlier event about the same subject that has not been delivered yet";

/**
 * The relay: delivers committed outbox events over HTTP to the consuming subgraphs'
 * `POST /internal/events`, routed by the catalogue (SUBSCRIPTIONS). Delivery is at least once; the
 * consumers' inboxes make it exactly once in effect.
 *
 * Why HTTP and not a broker: it works unchanged on the embedded PGlite default (one process, no
 * broker), keeps each subgraph the only reader of its own tables, and moves to a broker later by
 * swapping the relay's transport.
 *
 * Two housekeeping duties keep the outbox small and honest: an event that failed
 * HUB_EVENT_MAX_ATTEMPTS deliveries moves to the schema's dead-letter table with its last error
 * (no longer retried; an admin replays it, lib/events/dead-letters.ts), and delivered events older
 * than HUB_OUTBOX_RETENTION_HOURS are deleted.
 */

export interface EventSettings {
  /** Failed deliveries after which an event is dead-lettered. */
  maxAttempts: number;
  /** Hours a delivered event stays in the outbox. */
  retentionHours: number;
}

/** The relay's settings from the environment (lib/config.ts: HUB_EVENT_MAX_ATTEMPTS, HUB_OUTBOX_RETENTION_HOURS). */
export function eventSettings(env: NodeJS.ProcessEnv = process.env): EventSettings {
  const e = loadEnv(env);
  return { maxAttempts: e.HUB_EVENT_MAX_ATTEMPTS, retentionHours: e.HUB_OUTBOX_RETENTION_HOURS };
}

export interface RelayOptions {
  schema: SchemaName;
  prisma: () => PrismaClient;
  /** GraphQL or base URLs of the subgraphs, to reach their /internal/events. */
  peers: () => Partial<Record<SchemaName, string>>;
  internalKey: Uint8Array;
  intervalMs?: number;
  batchSize?: number;
  /** Default: `eventSettings()`. */
  settings?: Partial<EventSettings>;
  /** How often the relay prunes delivered events (default 10 minutes; `prune()` runs it at once). */
  pruneIntervalMs?: number;
  /** Who holds the schema's relay lease while this relay delivers (default: the host's name). */
  holder?: string;
}

export interface Relay {
  /** Delivers everything pending now (tests, shutdown). Resolves when the outbox has no deliverable events left. */
  flush(): Promise<void>;
  /** Deletes the delivered events older than the retention period now; resolves to how many. */
  prune(): Promise<number>;
  stop(): Promise<void>;
}

interface OutboxRow {
  id: string;
  type: string;
  payload: unknown;
  createdAt: Date;
  attempts: number;
  traceparent: string | null;
}

/**
 * How long a relay's lease lasts without renewal (each pass renews it): as long as a claimed
 * event's lock, so a relay taking over from one that died never overtakes the dead one's batch.
 */
const LEASE_SECONDS = 30;
/** How often a holder renews its lease (a third of its length). */
const RENEW_MS = 10_000;

/** Rows deleted per pruning statement: short statements, no long lock on a busy outbox. */
const PRUNE_CHUNK = 1000;

// Claim a batch in one statement (no transaction held while delivering: on PGlite that would
// block the consumer's own writes). SKIP LOCKED lets several relays share the outbox. In the order
// the events were written (seq; events from before it existed, without one, first): consumers
// apply a batch in delivery order, and an UPDATE's RETURNING has no order of its own.
//
// An event waits behind an earlier undelivered one about the same subject (its member, else its
// offer, else its partner: subjectKey) that failed ("failedPeers" set: the consumers that failed it,
// cleared on delivery; the row leaves the outbox when dead-lettered) or is claimed right now by
// another relay (a relay restarted in place takes the lease back at once: its dead predecessor's
// claim is still locked). Delivering it during the other's backoff would let it overtake, and
// partners' webhooks follow that order. The hold covers every consumer: held per consumer, an event
// waiting at one consumer let its successors of another type overtake it at a consumer that was up
// (a review found it). The failing rows come from the undelivered range the claim reads anyway, and
// the holds are one map looked up per row (joined, the planner sorted the whole backlog by subject;
// as NOT EXISTS it probed every failing row per row; `npm run bench:relay-claim`).
const SUBJECT = (alias: string) => `coalesce(lower(${alias}payload->>'memberId'), lower(${alias}payload->>'offerId'), lower(${alias}payload->>'partnerId'))`;
const holdsOf = (table: string) => `failing AS MATERIALIZED (
    SELECT ${SUBJECT("")} AS subject, min(coalesce(seq, -1)) AS seq FROM ${table}
    WHERE "deliveredAt" IS NULL AND ("failedPeers" IS NOT NULL OR "lockedUntil" > now()) AND ${SUBJECT("")} IS NOT NULL GROUP BY 1
  ), holds AS MATERIALIZED (SELECT jsonb_object_agg(subject, seq) AS until FROM failing)`;
// One row: the holds as a map subject → the seq its events wait behind (null: no holds). A scalar
// subquery, computed once (joined, the map went along with every row into the sort).
const deliverableOf = (table: string) => `${table} o
    WHERE o."deliveredAt" IS NULL AND (o."lockedUntil" IS NULL OR o."lockedUntil" < now())
      AND ((SELECT until FROM holds) IS NULL OR o.seq IS NULL OR coalesce(((SELECT until FROM holds) ->> ${SUBJECT("o.")})::bigint >= o.seq, true))`;

/** The relay's claim of up to `batchSize` deliverable events of a schema's outbox, in write order (exported for bench/relay-claim.ts). */
export function relayClaimSql(schema: SchemaName, batchSize: number): string {
  const table = `"${schema}"."OutboxEvent"`;
  return `WITH ${holdsOf(table)}, claimed AS (
       UPDATE ${table} SET "lockedUntil" = now() + interval '30 seconds', attempts = attempts + 1
       WHERE id IN (SELECT o.id FROM ${deliverableOf(table)}
                    ORDER BY o.seq NULLS FIRST, o."createdAt", o.id LIMIT ${Math.trunc(batchSize)} FOR UPDATE OF o SKIP LOCKED)
       RETURNING id, type, payload, "createdAt", attempts, traceparent, seq
     )
     SELECT id, type, payload, "createdAt", attempts, traceparent FROM claimed ORDER BY seq NULLS FIRST, "createdAt", id`;
}

/** Delivers committed outbox events of one schema to their consumers, at least once, in write order (a subject's events behind its failing one). */
export function startOutboxRelay(opts: RelayOptions): Relay {
  const interval = opts.intervalMs ?? 250;
  const batchSize = opts.batchSize ?? 200;
  const settings: EventSettings = { ...eventSettings(), ...opts.settings };
  const pruneEveryMs = opts.pruneIntervalMs ?? 600_000;
  let lastPrune = 0;
  let stopped = false;
  let running: Promise<number> | null = null;
  let timer: NodeJS.Timeout | undefined;
  const table = `"${opts.schema}"."OutboxEvent"`;
  const deadLetters = `"${opts.schema}"."DeadLetterEvent"`;
  const leases = `"${opts.schema}"."RelayLease"`;
  const holder = opts.holder ?? hostname();

  // One relay of a schema delivers at a time (replicas each run one): two relays claiming side by
  // side (SKIP LOCKED) delivered their batches in either order, so a member's later events could
  // overtake earlier ones. The lease is a row, taken when free or expired and renewed by each pass
  // of its holder; the others idle until it expires or is released (stop()). A restarted process
  // on the same host takes it back at once (the holder is the host's name).
  // Renewed at most every RENEW_MS while held (not one more statement on every pass): it is
  // granted for LEASE_SECONDS, so it never lapses between renewals while its holder runs.
  let heldUntil = 0;
  async function lease(): Promise<boolean> {
    if (performance.now() < heldUntil) return true;
    const held = await opts.prisma().$queryRawUnsafe<unknown[]>(
      `INSERT INTO ${leases} (id, holder, until) VALUES (1, $1, now() + interval '${LEASE_SECONDS} seconds')
       ON CONFLICT (id) DO UPDATE SET holder = EXCLUDED.holder, until = EXCLUDED.until
       WHERE ${leases}.holder = EXCLUDED.holder OR ${leases}.until < now()
       RETURNING 1`,
      holder,
    );
    heldUntil = held.length > 0 ? performance.now() + RENEW_MS : 0;
    return held.length > 0;
  }

  const claimSql = relayClaimSql(opts.schema, batchSize);
  async function claim(): Promise<OutboxRow[]> {
    return opts.prisma().$queryRawUnsafe<OutboxRow[]>(claimSql);
  }

  async function deliverTo(peer: SchemaName, events: DomainEvent[]): Promise<Map<string, string | null>> {
    const out = new Map<string, string | null>();
    const base = opts.peers()[peer];
    if (!base) {
      for (const e of events) out.set(e.id, `no URL for subgraph ${peer}`);
      return out;
    }
    try {
      const res = await fetch(new URL("/internal/events", base), {
        method: "POST",
        headers: { "content-type": "application/json", [IDENTITY_HEADER]: await serviceIdentity(opts.internalKey, SERVICE_SUB) },
        body: JSON.stringify({ events }),
      });
      if (!res.ok) throw new Error(`HTTP ${res.status}`);
      const { results } = (await res.json()) as { results: { id: string; ok: boolean; error?: string }[] };
      for (const r of results) out.set(r.id, r.ok ? null : (r.error ?? "failed"));
    } catch (e) {
      for (const ev of events) out.set(ev.id, e instanceof Error ? e.message : String(e));
    }
    return out;
  }

  async function once(): Promise<number> {
    if (!(await lease())) return 0;
    const rows = await claim();
    if (!rows.length) return 0;
    const events: DomainEvent[] = rows.map((r) => ({ id: r.id, type: r.type, payload: r.payload, createdAt: new Date(r.createdAt).toISOString(), ...(r.traceparent ? { traceparent: r.traceparent } : {}) }));
    const errors = new Map<string, string>();
    /** The consumers that failed an event (a consumer's "held" is not a failure of that event). */
    const failedAt = new Map<string, string[]>();
    const held = new Set<string>();
    const byPeer = new Map<SchemaName, DomainEvent[]>();
    for (const e of events) {
      // Not acknowledged and dropped: an unknown type fails like a failed delivery (and is dead-lettered in the end).
      if (!isEventType(e.type)) {
        errors.set(e.id, `${e.type} is not in the event catalogue`);
        failedAt.set(e.id, []);
      } else for (const peer of SUBSCRIPTIONS[e.type]) byPeer.set(peer, [...(byPeer.get(peer) ?? []), e]);
    }
    // Consumers in parallel: an event's latency is the slowest consumer's, not their sum.
    const outcomes = await Promise.all([...byPeer].map(async ([peer, list]) => [peer, await deliverTo(peer, list)] as const));
    for (const [peer, out] of outcomes)
      for (const [id, err] of out) {
        if (!err) continue;
        if (err.startsWith(HELD)) held.add(id);
        else {
          failedAt.set(id, [...(failedAt.get(id) ?? []), peer]);
          errors.set(id, errors.has(id) ? `${errors.get(id)}; ${peer}: ${err}` : `${peer}: ${err}`);
        }
      }
    // Only a subject's first failed event of the batch is a failure (attempt counted, backoff,
    // failedPeers); its later ones, failed with it (a consumer down fails the whole delivery) or held
    // by a consumer, are released as they were before the claim: the claim holds them back while the
    // first one fails, and they follow it without a backoff of their own.
    const subjects = new Set<string>();
    const released: string[] = [];
    for (const e of events) {
      if (!failedAt.has(e.id)) {
        if (held.has(e.id)) released.push(e.id);
        continue;
      }
      const subject = subjectKey(e.payload);
      if (subject !== null && subjects.has(subject)) {
        failedAt.delete(e.id);
        errors.delete(e.id);
        released.push(e.id);
      } else if (subject !== null) subjects.add(subject);
    }
    if (released.length) {
      await opts.prisma().$executeRawUnsafe(`UPDATE ${table} SET "lockedUntil" = NULL, attempts = greatest(attempts - 1, 0), "lastError" = $2 WHERE id = ANY($1::uuid[])`, released, HELD_BEHIND);
    }
    const waiting = new Set(released);
    const delivered = events.filter((e) => !failedAt.has(e.id) && !waiting.has(e.id)).map((e) => e.id);
    if (delivered.length) {
      const now = Date.now();
      eventsDelivered.inc({ schema: opts.schema }, delivered.length);
      const done = new Set(delivered);
      for (const r of rows) if (done.has(r.id)) eventLag.observe({ schema: opts.schema }, Math.max(0, now - new Date(r.createdAt).getTime()) / 1000);
      await opts.prisma().$executeRawUnsafe(`UPDATE ${table} SET "deliveredAt" = now(), "lockedUntil" = NULL, "lastError" = NULL, "failedPeers" = NULL WHERE id = ANY($1::uuid[])`, delivered);
    }
    if (errors.size) eventDeliveryFailures.inc({ schema: opts.schema }, errors.size);
    const dead: [string, string][] = [];
    for (const [id, err] of errors) {
      const attempts = rows.find((r) => r.id === id)?.attempts ?? 1;
      if (attempts >= settings.maxAttempts) {
        dead.push([id, err.slice(0, 1000)]);
        continue;
      }
      // Exponential backoff, capped at 5 minutes.
      const backoffMs = Math.min(300_000, 200 * 2 ** Math.min(attempts, 11));
      await opts
        .prisma()
        .$executeRawUnsafe(
          `UPDATE ${table} SET "lockedUntil" = now() + ($2::int * interval '1 millisecond'), "lastError" = $3, "failedPeers" = $4::text[] WHERE id = $1::uuid`,
          id,
          backoffMs,
          err.slice(0, 1000),
          failedAt.get(id) ?? [],
        );
      log.warn("event delivery failed", { schema: opts.schema, eventId: id, attempts, err });
    }
    if (dead.length) {
      // Moved in one statement: the event is in the outbox or in the dead letters, never in both or neither.
      await opts.prisma().$executeRawUnsafe(
        `WITH moved AS (DELETE FROM ${table} WHERE id = ANY($1::uuid[]) AND "deliveredAt" IS NULL RETURNING id, type, payload, "createdAt", attempts, traceparent)
         INSERT INTO ${deadLetters} (id, type, payload, "createdAt", attempts, "lastError", traceparent)
         SELECT m.id, m.type, m.payload, m."createdAt", m.attempts, e.err, m.traceparent FROM moved m JOIN unnest($1::uuid[], $2::text[]) AS e(id, err) ON e.id = m.id
         ON CONFLICT (id) DO UPDATE SET attempts = EXCLUDED.attempts, "lastError" = EXCLUDED."lastError", "deadAt" = now()`,
        dead.map(([id]) => id),
        dead.map(([, err]) => err),
      );
      eventsDeadLettered.inc({ schema: opts.schema }, dead.length);
      for (const [id, err] of dead) {
        log.error("event dead-lettered after its last allowed delivery attempt", { schema: opts.schema, eventId: id, maxAttempts: settings.maxAttempts, err });
      }
    }
    // Claimed, not delivered: a pass that claimed a whole batch says more may be waiting (failed
    // deliveries are locked with their backoff, so they are not claimed again at once).
    return rows.length;
  }

  async function prune(): Promise<number> {
    lastPrune = Date.now();
    let total = 0;
    for (;;) {
      const n = await opts
        .prisma()
        .$executeRawUnsafe(`DELETE FROM ${table} WHERE id IN (SELECT id FROM ${table} WHERE "deliveredAt" < now() - ($1::int * interval '1 hour') LIMIT ${PRUNE_CHUNK})`, settings.retentionHours);
      total += n;
      if (n < PRUNE_CHUNK || stopped) return total;
    }
  }

  function run(): Promise<number> {
    if (running) return running;
    // The relay's own statements and fetches are plumbing, never a trace of their own (the
    // consumers' spans join each event's emitting trace through its stored traceparent).
    running = untraced(once)
      .catch((e) => {
        if (!stopped) log.warn("outbox relay pass failed", { schema: opts.schema, err: e });
        return 0;
      })
      .finally(() => {
        running = null;
      });
    return running;
  }

  function schedule() {
    if (stopped) return;
    timer = setTimeout(async () => {
      // Keep going while there is work; then idle until the next tick or a kick.
      while (!stopped && (await run()) > 0);
      if (!stopped && Date.now() - lastPrune >= pruneEveryMs) {
        await prune().catch((e) => log.warn("outbox pruning failed", { schema: opts.schema, err: e }));
      }
      schedule();
    }, interval);
    timer.unref?.();
  }

  // A wake (after a commit) runs passes until no wake arrived during the last one and the last
  // one did not fill a whole batch: an event committed while a pass was already claiming is
  // picked up by the next pass, not by the next poll.
  let again = false;
  let draining: Promise<void> | null = null;
  const kick = () => {
    if (stopped) return;
    if (draining) {
      again = true;
      return;
    }
    draining = (async () => {
      do {
        again = false;
        // A pass already under way may have claimed before the commit that woke us.
        if (running) await running;
        while (!stopped && (await run()) >= batchSize);
      } while (!stopped && again);
    })().finally(() => {
      draining = null;
    });
  };
  const unregister = onEmitted(opts.schema, kick);
  // Backlog and dead letters for /metrics, read at most every 10 s however often it is scraped.
  const unscrape = onScrape(
    throttled(`outbox:${opts.schema}`, 10_000, () =>
      untraced(async () => {
        const [row] = await opts.prisma().$queryRawUnsafe<{ pending: number; age: number | null; dead: number }[]>(
          `SELECT (SELECT count(*)::int FROM ${table} WHERE "deliveredAt" IS NULL) AS pending,
                  (SELECT extract(epoch FROM now() - min("createdAt"))::float8 FROM ${table} WHERE "deliveredAt" IS NULL) AS age,
                  (SELECT count(*)::int FROM ${deadLetters}) AS dead`,
        );
        outboxPending.set({ schema: opts.schema }, row?.pending ?? 0);
        outboxOldestAge.set({ schema: opts.schema }, Math.max(0, row?.age ?? 0));
        deadLetterGauge.set({ schema: opts.schema }, row?.dead ?? 0);
      }),
    ),
  );
  schedule();

  return {
    async flush() {
      if (running) await running;
      for (let i = 0; i < 1000; i++) {
        const n = await run();
        if (n === 0) {
          const [{ pending }] = await opts.prisma().$queryRawUnsafe<{ pending: number }[]>(`WITH ${holdsOf(table)} SELECT count(*)::int AS pending FROM ${deliverableOf(table)}`);
          if (pending === 0) return;
        }
      }
    },
    prune,
    async stop() {
      stopped = true;
      clearTimeout(timer);
      unregister();
      unscrape();
      if (draining) await draining;
      if (running) await running;
      heldUntil = 0;
      // Released for another replica's relay at its next poll (not after the lease's 30 s).
      await opts
        .prisma()
        .$executeRawUnsafe(`UPDATE ${leases} SET until = now() WHERE holder = $1`, holder)
        .catch((e) => log.warn("outbox relay lease release failed", { schema: opts.schema, err: e }));
    },
  };
}
