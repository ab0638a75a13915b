import { afterAll, beforeAll, expect, test } from "vitest";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { parse } from "graphql";
import type { Database } from "./db.ts";
import { consumedBy } from "./events/catalogue.ts";
import { type ConsumerHandlers, defineConsumer, type DomainEvent, type EventHandler, eventsRoute } from "./events/inbox.ts";
import { emitEvent, emitEvents } from "./events/outbox.ts";
import { type Relay, startOutboxRelay } from "./events/relay.ts";
import { startSubgraph, type RunningSubgraph } from "./subgraph-server.ts";
import { freshDatabase, onPostgres } from "../tests/support/db.ts";
import { callInternal, testInternalKey } from "../tests/support/subgraph.ts";

let db: Database;
let consumer: RunningSubgraph;
let partnerConsumer: RunningSubgraph;
let relay: Relay;
// member.linked: consumed by the points subgraph (the consumer under test here) and, since the
// webhooks (issue 17 §1), by the partner subgraph too: a second consumer that handles nothing, so the
// relay marks the event delivered only when both acknowledged it, as in the hub.
// The consumer handles everything the catalogue routes to points (a missing handler is a start-up
// error); only member.linked has an effect here.
const handled: DomainEvent[] = [];
let failNext = 0;
/** Members whose events the consumer fails (it is down for them). */
const down = new Set<string>();
/** Members whose member.linked the consumer handles slowly (a slow batch must not be overtaken). */
const slow = new Set<string>();
let onSlow: () => void = () => {};

beforeAll(async () => {
  db = await freshDatabase();
  const prisma = db.client();
  consumer = await startSubgraph({
    name: "points",
    schema: buildSubgraphSchema({ typeDefs: parse("type Query { ok: Boolean }") }),
    internalKey: testInternalKey,
    createContext: (b) => b,
    internalRoutes: {
      events: eventsRoute(
        () => prisma,
        defineConsumer("points", {
          ...noops(),
          "partner.registered": async (_tx, event) => {
            if (down.has(event.payload.partnerId)) throw new Error("consumer down for this partner");
            handled.push(event);
          },
          "partner.status_changed": async (_tx, event) => {
            handled.push(event);
          },
          "member.linked": async (tx, event) => {
            if (event.payload.poison) throw new Error("poisoned event");
            if (down.has(event.payload.memberId)) throw new Error("consumer down for this member");
            if (slow.has(event.payload.memberId)) {
              onSlow();
              await new Promise((r) => setTimeout(r, 300));
            }
            if (failNext > 0) {
              failNext--;
              throw new Error("consumer down");
            }
            // A real effect in the same transaction as the inbox row.
            // (`again`: a member's second event in a test, with an effect of its own.)
            await tx.ledgerAccount.create({ data: { kind: "MEMBER_WALLET", code: `wallet:${event.payload.memberId}${event.payload.again ? `:${event.id}` : ""}` } });
            handled.push(event);
          },
        }),
      ),
    },
  });
  partnerConsumer = await startSubgraph({
    name: "partner",
    schema: buildSubgraphSchema({ typeDefs: parse("type Query { ok: Boolean }") }),
    internalKey: testInternalKey,
    createContext: (b) => b,
    internalRoutes: { events: eventsRoute(() => prisma, defineConsumer("partner", Object.fromEntries(consumedBy("partner").map((t) => [t, async () => {}])) as unknown as ConsumerHandlers<"partner">)) },
  });
  relay = startOutboxRelay({ schema: "member", prisma: () => prisma, peers: () => ({ points: consumer.url, partner: partnerConsumer.url }), internalKey: testInternalKey, intervalMs: 50 });
});
afterAll(async () => {
  await relay?.stop();
  await consumer?.close();
  await partnerConsumer?.close();
  await db?.close();
});

const memberId = () => crypto.randomUUID();
// A valid member.linked payload (the consumer parses payloads by the catalogue's schema).
const partnerId = crypto.randomUUID();
const linked = (id: string) => ({ memberId: id, partnerId });
/** No-op handlers for every type routed to points, so a test consumer can define the ones it cares about. */
const noops = () => Object.fromEntries(consumedBy("points").map((t) => [t, async () => {}])) as unknown as ConsumerHandlers<"points">;

test("an event emitted in a committed transaction is delivered once and its effect applied", async () => {
  const prisma = db.client();
  const id = memberId();
  await prisma.$transaction((tx) => emitEvent(tx, "member", { type: "member.linked", payload: linked(id) }));
  await relay.flush();
  expect(handled.filter((e) => (e.payload as { memberId: string }).memberId === id)).toHaveLength(1);
  expect(await prisma.ledgerAccount.count({ where: { code: `wallet:${id}` } })).toBe(1);
  const row = await prisma.memberOutboxEvent.findFirstOrThrow({ where: { payload: { path: ["memberId"], equals: id } } });
  expect(row.deliveredAt).not.toBeNull();
});

test("events are delivered in the order they were written, within one transaction too (one by one and in bulk)", async () => {
  // They share the transaction's createdAt; the relay used to order them by random id (found by the
  // webhook pacing test: 30 earns of one member in one batch reached the partner shuffled).
  const prisma = db.client();
  const ids: string[] = Array.from({ length: 40 }, memberId);
  await prisma.$transaction(async (tx) => {
    for (const id of ids.slice(0, 20)) await emitEvent(tx, "member", { type: "member.linked", payload: linked(id) });
    await emitEvents(
      tx,
      "member",
      ids.slice(20).map((id) => ({ type: "member.linked", payload: linked(id) })),
    );
  });
  await relay.flush();
  const order = handled.map((e) => (e.payload as { memberId: string }).memberId).filter((id) => ids.includes(id));
  expect(order).toEqual(ids);
});

test("an event of a rolled-back transaction never exists", async () => {
  const prisma = db.client();
  const id = memberId();
  await expect(
    prisma.$transaction(async (tx) => {
      await emitEvent(tx, "member", { type: "member.linked", payload: linked(id) });
      throw new Error("rollback");
    }),
  ).rejects.toThrow("rollback");
  await relay.flush();
  expect(handled.some((e) => (e.payload as { memberId: string }).memberId === id)).toBe(false);
});

test("redelivery of the same event is a no-op (inbox)", async () => {
  const prisma = db.client();
  const id = memberId();
  const eventId = await prisma.$transaction((tx) => emitEvent(tx, "member", { type: "member.linked", payload: linked(id) }));
  await relay.flush();
  const event = { id: eventId, type: "member.linked", payload: linked(id), createdAt: new Date().toISOString() };
  const again = await callInternal(consumer.url, "events", { events: [event, event] });
  expect(again.status).toBe(200);
  expect(handled.filter((e) => e.id === eventId)).toHaveLength(1);
  expect(await prisma.ledgerAccount.count({ where: { code: `wallet:${id}` } })).toBe(1);
});

test("a failing consumer leaves the event pending, retried later with backoff, effect applied once", async () => {
  const prisma = db.client();
  const id = memberId();
  failNext = 1;
  await prisma.$transaction((tx) => emitEvent(tx, "member", { type: "member.linked", payload: linked(id) }));
  await relay.flush();
  const row = await prisma.memberOutboxEvent.findFirstOrThrow({ where: { payload: { path: ["memberId"], equals: id } } });
  expect(row.deliveredAt).toBeNull();
  expect(row.lastError).toMatch(/consumer down/);
  // Make it due now and deliver again.
  await prisma.memberOutboxEvent.update({ where: { id: row.id }, data: { lockedUntil: null } });
  await relay.flush();
  const after = await prisma.memberOutboxEvent.findUniqueOrThrow({ where: { id: row.id } });
  expect(after.deliveredAt).not.toBeNull();
  expect(after.attempts).toBe(2);
  expect(await prisma.ledgerAccount.count({ where: { code: `wallet:${id}` } })).toBe(1);
});

test("a member's later events wait behind its failing one: held in the same delivery, not claimed during its backoff", async () => {
  // Before: the consumer applied b while a failed, and the relay delivered b during a's backoff, so
  // b's effects (and the partners' webhooks, created by the consumer) came before a's.
  const prisma = db.client();
  const [m, other] = [memberId(), memberId()];
  down.add(m); // the consumer fails m's events until the test says otherwise
  const [a, b, c] = await prisma.$transaction(async (tx) => [
    await emitEvent(tx, "member", { type: "member.linked", payload: linked(m) }),
    await emitEvent(tx, "member", { type: "member.linked", payload: { ...linked(m), again: true } }),
    await emitEvent(tx, "member", { type: "member.linked", payload: linked(other) }),
  ]);
  await relay.flush();
  const rows = async () => new Map((await prisma.memberOutboxEvent.findMany({ where: { id: { in: [a, b, c] } } })).map((r) => [r.id, r]));
  let now = await rows();
  expect(now.get(c)!.deliveredAt).not.toBeNull(); // another member's event is not held
  expect(now.get(a)!.deliveredAt).toBeNull();
  expect(now.get(b)!.deliveredAt).toBeNull();
  expect(now.get(b)!.lastError).toMatch(/^held: /);
  expect(now.get(b)!.attempts).toBe(0); // being held is not an attempt
  expect(now.get(a)!.failedPeers).toEqual(["points"]);
  expect(handled.some((e) => e.id === b)).toBe(false);
  // b is due, a still backs off: b waits.
  await prisma.memberOutboxEvent.update({ where: { id: a }, data: { lockedUntil: new Date(Date.now() + 3_600_000) } });
  await prisma.memberOutboxEvent.update({ where: { id: b }, data: { lockedUntil: null } });
  await relay.flush();
  now = await rows();
  expect(now.get(b)!.deliveredAt).toBeNull();
  expect(now.get(b)!.attempts).toBe(0);
  // The consumer is back and a is due: a, then b.
  down.delete(m);
  await prisma.memberOutboxEvent.update({ where: { id: a }, data: { lockedUntil: null } });
  await relay.flush();
  now = await rows();
  expect(now.get(a)!.deliveredAt).not.toBeNull();
  expect(now.get(b)!.deliveredAt).not.toBeNull();
  expect(handled.filter((e) => (e.payload as { memberId: string }).memberId === m).map((e) => e.id)).toEqual([a, b]);
});

test("a committed event is delivered right after its commit, not at the next poll", async () => {
  // A relay whose poll is a minute away: only the post-commit wake can deliver within the test.
  const prisma = db.client();
  const slow = startOutboxRelay({ schema: "partner", prisma: () => prisma, peers: () => ({ points: consumer.url }), internalKey: testInternalKey, intervalMs: 60_000 });
  try {
    const partnerId = crypto.randomUUID();
    const eventId = await prisma.$transaction(async (tx) => {
      const id = await emitEvent(tx, "partner", { type: "partner.registered", payload: { partnerId } });
      // The rest of the change takes a while: a wake before the commit would find nothing.
      await new Promise((r) => setTimeout(r, 100));
      return id;
    });
    let row = await prisma.partnerOutboxEvent.findUniqueOrThrow({ where: { id: eventId } });
    for (let i = 0; i < 100 && !row.deliveredAt; i++) {
      await new Promise((r) => setTimeout(r, 50));
      row = await prisma.partnerOutboxEvent.findUniqueOrThrow({ where: { id: eventId } });
    }
    expect(row.deliveredAt).not.toBeNull();
    expect(await prisma.pointsInboxEvent.count({ where: { eventId } })).toBe(1);
  } finally {
    await slow.stop();
  }
});

test("a delivered batch is applied once per event; a failing event fails alone", async () => {
  const prisma = db.client();
  const ids = [memberId(), memberId(), memberId()];
  const event = (m: string, poison = false): DomainEvent => ({ id: crypto.randomUUID(), type: "member.linked", payload: { ...linked(m), poison }, createdAt: new Date().toISOString() });
  const [a, b, c] = [event(ids[0]!), event(ids[1]!, true), event(ids[2]!)];
  // The batch attempt fails on b and rolls back; each event then runs on its own.
  const res = await callInternal(consumer.url, "events", { events: [a, b, c, a] });
  expect(res.status).toBe(200);
  const results = (res.body as { results: { id: string; ok: boolean }[] }).results;
  expect(results.map((r) => [r.id, r.ok])).toEqual([
    [a.id, true],
    [b.id, false],
    [c.id, true],
    [a.id, true],
  ]);
  for (const [m, n] of [
    [ids[0], 1],
    [ids[1], 0],
    [ids[2], 1],
  ] as const)
    expect(await prisma.ledgerAccount.count({ where: { code: `wallet:${m}` } })).toBe(n);
  expect(await prisma.pointsInboxEvent.count({ where: { eventId: { in: [a.id, b.id, c.id] } } })).toBe(2);
  // A clean batch in one go, with a redelivered event among new ones.
  const d = event(memberId());
  const again = await callInternal(consumer.url, "events", { events: [a, d, c] });
  expect((again.body as { results: { ok: boolean }[] }).results.every((r) => r.ok)).toBe(true);
  expect(await prisma.ledgerAccount.count({ where: { code: { in: [`wallet:${ids[0]}`, `wallet:${ids[2]}`, `wallet:${(d.payload as { memberId: string }).memberId}`] } } })).toBe(3);
});

test("a subject's later events wait at every consumer, also those that did not fail (else they overtake the waiting one there)", async () => {
  // Held per consumer (2342ee2), d (points + partner) waited behind a at points while c (partner only,
  // written after d) reached partner at once: partner got c before d (found by a review).
  const prisma = db.client();
  const m = memberId();
  down.add(m);
  try {
    // member.linked goes to points (down for m) and partner; member.link_requested to partner only.
    const a = await prisma.$transaction((tx) => emitEvent(tx, "member", { type: "member.linked", payload: linked(m) }));
    await relay.flush();
    const d = await prisma.$transaction((tx) => emitEvent(tx, "member", { type: "member.linked", payload: { ...linked(m), again: true } }));
    const c = await prisma.$transaction((tx) => emitEvent(tx, "member", { type: "member.link_requested", payload: { memberId: m, partnerId, requestedAt: new Date().toISOString() } }));
    await relay.flush();
    const row = (id: string) => prisma.memberOutboxEvent.findUniqueOrThrow({ where: { id } });
    expect((await row(a)).failedPeers).toEqual(["points"]);
    expect((await row(d)).deliveredAt).toBeNull();
    expect((await row(c)).deliveredAt).toBeNull();
    expect((await row(c)).attempts).toBe(0);
    down.delete(m);
    await prisma.memberOutboxEvent.update({ where: { id: a }, data: { lockedUntil: null } });
    await relay.flush();
    const rows = await prisma.memberOutboxEvent.findMany({ where: { id: { in: [a, d, c] } }, orderBy: { deliveredAt: "asc" } });
    expect(rows.every((r) => r.deliveredAt !== null)).toBe(true);
    expect(await prisma.partnerInboxEvent.count({ where: { eventId: { in: [a, d, c] } } })).toBe(3);
  } finally {
    down.delete(m);
  }
});

test("a whole delivery that fails (a consumer down) costs each subject one failed attempt; the rest follow it in one pass", async () => {
  const prisma = db.client();
  const m = memberId();
  down.add(m);
  const ids = await prisma.$transaction(async (tx) => {
    const out: string[] = [];
    for (let i = 0; i < 6; i++) out.push(await emitEvent(tx, "member", { type: "member.linked", payload: { ...linked(m), again: i > 0 } }));
    return out;
  });
  await relay.flush();
  let rows = await prisma.memberOutboxEvent.findMany({ where: { id: { in: ids } }, orderBy: { seq: "asc" } });
  expect(rows.map((r) => [r.attempts, r.failedPeers.length > 0, r.deliveredAt === null])).toEqual([[1, true, true], ...Array.from({ length: 5 }, () => [0, false, true])]);
  down.delete(m);
  await prisma.memberOutboxEvent.update({ where: { id: ids[0]! }, data: { lockedUntil: null } });
  await relay.flush();
  rows = await prisma.memberOutboxEvent.findMany({ where: { id: { in: ids } }, orderBy: { seq: "asc" } });
  expect(rows.every((r) => r.deliveredAt !== null && r.failedPeers.length === 0 && r.lastError === null)).toBe(true);
  expect(rows.map((r) => r.attempts)).toEqual([2, 1, 1, 1, 1, 1]);
  expect(handled.filter((e) => (e.payload as { memberId: string }).memberId === m).map((e) => e.id)).toEqual(ids);
});

test("events claimed by a relay that died wait out its lock; later events of their subject do not overtake them", async () => {
  // A relay restarted on the same host takes the lease back at once, while its predecessor's claim is still locked.
  const prisma = db.client();
  const [m, other] = [memberId(), memberId()];
  // a and b as a dead relay left them: claimed (locked for 30 s, an attempt counted), never delivered.
  // Locked in the emitting transaction, so the live relay cannot take them first.
  const [a, b] = await prisma.$transaction(async (tx) => {
    const ids = [await emitEvent(tx, "member", { type: "member.linked", payload: linked(m) }), await emitEvent(tx, "member", { type: "member.linked", payload: { ...linked(m), again: true } })];
    await tx.$executeRawUnsafe(`UPDATE "member"."OutboxEvent" SET "lockedUntil" = now() + interval '30 seconds', attempts = 1 WHERE id = ANY($1::uuid[])`, ids);
    return ids;
  });
  const [c, d] = await prisma.$transaction(async (tx) => [
    await emitEvent(tx, "member", { type: "member.linked", payload: { ...linked(m), again: true } }),
    await emitEvent(tx, "member", { type: "member.linked", payload: linked(other) }),
  ]);
  await relay.flush();
  const row = (id: string) => prisma.memberOutboxEvent.findUniqueOrThrow({ where: { id } });
  expect((await row(d)).deliveredAt).not.toBeNull();
  expect((await row(c)).deliveredAt).toBeNull();
  await prisma.memberOutboxEvent.updateMany({ where: { id: { in: [a, b] } }, data: { lockedUntil: null } });
  await relay.flush();
  expect(handled.filter((e) => (e.payload as { memberId: string }).memberId === m).map((e) => e.id)).toEqual([a, b, c]);
});

test("events about a partner keep their order too: a status change waits behind the partner's failing registration", async () => {
  const prisma = db.client();
  const partner = crypto.randomUUID();
  const own = startOutboxRelay({ schema: "partner", prisma: () => prisma, peers: () => ({ points: consumer.url }), internalKey: testInternalKey, intervalMs: 60_000 });
  down.add(partner);
  try {
    const r = await prisma.$transaction((tx) => emitEvent(tx, "partner", { type: "partner.registered", payload: { partnerId: partner } }));
    await own.flush();
    const s = await prisma.$transaction((tx) => emitEvent(tx, "partner", { type: "partner.status_changed", payload: { partnerId: partner, active: false } }));
    await own.flush();
    expect((await prisma.partnerOutboxEvent.findUniqueOrThrow({ where: { id: s } })).deliveredAt).toBeNull();
    down.delete(partner);
    await prisma.partnerOutboxEvent.update({ where: { id: r }, data: { lockedUntil: null } });
    await own.flush();
    expect(handled.filter((e) => (e.payload as { partnerId?: string }).partnerId === partner && !("memberId" in (e.payload as object))).map((e) => e.id)).toEqual([r, s]);
  } finally {
    down.delete(partner);
    await own.stop();
  }
});

test("in a delivery applied one by one, a member's events after its failing one are held, not applied", async () => {
  const prisma = db.client();
  const [m, other] = [memberId(), memberId()];
  const event = (id: string, poison = false): DomainEvent => ({ id: crypto.randomUUID(), type: "member.linked", payload: { ...linked(id), poison }, createdAt: new Date().toISOString() });
  const [a, b, c] = [event(m, true), event(m), event(other)];
  const res = await callInternal(consumer.url, "events", { events: [a, b, c] });
  const results = (res.body as { results: { id: string; ok: boolean; error?: string }[] }).results;
  expect(results.map((r) => [r.id, r.ok])).toEqual([
    [a.id, false],
    [b.id, false],
    [c.id, true],
  ]);
  expect(results[1]!.error).toMatch(/^held/);
  expect(await prisma.ledgerAccount.count({ where: { code: `wallet:${m}` } })).toBe(0);
  expect(await prisma.pointsInboxEvent.count({ where: { eventId: b.id } })).toBe(0);
});

test("the events endpoint refuses callers without the service identity", async () => {
  const res = await fetch(new URL("/internal/events", consumer.url), { method: "POST", body: "{}" });
  expect(res.status).toBe(401);
});

test("a gathered event about no member is applied before a later event applied on its own (as one by one)", async () => {
  const prisma = db.client();
  const order: string[] = [];
  const route = eventsRoute(
    () => prisma,
    defineConsumer("points", {
      ...noops(),
      "partner.registered": {
        batch: async (_tx, events) => {
          for (const e of events) order.push(`registered ${e.id}`);
        },
      },
      "member.linked": async (_tx, e) => {
        order.push(`linked ${e.id}`);
      },
    }),
  );
  const registered: DomainEvent = { id: crypto.randomUUID(), type: "partner.registered", payload: { partnerId: crypto.randomUUID() }, createdAt: new Date().toISOString() };
  const link: DomainEvent = { id: crypto.randomUUID(), type: "member.linked", payload: linked(memberId()), createdAt: new Date().toISOString() };
  await route({ events: [registered, link] });
  expect(order).toEqual([`registered ${registered.id}`, `linked ${link.id}`]);
});

test("a batch handler gets all the fresh events of its type in one call; the fallback runs them one by one", async () => {
  const prisma = db.client();
  const calls: string[][] = [];
  const single: string[] = [];
  const others: string[] = [];
  const wallet = (tx: Parameters<EventHandler>[0], e: DomainEvent) => tx.ledgerAccount.create({ data: { kind: "MEMBER_WALLET", code: `wallet:${(e.payload as { memberId: string }).memberId}` } });
  const route = eventsRoute(
    () => prisma,
    defineConsumer("points", {
      ...noops(),
      "member.linked": {
        one: async (tx, e) => {
          if (e.payload.poison) throw new Error("poisoned event");
          single.push(e.id);
          await wallet(tx, e);
        },
        batch: async (tx, events) => {
          calls.push(events.map((e) => e.id));
          if (events.some((e) => e.payload.poison)) throw new Error("poisoned batch");
          for (const e of events) await wallet(tx, e);
        },
      },
      "member.enrolled": async (_tx, e) => {
        others.push(e.id);
      },
    }),
  );
  const ev = (type: string, poison = false): DomainEvent => ({ id: crypto.randomUUID(), type, payload: { ...linked(memberId()), poison }, createdAt: new Date().toISOString() });
  const [a, b, c, x] = [ev("member.linked"), ev("member.linked"), ev("member.linked"), ev("member.enrolled")];
  const ok = (r: { body: unknown }) => (r.body as { results: { ok: boolean }[] }).results.map((x) => x.ok);
  expect(ok(await route({ events: [a, x, b, a] }))).toEqual([true, true, true, true]);
  expect(calls).toEqual([[a.id, b.id]]); // one call, in order, the in-batch duplicate once
  expect(others).toEqual([x.id]);
  expect(single).toEqual([]);
  // A redelivered event is not handed to the batch handler again.
  expect(ok(await route({ events: [a, c] }))).toEqual([true, true]);
  expect(calls).toEqual([[a.id, b.id], [c.id]]);
  // A failing batch: rolled back, then each event alone with the per-event handler.
  const [d, p] = [ev("member.linked"), ev("member.linked", true)];
  expect(ok(await route({ events: [d, p] }))).toEqual([true, false]);
  expect(single).toEqual([d.id]);
  // A single delivery uses the per-event handler too.
  const e1 = ev("member.linked");
  await route({ events: [e1] });
  expect(single).toEqual([d.id, e1.id]);
  for (const e of [a, b, c, d, e1]) expect(await prisma.ledgerAccount.count({ where: { code: `wallet:${(e.payload as { memberId: string }).memberId}` } })).toBe(1);
  // Without a per-event handler, the fallback hands the batch handler one event at a time.
  const alone: string[][] = [];
  const batchOnly = eventsRoute(
    () => prisma,
    defineConsumer("points", {
      ...noops(),
      "member.linked": {
        batch: async (_tx, events) => {
          alone.push(events.map((e) => e.id));
          if (events.some((e) => e.payload.poison)) throw new Error("poisoned batch");
        },
      },
    }),
  );
  const [f, q] = [ev("member.linked"), ev("member.linked", true)];
  expect(ok(await batchOnly({ events: [f, q] }))).toEqual([true, false]);
  expect(alone).toEqual([[f.id, q.id], [f.id], [q.id]]);
});

/** Another replica's relay of the member outbox: its own host name, small batches. */
const otherReplica = () =>
  startOutboxRelay({
    schema: "member",
    prisma: () => db.client(),
    peers: () => ({ points: consumer.url, partner: partnerConsumer.url }),
    internalKey: testInternalKey,
    intervalMs: 20,
    batchSize: 5,
    holder: "replica-b",
  });

// Needs two database connections: on the embedded PGlite (one connection) the slow batch's
// transaction holds the connection and the other relay's claim waits behind it, so the race cannot happen.
test.runIf(onPostgres())("two relays of one schema (replicas) do not deliver side by side: a slow batch is not overtaken", async () => {
  const prisma = db.client();
  const other = otherReplica();
  try {
    // Written without waking either relay; the other relay is asked first, and this one once the
    // other's first (slow) event is being applied — or once the other gave up for want of the lease.
    const ids: string[] = Array.from({ length: 30 }, memberId);
    slow.add(ids[0]!);
    const started = new Promise<void>((r) => {
      onSlow = r;
    });
    await prisma.$executeRawUnsafe(
      `INSERT INTO "member"."OutboxEvent" (id, type, payload) SELECT gen_random_uuid(), 'member.linked', jsonb_build_object('memberId', m, 'partnerId', $2::text)
       FROM unnest($1::text[]) WITH ORDINALITY AS a(m, n) ORDER BY n`,
      ids,
      partnerId,
    );
    const first = other.flush();
    await Promise.race([started, first]);
    await relay.flush();
    await first;
    await relay.flush();
    // Without the lease: the other relay claimed the first 5, this one the other 25, applied while the first was still being applied.
    expect(handled.map((e) => (e.payload as { memberId: string }).memberId).filter((id) => ids.includes(id))).toEqual(ids);
  } finally {
    await other.stop();
  }
});

test("a second relay of one schema idles while the first holds the lease, and takes over when it stops", async () => {
  const prisma = db.client();
  const other = otherReplica();
  try {
    const before = memberId();
    await prisma.$transaction((tx) => emitEvent(tx, "member", { type: "member.linked", payload: linked(before) }));
    await other.flush();
    await relay.flush();
    expect(handled.filter((e) => (e.payload as { memberId: string }).memberId === before)).toHaveLength(1);
    const [lease] = await prisma.$queryRawUnsafe<{ holder: string }[]>(`SELECT holder FROM "member"."RelayLease"`);
    expect(lease?.holder).not.toBe("replica-b");

    // This relay stops and releases its lease: the other one delivers from its next pass on.
    await relay.stop();
    const next = memberId();
    await prisma.$transaction((tx) => emitEvent(tx, "member", { type: "member.linked", payload: linked(next) }));
    await other.flush();
    expect(handled.filter((e) => (e.payload as { memberId: string }).memberId === next)).toHaveLength(1);
    const [taken] = await prisma.$queryRawUnsafe<{ holder: string }[]>(`SELECT holder FROM "member"."RelayLease"`);
    expect(taken?.holder).toBe("replica-b");
  } finally {
    await other.stop();
  }
});
