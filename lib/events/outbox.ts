import { afterCommit, type Prisma } from "../db.ts";
import { currentTraceparent } from "../tracing.ts";
import { CATALOGUE, type EventType, type PayloadOf, type ProducedBy, type ProducedByAny, type SchemaName, type SingleProducerType } from "./catalogue.ts";

/**
 * The producer side: events are written to the producing schema's outbox in the transaction of the
 * change they announce, so an event exists if and only if its change committed. The relay
 * (lib/events/relay.ts) delivers them afterwards.
 */

type Tx = Prisma.TransactionClient;

/** An event as a producer writes it: its type and a payload typed from the catalogue. */
export type NewEvent<T extends EventType = EventType> = { [K in T]: { type: K; payload: PayloadOf<K> } }[T];

/** Builds a typed event for `emitMany` (keeps the type literal where an array would widen it). */
export function event<T extends EventType>(type: T, payload: PayloadOf<T>): NewEvent<T> {
  return { type, payload } as NewEvent<T>;
}

function outbox(db: Tx, schema: SchemaName) {
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

/** Registers a relay's wake-up for its schema; returns the unregistering function. */
export function onEmitted(schema: SchemaName, kick: () => void): () => void {
  if (!kickers.has(schema)) kickers.set(schema, new Set());
  kickers.get(schema)!.add(kick);
  return () => kickers.get(schema)?.delete(kick);
}

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
 * Emits one catalogued event from its producer's outbox, in `tx` (the transaction of the change it
 * announces). The outbox is the catalogue's producer of `type`; the payload is typed from its schema.
 */
export async function emit<T extends SingleProducerType>(tx: Tx, type: T, payload: PayloadOf<T>): Promise<string> {
  return emitEvent(tx, CATALOGUE[type].producer as SchemaName, { type, payload });
}

/**
 * Emits an event every subgraph may produce (`producer: "any"`: `audit.recorded`) from `schema`'s
 * outbox: the schema of the transaction `tx` (lib/audit.ts knows it from the action).
 */
export async function emitFrom<T extends ProducedByAny>(tx: Tx, schema: SchemaName, type: T, payload: PayloadOf<T>): Promise<string> {
  return emitEvent(tx, schema, { type, payload });
}

/**
 * Emits many events of one producer in one statement (bulk operations). The producer is named so
 * that every event's type is checked to be one it produces.
 */
export async function emitMany<S extends SchemaName>(tx: Tx, producer: S, events: readonly NewEvent<ProducedBy<S>>[]): Promise<void> {
  return emitEvents(tx, producer, events);
}

/**
 * The untyped outbox write under `emit`: any type, any payload. For the transport's own tests; the
 * subgraphs emit through `emit`/`emitMany` (tests/tooling/event-catalogue.test.ts checks that no other code calls this).
 */
export async function emitEvent(tx: Tx, schema: SchemaName, event: { type: string; payload: unknown }): Promise<string> {
  // The emitting request's trace context (only while a sampled trace runs): consumers join it.
  const traceparent = currentTraceparent();
  const row = await outbox(tx, schema).create({ data: { type: event.type, payload: event.payload as Prisma.InputJsonValue, ...(traceparent ? { traceparent } : {}) } });
  wakeAfterCommit(schema);
  return row.id;
}

/**
 * Writes many events in one statement (bulk operations). One INSERT ... SELECT over a JSON array:
 * Prisma's createMany took 145–1,080 ms per 500 events here, this 12–47 ms. In the array's order
 * (each row's seq, the order the relay delivers in, is taken as the sorted rows are inserted).
 */
export async function emitEvents(tx: Tx, schema: SchemaName, events: readonly { type: string; payload: unknown }[]): Promise<void> {
  if (!events.length) return;
  await tx.$executeRawUnsafe(
    `INSERT INTO "${schema}"."OutboxEvent" (id, type, payload, traceparent)
     SELECT gen_random_uuid(), e->>'type', e->'payload', $2::text FROM jsonb_array_elements($1::jsonb) WITH ORDINALITY AS a(e, n) ORDER BY n`,
    JSON.stringify(events.map((e) => ({ type: e.type, payload: e.payload ?? null }))),
    currentTraceparent(),
  );
  wakeAfterCommit(schema);
}
