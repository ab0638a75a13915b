import type { PrismaClient } from "../db.ts";
import type { createBuilder, HubContext } from "../pothos.ts";
import type { SchemaName } from "./catalogue.ts";
import { type DeadLetter, listDeadLetters, MAX_DEAD_LETTERS, replayDeadLetter } from "./dead-letters.ts";

/**
 * The admin API of dead letters, contributed by each subgraph for the dead letters it owns.
 *
 * Why one root field per owner (`memberEventDeadLetters`, `pointsEventDeadLetters`, ...) and not
 * one `eventDeadLetters`: under Federation 2 a root field is resolved by one subgraph, and each
 * subgraph alone reads its own dead-letter table. The type `EventDeadLetter` and the enum
 * `EventService` are shared (identical in every subgraph, @shareable), so a client reads the three
 * lists alike and `service` says whose each letter is.
 */

type HubBuilder<Ctx extends HubContext> = ReturnType<typeof createBuilder<Ctx>>;

const SERVICE_VALUES = {
  MEMBER: { value: "member", description: "The member subgraph (members, links, consents)." },
  POINTS: { value: "points", description: "The points subgraph (ledger, tiers, settlement)." },
  PARTNER: { value: "partner", description: "The partner subgraph (partners, offers, API clients)." },
} as const;

const capitalised = (s: SchemaName) => `${s[0]!.toUpperCase()}${s.slice(1)}`;

export function addDeadLetterFields<Ctx extends HubContext>(builder: HubBuilder<Ctx>, schema: SchemaName, prisma: () => PrismaClient): void {
  const Service = builder.enumType("EventService", {
    description: "A subgraph that produces domain events and owns their outbox and dead letters.",
    values: SERVICE_VALUES,
  });
  const DeadLetterRef = builder.objectRef<DeadLetter>("EventDeadLetter").implement({
    description: `A domain event the relay stopped retrying after HUB_EVENT_MAX_ATTEMPTS failed deliveries (default 10), kept with its last error until an admin replays it.`,
    shareable: true,
    fields: (t) => ({
      id: t.exposeID("id", { description: "The event id: consumers' inboxes key on it, so a replay is applied once by each consumer." }),
      service: t.field({ type: Service, description: "The subgraph whose outbox produced the event and owns this dead letter.", resolve: (d) => d.service }),
      type: t.exposeString("type", { description: "The event type, e.g. points.activity (the event catalogue, lib/events/catalogue.ts)." }),
      payload: t.string({ description: "The event's payload as JSON text.", resolve: (d) => JSON.stringify(d.payload) }),
      attempts: t.exposeInt("attempts", { description: "Delivery attempts made before it was dead-lettered (a count)." }),
      lastError: t.exposeString("lastError", { description: 'The last delivery\'s error, per consumer, e.g. "points: HTTP 500" (at most 1,000 characters).' }),
      createdAt: t.field({ type: "DateTime", description: "When the event was emitted (UTC).", resolve: (d) => d.createdAt }),
      deadAt: t.field({ type: "DateTime", description: "When it was dead-lettered (UTC).", resolve: (d) => d.deadAt }),
    }),
  });
  const owner = capitalised(schema);
  builder.queryField(`${schema}EventDeadLetters`, (t) =>
    t.field({
      type: [DeadLetterRef],
      authScopes: { admin: true },
      description: `ADMIN only. Events of the ${schema} subgraph's outbox that could not be delivered after HUB_EVENT_MAX_ATTEMPTS attempts, oldest first.`,
      args: { first: t.arg.int({ required: false, description: `How many to return, 1–${MAX_DEAD_LETTERS}; default 50.` }) },
      resolve: (_r, { first }, ctx) => listDeadLetters(ctx.principal, prisma(), schema, first ?? 50),
    }),
  );
  builder.mutationField(`replay${owner}EventDeadLetter`, (t) =>
    t.field({
      type: DeadLetterRef,
      authScopes: { admin: true },
      description: `ADMIN only. Puts a dead letter of the ${schema} subgraph back in its outbox for delivery (same event id: consumers that already applied it do not apply it again). Returns the dead letter as it was; an unknown or already replayed id is NOT_FOUND.`,
      args: { id: t.arg.id({ description: "The dead letter's (event's) id." }) },
      resolve: (_r, { id }, ctx) => replayDeadLetter(ctx.principal, prisma(), schema, String(id)),
    }),
  );
}
