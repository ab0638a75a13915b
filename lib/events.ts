import { IDENTITY_HEADER, serviceIdentity } from "./internal-auth.ts";
import { afterCommit, type Prisma, type PrismaClient } from "./db.ts";
import { log } from "./logger.ts";
import { SERVICE_SUB } from "./principal.ts";
import type { InternalRoute } from "./subgraph-server.ts";

/**
 * Domain events between subgraphs: a transactional outbox per Postgres schema, a relay that
 * delivers committed events over HTTP to the consuming subgraph's `POST /internal/events`, and an
 * inbox there that records each event id in the same transaction as the handler's effect, so a
 * redelivery (relay crash, retry, two relays) changes nothing. The event id is the idempotency key.
 *
 * Why HTTP and not a broker: it works unchanged on the embedded PGlite default (one process, no
 * broker), keeps each subgraph the only reader of its own tables, and moves to a broker later by
 * swapping the relay's transport.
 */
export type SchemaName = "member" | "points" | "partner";

export interface DomainEvent<T = unknown> {
  id: string;
  type: string;
  payload: T;
  /** ISO-8601, UTC. */
  createdAt: string;
}

/** Which subgraphs consume which event types. An event nobody consumes is marked delivered at once. */
export const SUBSCRIPTIONS: Record<string, readonly SchemaName[]> = {
  "member.enrolled": ["points", "partner"],
  "member.linked": ["points"],
  "member.consent_granted": ["partner", "points"],
  "member.consent_revoked": ["partner", "points"],
  "points.activity": ["member", "partner"],
  "points.tier_changed": ["partner"],
  "points.data_accessed": ["member"],
  "partner.data_accessed": ["member"],
  "points.offer_applied": ["partner"],
  "partner.registered": ["points"],
  "partner.rates_changed": ["points"],
  "partner.offer_activated": ["points"],
  "partner.offer_claimed": ["points"],
  "partner.offer_paused": ["points"],
  "partner.offer_resumed": ["points"],
  "partner.status_changed": ["points"],
  "partner.earn_rule_changed": ["points"],
  "partner.offer_ended": ["points"],
};

type Tx = Prisma.TransactionClient;

function outbox(db: Tx | PrismaClient, schema: SchemaName) {
  switch (schema) {
    case "member":
      return db.memberOutboxEvent;
    case "points":
      return db.pointsOutboxEvent;
    case "partner":
      return db.partnerOutboxEvent;
  }
}

const kickers = new Map<SchemaName, Set<() => void>>();

/** Wakes this process's relays of `schema` (tests; after a commit the hook below does it). */
export function wakeRelays(schema: SchemaName): void {
  for (const kick of kickers.get(schema) ?? []) kick();
}

/**
 * Wakes this process's relay right after the emitting transaction commits (lib/db.ts afterCommit):
 * woken before, it found nothing yet and the event waited for the next poll (up to 250 ms). Outside
 * a hooked transaction (a client not opened by lib/db.ts) it falls back to a wake a little later.
 * Delivery never depends on the wake: the relay's poll finds every committed event.
 */
function wakeAfterCommit(schema: SchemaName): void {
  if (!kickers.get(schema)?.size) return;
  if (!afterCommit(() => wakeRelays(schema))) for (const kick of kickers.get(schema) ?? []) setTimeout(kick, 2);
}

/**
 * Writes an event to the schema's outbox. Call it with the transaction client of the change it
 * announces: the event exists if and only if the change committed.
 */
export async function emitEvent(tx: Tx, schema: SchemaName, event: { type: string; payload: unknown }): Promise<string> {
  const row = await outbox(tx, schema).create({ data: { type: event.type, payload: event.payload as Prisma.InputJsonValue } });
  wakeAfterCommit(schema);
  return row.id;
}

/**
 * Writes many events in one statement (bulk operations). One INSERT ... SELECT over a JSON array:
 * Prisma's createMany took 145–1,080 ms per 500 events here, this 12–47 ms.
 */
export async function emitEvents(tx: Tx, schema: SchemaName, events: { type: string; payload: unknown }[]): Promise<void> {
  if (!events.length) return;
  await tx.$executeRawUnsafe(
    `INSERT INTO "${schema}"."OutboxEvent" (id, type, payload)
     SELECT gen_random_uuid(), e->>'type', e->'payload' FROM jsonb_array_elements($1::jsonb) AS e`,
    JSON.stringify(events.map((e) => ({ type: e.type, payload: e.payload ?? null }))),
  );
  wakeAfterCommit(schema);
}

export type EventHandler = (tx: Tx, event: DomainEvent) => Promise<void>;

/**
 * A set-based handler for one event type: all the fresh events of that type in a delivered batch
 * (in delivery order, duplicates and already-processed ones removed), in one call, in the batch's
 * transaction. It must leave exactly the state its per-event handler leaves when applied to each
 * of them in turn, and its effects must commute with the other types' handlers of the consumer
 * (it runs after them). Single deliveries and the one-by-one fallback use the per-event handler.
 */
export type BatchEventHandler = (tx: Tx, events: DomainEvent[]) => Promise<void>;

function inbox(tx: Tx, schema: SchemaName) {
  switch (schema) {
    case "member":
      return tx.memberInboxEvent;
    case "points":
      return tx.pointsInboxEvent;
    case "partner":
      return tx.partnerInboxEvent;
  }
}

/**
 * The consumer side: `internalRoutes: { events: eventsRoute("points", prisma, handlers) }`.
 * A delivered batch is applied in ONE transaction: the inbox rows of all its events in one
 * statement, then the handlers of the events not seen before, in order. If anything in it fails,
 * nothing of it is kept and each event runs again in its own transaction with its inbox row, so a
 * failing event is reported alone and never holds back the others. An event already in the inbox
 * is acknowledged without running its handler again.
 *
 * Handlers keep all their effects in `tx` (delivery is at least once: a handler may run again after
 * a failed commit, or after the batch attempt rolled back).
 *
 * Why batch: every earn emits points.activity for two consumers; one transaction per event made
 * the consumers' writes (begin, inbox row, handler, commit per event) outweigh the group-committed
 * earns themselves. `batchHandlers` go further for the busiest types: one call (a constant number
 * of statements) for all of a type's events in the batch, instead of one handler call per event.
 */
export function eventsRoute(
  schema: SchemaName,
  prisma: () => PrismaClient,
  handlers: Record<string, EventHandler>,
  batchHandlers: Record<string, BatchEventHandler> = {},
): InternalRoute {
  const handlerOf = (type: string): EventHandler | undefined => {
    const batch = batchHandlers[type];
    return handlers[type] ?? (batch && ((tx, event) => batch(tx, [event])));
  };
  return async (body) => {
    const events = (body as { events?: DomainEvent[] })?.events;
    if (!Array.isArray(events)) return { status: 400, body: { error: "invalid_request" } };
    if (events.length > 1) {
      try {
        await prisma().$transaction(async (tx) => {
          const fresh = new Set(
            (
              await tx.$queryRawUnsafe<{ id: string }[]>(
                `INSERT INTO "${schema}"."InboxEvent" ("eventId", type)
                 SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT ("eventId") DO NOTHING RETURNING "eventId"::text AS id`,
                events.map((e) => e.id),
                events.map((e) => e.type),
              )
            ).map((r) => r.id),
          );
          const grouped = new Map<string, DomainEvent[]>();
          for (const event of events) {
            // `delete`: a duplicate of an event inside this batch runs once.
            if (!fresh.delete(String(event.id).toLowerCase())) continue;
            if (batchHandlers[event.type]) {
              const list = grouped.get(event.type);
              if (list) list.push(event);
              else grouped.set(event.type, [event]);
              continue;
            }
            const handler = handlers[event.type];
            if (handler) await handler(tx, event);
          }
          // Set-based handlers last, one call per type (e.g. every points.activity of the batch in one statement).
          for (const [type, list] of grouped) await batchHandlers[type]!(tx, list);
        }, { timeout: 30_000, maxWait: 30_000 });
        return { status: 200, body: { results: events.map((e) => ({ id: e.id, ok: true })) } };
      } catch (e) {
        log.debug("event batch failed, applying its events one by one", { schema, events: events.length, err: e });
      }
    }
    const results: { id: string; ok: boolean; error?: string }[] = [];
    for (const event of events) {
      try {
        await prisma().$transaction(async (tx) => {
          const { count } = await inbox(tx, schema).createMany({ data: [{ eventId: event.id, type: event.type }], skipDuplicates: true });
          if (count === 0) return; // already processed
          const handler = handlerOf(event.type);
          if (handler) await handler(tx, event);
        }, { timeout: 30_000, maxWait: 30_000 });
        results.push({ id: event.id, ok: true });
      } catch (e) {
        log.warn("event handler failed", { schema, eventId: event.id, type: event.type, err: e });
        results.push({ id: event.id, ok: false, error: e instanceof Error ? e.message : String(e) });
      }
    }
    return { status: 200, body: { results } };
  };
}

export interface RelayOptions {
  schema: SchemaName;
  prisma: () => PrismaClient;
  /** GraphQL or base URLs of the subgraphs, to reach their /internal/events. */
  peers: () => Partial<Record<SchemaName, string>>;
  internalKey: Uint8Array;
  intervalMs?: number;
  batchSize?: number;
}

export interface Relay {
  /** Delivers everything pending now (tests, shutdown). Resolves when the outbox has no deliverable events left. */
  flush(): Promise<void>;
  stop(): Promise<void>;
}

interface OutboxRow {
  id: string;
  type: string;
  payload: unknown;
  createdAt: Date;
  attempts: number;
}

/** Delivers committed outbox events of one schema to their consumers, at least once, in creation order per batch. */
export function startOutboxRelay(opts: RelayOptions): Relay {
  const interval = opts.intervalMs ?? 250;
  const batchSize = opts.batchSize ?? 200;
  let stopped = false;
  let running: Promise<number> | null = null;
  let timer: NodeJS.Timeout | undefined;
  const table = `"${opts.schema}"."OutboxEvent"`;

  // Claim a batch in one statement (no transaction held while delivering: on PGlite that would
  // block the consumer's own writes). SKIP LOCKED lets several relays share the outbox.
  async function claim(): Promise<OutboxRow[]> {
    return opts.prisma().$queryRawUnsafe<OutboxRow[]>(
      `UPDATE ${table} SET "lockedUntil" = now() + interval '30 seconds', attempts = attempts + 1
       WHERE id IN (SELECT id FROM ${table} WHERE "deliveredAt" IS NULL AND ("lockedUntil" IS NULL OR "lockedUntil" < now())
                    ORDER BY "createdAt", id LIMIT ${batchSize} FOR UPDATE SKIP LOCKED)
       RETURNING id, type, payload, "createdAt", attempts`,
    );
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
    const rows = await claim();
    if (!rows.length) return 0;
    const events: DomainEvent[] = rows.map((r) => ({ id: r.id, type: r.type, payload: r.payload, createdAt: new Date(r.createdAt).toISOString() }));
    const errors = new Map<string, string>();
    const byPeer = new Map<SchemaName, DomainEvent[]>();
    for (const e of events) for (const peer of SUBSCRIPTIONS[e.type] ?? []) byPeer.set(peer, [...(byPeer.get(peer) ?? []), e]);
    // Consumers in parallel: an event's latency is the slowest consumer's, not their sum.
    const outcomes = await Promise.all([...byPeer].map(async ([peer, list]) => [peer, await deliverTo(peer, list)] as const));
    for (const [peer, out] of outcomes) for (const [id, err] of out) if (err) errors.set(id, errors.has(id) ? `${errors.get(id)}; ${peer}: ${err}` : `${peer}: ${err}`);
    const delivered = events.filter((e) => !errors.has(e.id)).map((e) => e.id);
    if (delivered.length) {
      await opts.prisma().$executeRawUnsafe(`UPDATE ${table} SET "deliveredAt" = now(), "lockedUntil" = NULL, "lastError" = NULL WHERE id = ANY($1::uuid[])`, delivered);
    }
    for (const [id, err] of errors) {
      const attempts = rows.find((r) => r.id === id)?.attempts ?? 1;
      // Exponential backoff, capped at 5 minutes.
      const backoffMs = Math.min(300_000, 200 * 2 ** Math.min(attempts, 11));
      await opts.prisma().$executeRawUnsafe(
        `UPDATE ${table} SET "lockedUntil" = now() + ($2::int * interval '1 millisecond'), "lastError" = $3 WHERE id = $1::uuid`,
        id,
        backoffMs,
        err.slice(0, 1000),
      );
      log.warn("event delivery failed", { schema: opts.schema, eventId: id, attempts, err });
    }
    // Claimed, not delivered: a pass that claimed a whole batch says more may be waiting (failed
    // deliveries are locked with their backoff, so they are not claimed again at once).
    return rows.length;
  }

  function run(): Promise<number> {
    if (running) return running;
    running = once()
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
  if (!kickers.has(opts.schema)) kickers.set(opts.schema, new Set());
  kickers.get(opts.schema)!.add(kick);
  schedule();

  return {
    async flush() {
      if (running) await running;
      for (let i = 0; i < 1000; i++) {
        const n = await run();
        if (n === 0) {
          const [{ pending }] = await opts.prisma().$queryRawUnsafe<{ pending: number }[]>(
            `SELECT count(*)::int AS pending FROM ${table} WHERE "deliveredAt" IS NULL AND ("lockedUntil" IS NULL OR "lockedUntil" < now())`,
          );
          if (pending === 0) return;
        }
      }
    },
    async stop() {
      stopped = true;
      clearTimeout(timer);
      kickers.get(opts.schema)?.delete(kick);
      if (draining) await draining;
      if (running) await running;
    },
  };
}
