import { recordAudit } from "../audit.ts";
import type { PrismaClient } from "../db.ts";
import { badInput, forbidden, notFound } from "../errors.ts";
import type { Principal } from "../principal.ts";
import type { SchemaName } from "./catalogue.ts";
import { wakeRelays } from "./outbox.ts";

/**
 * Dead letters: the events of a schema's outbox that the relay gave up on after
 * HUB_EVENT_MAX_ATTEMPTS failed deliveries (lib/events/relay.ts), each with its last error. Each
 * subgraph owns its own (`<schema>."DeadLetterEvent"`), as it owns its outbox. An admin lists them
 * and replays one once the cause is fixed: the event goes back to the outbox under the same id, so
 * a consumer that had already applied it acknowledges it from its inbox and only the consumers
 * that had not apply it, once.
 */

export interface DeadLetter {
  id: string;
  /** The subgraph whose outbox produced the event (and owns the dead letter). */
  service: SchemaName;
  type: string;
  payload: unknown;
  attempts: number;
  lastError: string;
  createdAt: Date;
  deadAt: Date;
}

/** Most dead letters one read returns (they are exceptional: a long list means a consumer is down). */
export const MAX_DEAD_LETTERS = 500;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

function adminOnly(principal: Principal): void {
  if (principal.role !== "ADMIN") throw forbidden("Only an admin sees and replays dead-lettered events");
}

type Row = Omit<DeadLetter, "service">;
const COLUMNS = `id::text AS id, type, payload, attempts, "lastError", "createdAt", "deadAt"`;

/** The schema's dead letters, oldest first (at most `first`, 1–500). */
export async function listDeadLetters(principal: Principal, db: PrismaClient, schema: SchemaName, first = 50): Promise<DeadLetter[]> {
  adminOnly(principal);
  if (!Number.isInteger(first) || first < 1 || first > MAX_DEAD_LETTERS) throw badInput(`first must be between 1 and ${MAX_DEAD_LETTERS}`, "first");
  const rows = await db.$queryRawUnsafe<Row[]>(`SELECT ${COLUMNS} FROM "${schema}"."DeadLetterEvent" ORDER BY "deadAt", id LIMIT ${first}`);
  return rows.map((r) => ({ ...r, service: schema }));
}

/**
 * Moves a dead letter back to the outbox (same id, type, payload and creation time; attempts
 * counted afresh) in one statement, and wakes this process's relay. Returns the dead letter as it
 * was. An unknown id (or one already replayed) is NOT_FOUND.
 */
export async function replayDeadLetter(principal: Principal, db: PrismaClient, schema: SchemaName, id: string): Promise<DeadLetter> {
  adminOnly(principal);
  if (!UUID.test(id)) throw notFound("Dead letter", id);
  // The replay and its audit entry commit together (the entry goes to the same schema's outbox).
  const row = await db.$transaction(async (tx) => {
    const [moved] = await tx.$queryRawUnsafe<Row[]>(
      `WITH d AS (DELETE FROM "${schema}"."DeadLetterEvent" WHERE id = $1::uuid RETURNING *),
            o AS (INSERT INTO "${schema}"."OutboxEvent" (id, type, payload, "createdAt", attempts, traceparent) SELECT id, type, payload, "createdAt", 0, traceparent FROM d)
       SELECT ${COLUMNS} FROM d`,
      id,
    );
    if (!moved) throw notFound("Dead letter", id);
    // The payload is not copied into the trail (it may carry member data); the event id finds it.
    await recordAudit(tx, principal, {
      action: `dead_letter.replayed.${schema}`,
      targetType: "DeadLetterEvent",
      targetId: moved.id,
      before: { status: "DEAD_LETTER", type: moved.type, attempts: moved.attempts, lastError: moved.lastError, deadAt: moved.deadAt },
      after: { status: "OUTBOX", type: moved.type, attempts: 0 },
    });
    return moved;
  });
  wakeRelays(schema);
  return { ...row, service: schema };
}
