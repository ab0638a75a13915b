import { buildSubgraphSchema } from "@apollo/subgraph";
import { parse } from "graphql";
import { afterAll, beforeAll, expect, test } from "vitest";
import { freshDatabase } from "../../tests/support/db.ts";
import { adminPrincipal, callInternal, memberPrincipal, partnerPrincipal, testInternalKey } from "../../tests/support/subgraph.ts";
import type { Database } from "../db.ts";
import { HubError } from "../errors.ts";
import { startSubgraph, type RunningSubgraph } from "../subgraph-server.ts";
import { consumedBy, type SchemaName } from "./catalogue.ts";
import { listDeadLetters, replayDeadLetter } from "./dead-letters.ts";
import { type ConsumerHandlers, defineConsumer, eventsRoute } from "./inbox.ts";
import { emit, emitEvent } from "./outbox.ts";
import { type Relay, startOutboxRelay } from "./relay.ts";

/**
 * The relay's housekeeping: delivered events pruned after the retention period, an event that
 * keeps failing dead-lettered after N attempts with its last error (and no longer retried), its
 * replay (delivered once more, applied once per consumer thanks to the inbox), and an event of a
 * type outside the catalogue failing instead of being acknowledged and dropped.
 */

let db: Database;
const consumers: RunningSubgraph[] = [];
let relay: Relay;
const MAX_ATTEMPTS = 3;
/** member.enrolled goes to points and partner: what each applied, by member id. */
const applied: Record<"points" | "partner", string[]> = { points: [], partner: [] };
/** While set, the partner consumer fails every member.enrolled (a consumer that is down for this event). */
let partnerFailing = false;

function noops<S extends SchemaName>(schema: S): ConsumerHandlers<S> {
  return Object.fromEntries(consumedBy(schema).map((t) => [t, async () => {}])) as unknown as ConsumerHandlers<S>;
}

async function consumer(schema: "points" | "partner"): Promise<RunningSubgraph> {
  const prisma = db.client();
  return startSubgraph({
    name: schema,
    schema: buildSubgraphSchema({ typeDefs: parse("type Query { ok: Boolean }") }),
    internalKey: testInternalKey,
    createContext: (b) => b,
    internalRoutes: {
      events: eventsRoute(
        () => prisma,
        defineConsumer(schema, {
          ...noops(schema),
          "member.enrolled": async (tx, e) => {
            if (schema === "partner" && partnerFailing) throw new Error("partner consumer down");
            // An effect in the inbox transaction, so "applied once" is what the database says.
            await tx.ledgerAccount.create({ data: { kind: "MEMBER_WALLET", code: `applied-by-${schema}:${e.payload.memberId}` } });
            applied[schema].push(e.payload.memberId);
          },
        } as ConsumerHandlers<typeof schema>),
      ),
    },
  });
}

beforeAll(async () => {
  db = await freshDatabase();
  consumers.push(await consumer("points"), await consumer("partner"));
  const prisma = db.client();
  // A poll a minute away: the tests drive the relay with flush() and prune().
  relay = startOutboxRelay({
    schema: "member",
    prisma: () => prisma,
    peers: () => ({ points: consumers[0]!.url, partner: consumers[1]!.url }),
    internalKey: testInternalKey,
    intervalMs: 60_000,
    settings: { maxAttempts: MAX_ATTEMPTS, retentionHours: 24 },
  });
});
afterAll(async () => {
  await relay?.stop();
  for (const c of consumers) await c.close();
  await db?.close();
});

/** Runs delivery attempts until the event left the outbox or `n` attempts were made, skipping the backoff between them. */
async function attempt(eventId: string, n: number): Promise<void> {
  const prisma = db.client();
  for (let i = 0; i < n; i++) {
    await prisma.memberOutboxEvent.updateMany({ where: { id: eventId }, data: { lockedUntil: null } });
    await relay.flush();
    if (!(await prisma.memberOutboxEvent.findUnique({ where: { id: eventId } }))) return;
  }
}

const enrolled = (memberId: string) => ({ memberId, email: `${memberId}@example.com`, joinedAt: new Date().toISOString(), partnerId: null });

test("delivered events older than the retention period are pruned; recent and undelivered ones are kept", async () => {
  const prisma = db.client();
  const hoursAgo = (h: number) => new Date(Date.now() - h * 3_600_000);
  const row = (deliveredAt: Date | null, createdAt: Date) =>
    prisma.memberOutboxEvent.create({ data: { type: "member.link_requested", payload: {}, createdAt, deliveredAt, lockedUntil: deliveredAt ? null : hoursAgo(-1) } });
  const old = await row(hoursAgo(25), hoursAgo(26));
  const recent = await row(hoursAgo(23), hoursAgo(30));
  // Undelivered for longer than the retention (locked, so no pass claims it meanwhile): never pruned.
  const pending = await row(null, hoursAgo(100));
  expect(await relay.prune()).toBe(1);
  const left = await prisma.memberOutboxEvent.findMany({ where: { id: { in: [old.id, recent.id, pending.id] } } });
  expect(left.map((r) => r.id).sort()).toEqual([recent.id, pending.id].sort());
  expect(await relay.prune()).toBe(0);
  await prisma.memberOutboxEvent.delete({ where: { id: pending.id } });
});

test("an event that keeps failing is dead-lettered after N attempts with its last error, and no longer retried", async () => {
  const prisma = db.client();
  const memberId = crypto.randomUUID();
  partnerFailing = true;
  const payload = enrolled(memberId);
  const eventId = await prisma.$transaction((tx) => emit(tx, "member.enrolled", payload));
  await attempt(eventId, MAX_ATTEMPTS - 1);
  // Still retried before the limit: pending, with its error.
  const pendingRow = await prisma.memberOutboxEvent.findUniqueOrThrow({ where: { id: eventId } });
  expect(pendingRow.deliveredAt).toBeNull();
  expect(pendingRow.attempts).toBe(MAX_ATTEMPTS - 1);
  expect(await prisma.memberDeadLetterEvent.count({ where: { id: eventId } })).toBe(0);
  await attempt(eventId, 1);
  expect(await prisma.memberOutboxEvent.findUnique({ where: { id: eventId } })).toBeNull();
  const dead = await prisma.memberDeadLetterEvent.findUniqueOrThrow({ where: { id: eventId } });
  expect(dead).toMatchObject({ type: "member.enrolled", attempts: MAX_ATTEMPTS, payload });
  expect(dead.lastError).toMatch(/^partner: partner consumer down$/);
  // points applied it on the first attempt (once); partner never did.
  expect(applied.points.filter((m) => m === memberId)).toHaveLength(1);
  expect(applied.partner.filter((m) => m === memberId)).toHaveLength(0);
  // No longer retried: more passes reach no consumer.
  const before = [applied.points.length, applied.partner.length];
  partnerFailing = false;
  await relay.flush();
  await relay.flush();
  expect([applied.points.length, applied.partner.length]).toEqual(before);
  expect(await prisma.memberDeadLetterEvent.count({ where: { id: eventId } })).toBe(1);

  // The admin lists it...
  const letters = await listDeadLetters(adminPrincipal(), prisma, "member");
  expect(letters.find((l) => l.id === eventId)).toMatchObject({ service: "member", type: "member.enrolled", attempts: MAX_ATTEMPTS, lastError: dead.lastError });
  // ...and replays it once the consumer is back: delivered again, applied once by each consumer (points acknowledges it from its inbox).
  const replayed = await replayDeadLetter(adminPrincipal(), prisma, "member", eventId);
  expect(replayed).toMatchObject({ id: eventId, type: "member.enrolled" });
  expect(await prisma.memberDeadLetterEvent.count({ where: { id: eventId } })).toBe(0);
  await relay.flush();
  const row = await prisma.memberOutboxEvent.findUniqueOrThrow({ where: { id: eventId } });
  expect(row.deliveredAt).not.toBeNull();
  expect(row.createdAt).toEqual(dead.createdAt);
  expect(applied.points.filter((m) => m === memberId)).toHaveLength(1);
  expect(applied.partner.filter((m) => m === memberId)).toHaveLength(1);
  for (const schema of ["points", "partner"]) expect(await prisma.ledgerAccount.count({ where: { code: `applied-by-${schema}:${memberId}` } })).toBe(1);
  // Replayed once: a second replay of the same id is NOT_FOUND.
  await expect(replayDeadLetter(adminPrincipal(), prisma, "member", eventId)).rejects.toMatchObject({ extensions: { code: "NOT_FOUND" } });
});

test("an event of a type outside the catalogue is not acknowledged and dropped: it fails, then is dead-lettered", async () => {
  const prisma = db.client();
  const eventId = await prisma.$transaction((tx) => emitEvent(tx, "member", { type: "member.renamed", payload: {} }));
  await attempt(eventId, MAX_ATTEMPTS);
  const dead = await prisma.memberDeadLetterEvent.findUniqueOrThrow({ where: { id: eventId } });
  expect(dead.lastError).toBe("member.renamed is not in the event catalogue");
});

test("a consumer refuses an event it is not routed (the relay retries it), and acknowledges a payload that does not match, handler not run", async () => {
  const base = { createdAt: new Date().toISOString() };
  const notMine = { ...base, id: crypto.randomUUID(), type: "partner.offer_ended", payload: { offerId: crypto.randomUUID() } };
  const res = await callInternal(consumers[1]!.url, "events", { events: [notMine] });
  expect((res.body as { results: unknown[] }).results).toEqual([{ id: notMine.id, ok: false, error: "partner.offer_ended is not routed to the partner subgraph" }]);
  const badPayload = { ...base, id: crypto.randomUUID(), type: "member.enrolled", payload: { memberId: "not-a-uuid" } };
  const before = applied.partner.length;
  const ok = await callInternal(consumers[1]!.url, "events", { events: [badPayload] });
  expect((ok.body as { results: unknown[] }).results).toEqual([{ id: badPayload.id, ok: true }]);
  expect(applied.partner.length).toBe(before);
});

test("only an admin lists and replays dead letters", async () => {
  const prisma = db.client();
  for (const p of [partnerPrincipal(crypto.randomUUID()), memberPrincipal(crypto.randomUUID())]) {
    await expect(listDeadLetters(p, prisma, "member")).rejects.toMatchObject({ extensions: { code: "FORBIDDEN" } });
    await expect(replayDeadLetter(p, prisma, "member", crypto.randomUUID())).rejects.toBeInstanceOf(HubError);
  }
  await expect(listDeadLetters(adminPrincipal(), prisma, "member", 0)).rejects.toMatchObject({ extensions: { code: "BAD_USER_INPUT", field: "first" } });
});
