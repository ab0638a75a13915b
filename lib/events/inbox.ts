import { SpanKind } from "@opentelemetry/api";
import type { Prisma, PrismaClient } from "../db.ts";
import { log } from "../logger.ts";
import { tracingOn, withSpan } from "../tracing.ts";
import type { InternalRoute } from "../subgraph-server.ts";
import { CATALOGUE, type ConsumedBy, consumedBy, type EventType, isEventType, type ParsedPayloadOf, type SchemaName } from "./catalogue.ts";
import { HELD, subjectKey } from "./subject.ts";

/**
 * The consumer side: an inbox per Postgres schema that records each event id in the same
 * transaction as the handler's effect, so a redelivery (relay crash, retry, two relays, a replayed
 * dead letter) changes nothing. The event id is the idempotency key. Handlers are registered per
 * consumer from the catalogue (lib/events/catalogue.ts) and receive payloads parsed by its schema.
 */

type Tx = Prisma.TransactionClient;

/** An event as it travels from the relay to a consumer (`POST /internal/events`). */
export interface DomainEvent<T = unknown> {
  id: string;
  type: string;
  payload: T;
  /** ISO-8601, UTC. */
  createdAt: string;
  /** W3C trace context of the emitting request, when it was traced (lib/tracing.ts). */
  traceparent?: string;
}

/** An event whose payload the catalogue's schema accepted. */
export interface TypedEvent<T extends EventType> extends DomainEvent<ParsedPayloadOf<T>> {
  type: T;
}

export type EventHandler<T extends EventType = EventType> = (tx: Tx, event: TypedEvent<T>) => Promise<void>;

/**
 * A set-based handler for one event type: all the fresh events of that type in a delivered batch
 * (in delivery order, duplicates and already-processed ones removed, bad payloads rejected), in one
 * call, in the batch's transaction. It must leave exactly the state its per-event handler leaves
 * when applied to each of them in turn. Its events may be applied after other events of the batch
 * about other members (never after one about the same member, nor one about no member: applyDelivered
 * applies what is gathered before such an event). Single deliveries and the one-by-one fallback use
 * the per-event handler.
 */
export type BatchEventHandler<T extends EventType = EventType> = (tx: Tx, events: TypedEvent<T>[]) => Promise<void>;

/**
 * A handler, or a set-based handler for delivered batches with its per-event form (without one,
 * single deliveries and the one-by-one fallback call the batch handler with one event). `group`:
 * types whose events are gathered together, in delivery order, and handed to one batch handler
 * (the same function for every type of the group), for types whose events about one member come
 * together (member.enrolled and member.linked of one enrolment): gathered apart, each member's
 * second type would apply the first's events before it.
 */
export type HandlerSpec<T extends EventType> = EventHandler<T> | { one?: EventHandler<T>; batch: BatchEventHandler<T>; group?: string };

/** An event of one of the types `T`, narrowed by its `type` (a group's batch handler gets these). */
export type AnyTypedEvent<T extends EventType> = T extends EventType ? TypedEvent<T> : never;

/** Every event type the catalogue routes to `S`, each with its handler: a missing one does not compile. */
export type ConsumerHandlers<S extends SchemaName> = { [T in ConsumedBy<S>]: HandlerSpec<T> };

/** A subgraph's checked handlers (see `defineConsumer`). */
export interface Consumer<S extends SchemaName = SchemaName> {
  schema: S;
  /** Per-event handler of each consumed type. */
  one: ReadonlyMap<EventType, EventHandler>;
  /** Set-based handlers, for the types that have one. */
  batch: ReadonlyMap<EventType, BatchEventHandler>;
  /** The group each set-based type is gathered in (its own name unless it declares a `group`). */
  groupOf: ReadonlyMap<EventType, string>;
}

/**
 * A subgraph's event handlers, checked against the catalogue when the module loads (at start-up):
 * a type routed to this subgraph without a handler, or a handler for a type the catalogue does not
 * route here, throws. An event is never acknowledged and dropped for want of a handler.
 */
export function defineConsumer<S extends SchemaName>(schema: S, handlers: ConsumerHandlers<S>): Consumer<S> {
  const given = handlers as unknown as Record<string, HandlerSpec<EventType> | undefined>;
  const expected = consumedBy(schema);
  const missing = expected.filter((t) => typeof given[t] !== "function" && typeof (given[t] as { batch?: unknown } | undefined)?.batch !== "function");
  const extra = Object.keys(given).filter((t) => !(expected as string[]).includes(t));
  if (missing.length || extra.length) {
    throw new Error(
      `events: the ${schema} subgraph's handlers do not match the catalogue (lib/events/catalogue.ts)` +
        (missing.length ? `; routed here without a handler: ${missing.join(", ")}` : "") +
        (extra.length ? `; handled but not routed here: ${extra.join(", ")}` : ""),
    );
  }
  const one = new Map<EventType, EventHandler>();
  const batch = new Map<EventType, BatchEventHandler>();
  const groupOf = new Map<EventType, string>();
  const groupHandler = new Map<string, BatchEventHandler>();
  for (const t of expected) {
    const h = given[t]!;
    if (typeof h === "function") one.set(t, h as EventHandler);
    else {
      const set = h.batch as BatchEventHandler;
      one.set(t, (h.one as EventHandler | undefined) ?? ((tx, e) => set(tx, [e])));
      batch.set(t, set);
      const group = h.group ?? t;
      groupOf.set(t, group);
      // One function per group: it gets the group's events of every type, in delivery order.
      if ((groupHandler.get(group) ?? set) !== set) throw new Error(`events: the ${schema} subgraph's group ${group} has more than one batch handler`);
      groupHandler.set(group, set);
    }
  }
  return { schema, one, batch, groupOf };
}

/** Why a delivered event cannot be handled here at all (a failure: retried, then dead-lettered), or null. */
function unroutable(consumer: Consumer, type: string): string | null {
  if (!isEventType(type)) return `${type} is not in the event catalogue`;
  if (!consumer.one.has(type)) return `${type} is not routed to the ${consumer.schema} subgraph`;
  return null;
}

/**
 * The event with its payload parsed by the catalogue's schema, or null: a payload that does not
 * match is rejected with a warning naming the fields (acknowledged: it would fail the same way on
 * every retry; its inbox row records that it was seen).
 */
function parsed(consumer: Consumer, event: DomainEvent): TypedEvent<EventType> | null {
  const type = event.type as EventType;
  const result = CATALOGUE[type].payload.safeParse(event.payload);
  if (result.success) return { ...event, type, payload: result.data } as TypedEvent<EventType>;
  log.warn(`${consumer.schema}: event rejected, its payload does not match the catalogue`, {
    eventId: event.id,
    type: event.type,
    issues: result.error.issues.map((i) => `${i.path.join(".") || "payload"}: ${i.message}`),
  });
  return null;
}

/**
 * Applies one event in `tx` as the route does (parsed, then its per-event handler), without an
 * inbox row: service-level tests that exercise a consumer without its server.
 */
export async function applyEvent(consumer: Consumer, tx: Tx, event: DomainEvent): Promise<void> {
  const why = unroutable(consumer, event.type);
  if (why) throw new Error(why);
  const e = parsed(consumer, event);
  if (e) await consumer.one.get(e.type)!(tx, e);
}

/**
 * The member an event is about (its payload's memberId), or null. Events about different members
 * commute in every consumer (each handler's effect is keyed by its member, or by things no other
 * member's events write), which is what lets a delivered batch gather a type's events (applyDelivered).
 */
function subjectOf(event: TypedEvent<EventType>): string | null {
  const m = (event.payload as { memberId?: unknown }).memberId;
  return typeof m === "string" ? m.toLowerCase() : null;
}

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
 * The consumer's `POST /internal/events`: `internalRoutes: { events: eventsRoute(prisma, consumer) }`.
 * A delivered batch is applied in ONE transaction: the inbox rows of all its events in one
 * statement, then the handlers of the events not seen before, in order. If anything in it fails,
 * nothing of it is kept and each event runs again in its own transaction with its inbox row, so a
 * failing event is reported alone and never holds back the others. An event already in the inbox
 * is acknowledged without running its handler again; an event of a type this subgraph does not
 * handle fails (the relay retries it, then dead-letters it).
 *
 * Handlers keep all their effects in `tx` (delivery is at least once: a handler may run again after
 * a failed commit, or after the batch attempt rolled back).
 *
 * Why batch: every earn emits points.activity for two consumers; one transaction per event made
 * the consumers' writes (begin, inbox row, handler, commit per event) outweigh the group-committed
 * earns themselves. Batch handlers go further for the busiest types: one call (a constant number
 * of statements) for all of a type's events in the batch, instead of one handler call per event.
 */
export function eventsRoute(prisma: () => PrismaClient, consumer: Consumer): InternalRoute {
  const schema = consumer.schema;
  const route = applyDelivered(prisma, consumer);
  return async (body) => {
    const events = (body as { events?: DomainEvent[] })?.events;
    if (!Array.isArray(events)) return { status: 400, body: { error: "invalid_request" } };
    if (!tracingOn() || !events.some((e) => typeof e?.traceparent === "string")) return route(events);
    // Traced: the delivery runs in a CONSUMER span that is the child of the first traced event's
    // emitting span, linked to every other's (OpenTelemetry's messaging conventions for a batch);
    // a single event's span is simply its emitter's child. Prisma's spans of the batch nest under it.
    const traced = events.filter((e) => typeof e?.traceparent === "string");
    return withSpan(
      `${traced.length === 1 ? traced[0]!.type : "events"} process`,
      {
        kind: SpanKind.CONSUMER,
        parent: traced[0]!.traceparent,
        links: traced.slice(1).map((e) => e.traceparent),
        attributes: {
          "messaging.system": "coalition-hub-outbox",
          "messaging.operation.type": "process",
          "messaging.destination.name": schema,
          "messaging.batch.message_count": events.length,
          ...(events.length === 1 ? { "messaging.message.id": String(events[0]!.id), "hub.event.type": String(events[0]!.type) } : {}),
        },
      },
      () => route(events),
    );
  };
}

function applyDelivered(prisma: () => PrismaClient, consumer: Consumer) {
  const schema = consumer.schema;
  return async (events: DomainEvent[]): Promise<{ status: number; body: unknown }> => {
    if (events.length > 1) {
      try {
        await prisma().$transaction(
          async (tx) => {
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
            // Set-based handlers get their type's events gathered (e.g. every points.activity of the
            // batch in one statement), which moves them after other events of the batch. That is the
            // one-by-one result only while no moved event overtakes another about the same member
            // (or one about no member: partners, offers), so such an event first applies what is gathered.
            const grouped = new Map<string, TypedEvent<EventType>[]>();
            const gatheredIn = new Map<string, string>(); // member → the group its gathered events are in
            const aboutNoMember = new Set<string>(); // groups holding an event about no member
            const apply = async (group: string) => {
              const list = grouped.get(group)!;
              grouped.delete(group);
              aboutNoMember.delete(group);
              for (const e of list) {
                const m = subjectOf(e);
                if (m !== null) gatheredIn.delete(m);
              }
              await consumer.batch.get(list[0]!.type)!(tx, list);
            };
            const flush = async () => {
              for (const group of [...grouped.keys()]) await apply(group);
            };
            for (const raw of events) {
              // `delete`: a duplicate of an event inside this batch runs once.
              if (!fresh.delete(String(raw.id).toLowerCase())) continue;
              const why = unroutable(consumer, raw.type);
              if (why) throw new Error(why); // rolls the batch back: the one-by-one pass reports it alone
              const event = parsed(consumer, raw);
              if (!event) continue;
              const member = subjectOf(event);
              const group = consumer.groupOf.get(event.type) ?? event.type;
              const held = member === null ? undefined : gatheredIn.get(member);
              if (member === null) {
                if ([...grouped.keys()].some((g) => g !== group)) await flush();
              } else if (held !== undefined && held !== group) {
                // Only the group holding this member's events must go first (every other gathered
                // event is about another member), unless another group holds an event about no
                // member, which those must not overtake (when it was gathered, the rest was applied).
                if ([...aboutNoMember].some((g) => g !== held)) await flush();
                else await apply(held);
              }
              // An event applied on its own goes after every gathered event about no member (those
              // are about anything: partners, offers), as one by one.
              if (member !== null && !consumer.batch.has(event.type) && aboutNoMember.size) await flush();
              if (consumer.batch.has(event.type)) {
                const list = grouped.get(group);
                if (list) list.push(event);
                else grouped.set(group, [event]);
                if (member === null) aboutNoMember.add(group);
                else gatheredIn.set(member, group);
                continue;
              }
              await consumer.one.get(event.type)!(tx, event);
            }
            await flush();
          },
          { timeout: 30_000, maxWait: 30_000 },
        );
        return { status: 200, body: { results: events.map((e) => ({ id: e.id, ok: true })) } };
      } catch (e) {
        log.debug("event batch failed, applying its events one by one", { schema, events: events.length, err: e });
      }
    }
    const results: { id: string; ok: boolean; error?: string }[] = [];
    // A subject's events stay in order (its member, else its offer, else its partner): after one of
    // them fails, its later ones in this delivery are held (not applied, reported as held, so the
    // relay delivers them again after it; lib/events/relay.ts).
    const failedSubjects = new Set<string>();
    for (const raw of events) {
      const subject = subjectKey(raw.payload);
      if (subject !== null && failedSubjects.has(subject)) {
        results.push({ id: raw.id, ok: false, error: `${HELD} an earlier event about the same subject failed in this delivery` });
        continue;
      }
      try {
        await prisma().$transaction(
          async (tx) => {
            const { count } = await inbox(tx, schema).createMany({ data: [{ eventId: raw.id, type: raw.type }], skipDuplicates: true });
            if (count === 0) return; // already processed
            const why = unroutable(consumer, raw.type);
            if (why) throw new Error(why);
            const event = parsed(consumer, raw);
            if (event) await consumer.one.get(event.type)!(tx, event);
          },
          { timeout: 30_000, maxWait: 30_000 },
        );
        results.push({ id: raw.id, ok: true });
      } catch (e) {
        log.warn("event handler failed", { schema, eventId: raw.id, type: raw.type, err: e });
        if (subject !== null) failedSubjects.add(subject);
        results.push({ id: raw.id, ok: false, error: e instanceof Error ? e.message : String(e) });
      }
    }
    return { status: 200, body: { results } };
  };
}
