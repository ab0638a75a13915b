import { afterAll, beforeAll, expect, test } from "vitest";
import { buildSubgraphSchema } from "@apollo/subgraph";
import { parse } from "graphql";
import type { Database } from "./db.ts";
import { type DomainEvent, emitEvent, eventsRoute, type Relay, startOutboxRelay } from "./events.ts";
import { startSubgraph, type RunningSubgraph } from "./subgraph-server.ts";
import { freshDatabase } from "../tests/support/db.ts";
import { callInternal, testInternalKey } from "../tests/support/subgraph.ts";

let db: Database;
let consumer: RunningSubgraph;
let relay: Relay;
// member.linked: an event type only the points subgraph consumes (SUBSCRIPTIONS), like this test's one consumer.
const handled: DomainEvent[] = [];
let failNext = 0;

beforeAll(async () => {
  db = await freshDatabase();
  const prisma = db.client();
  consumer = await startSubgraph({
    name: "points",
    schema: buildSubgraphSchema({ typeDefs: parse("type Query { ok: Boolean }") }),
    internalKey: testInternalKey,
    createContext: (b) => b,
    internalRoutes: {
      events: eventsRoute("points", () => prisma, {
        "member.linked": async (tx, event) => {
          if (failNext > 0) {
            failNext--;
            throw new Error("consumer down");
          }
          // A real effect in the same transaction as the inbox row.
          await tx.ledgerAccount.create({ data: { kind: "MEMBER_WALLET", code: `wallet:${(event.payload as { memberId: string }).memberId}` } });
          handled.push(event);
        },
      }),
    },
  });
  relay = startOutboxRelay({ schema: "member", prisma: () => prisma, peers: () => ({ points: consumer.url }), internalKey: testInternalKey, intervalMs: 50 });
});
afterAll(async () => {
  await relay?.stop();
  await consumer?.close();
  await db?.close();
});

const memberId = () => crypto.randomUUID();

test("an event emitted in a committed transaction is delivered once and its effect applied", async () => {
  const prisma = db.client();
  const id = memberId();
  await prisma.$transaction((tx) => emitEvent(tx, "member", { type: "member.linked", payload: { memberId: id } }));
  await relay.flush();
  expect(handled.filter((e) => (e.payload as { memberId: string }).memberId === id)).toHaveLength(1);
  expect(await prisma.ledgerAccount.count({ where: { code: `wallet:${id}` } })).toBe(1);
  const row = await prisma.memberOutboxEvent.findFirstOrThrow({ where: { payload: { path: ["memberId"], equals: id } } });
  expect(row.deliveredAt).not.toBeNull();
});

test("an event of a rolled-back transaction never exists", async () => {
  const prisma = db.client();
  const id = memberId();
  await expect(
    prisma.$transaction(async (tx) => {
      await emitEvent(tx, "member", { type: "member.linked", payload: { memberId: id } });
      throw new Error("rollback");
    }),
  ).rejects.toThrow("rollback");
  await relay.flush();
  expect(handled.some((e) => (e.payload as { memberId: string }).memberId === id)).toBe(false);
});

test("redelivery of the same event is a no-op (inbox)", async () => {
  const prisma = db.client();
  const id = memberId();
  const eventId = await prisma.$transaction((tx) => emitEvent(tx, "member", { type: "member.linked", payload: { memberId: id } }));
  await relay.flush();
  const event = { id: eventId, type: "member.linked", payload: { memberId: id }, createdAt: new Date().toISOString() };
  const again = await callInternal(consumer.url, "events", { events: [event, event] });
  expect(again.status).toBe(200);
  expect(handled.filter((e) => e.id === eventId)).toHaveLength(1);
  expect(await prisma.ledgerAccount.count({ where: { code: `wallet:${id}` } })).toBe(1);
});

test("a failing consumer leaves the event pending, retried later with backoff, effect applied once", async () => {
  const prisma = db.client();
  const id = memberId();
  failNext = 1;
  await prisma.$transaction((tx) => emitEvent(tx, "member", { type: "member.linked", payload: { memberId: id } }));
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

test("the events endpoint refuses callers without the service identity", async () => {
  const res = await fetch(new URL("/internal/events", consumer.url), { method: "POST", body: "{}" });
  expect(res.status).toBe(401);
});
