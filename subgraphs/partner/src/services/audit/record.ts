import type { Prisma } from "../../../../../lib/db.ts";
import type { TypedEvent } from "../../../../../lib/events/inbox.ts";

type Tx = Prisma.TransactionClient;

/**
 * The consumer of `audit.recorded` (lib/audit.ts): every subgraph's admin actions become rows of
 * the append-only `partner.AuditEntry`, the entry's id being the event's (a redelivery adds nothing:
 * the inbox has it, and the insert skips an existing id).
 */
export async function storeAuditEntry(tx: Tx, e: TypedEvent<"audit.recorded">): Promise<void> {
  const p = e.payload;
  await tx.auditEntry.createMany({
    data: [
      {
        id: e.id,
        at: new Date(p.at),
        source: p.source,
        action: p.action,
        targetType: p.targetType,
        targetId: p.targetId,
        partnerId: p.partnerId ?? null,
        actorSub: p.actor.sub,
        actorRole: p.actor.role,
        actorAuthority: p.actor.authority,
        actorPersonRole: p.actor.personRole ?? null,
        actorClientId: p.actor.clientId ?? null,
        actorPartnerId: p.actor.partnerId ?? null,
        requestId: p.requestId ?? null,
        before: (p.before ?? undefined) as Prisma.InputJsonValue | undefined,
        after: (p.after ?? undefined) as Prisma.InputJsonValue | undefined,
      },
    ],
    skipDuplicates: true,
  });
}
