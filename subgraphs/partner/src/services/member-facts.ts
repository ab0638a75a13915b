import type { Prisma, PrismaClient } from "../../../../lib/db.ts";
import type { ConsumerHandlers, DomainEvent, TypedEvent } from "../../../../lib/events/inbox.ts";
import { ACTIVITY_KINDS, lifecycleOf } from "../../../../lib/lifecycle.ts";
import { isTier, type Lifecycle, type Tier } from "../../../../lib/vocabulary.ts";
import { log } from "../../../../lib/logger.ts";
import { partnerSettings } from "../config.ts";

/**
 * The partner subgraph's copy of the member facts that offer eligibility needs at claim time
 * (`partner.MemberFacts`), fed by the owners' events — never by reading their schemas:
 * - member.enrolled {memberId, joinedAt}         → joinedAt
 * - points.activity {memberId, at, kind}         → lastActivityAt (EARN/REDEEM only, never backwards)
 * - points.tier_changed {memberId, tier, at}     → tier (a tier reached earlier never overwrites a later one)
 * The lifecycle segment is then `lifecycleOf` (lib/lifecycle.ts, the member subgraph's own rule)
 * over these facts at `now`. Each handler runs in the inbox transaction: a redelivery is a no-op,
 * and every update is monotonic, so out-of-order delivery converges on the same row.
 */

type Tx = Prisma.TransactionClient;

const dateOf = (s: unknown): Date | null => {
  const d = typeof s === "string" ? new Date(s) : null;
  return d && !Number.isNaN(d.getTime()) ? d : null;
};

function bad(e: DomainEvent, why: string): void {
  log.warn("partner: event with a bad payload ignored", { eventId: e.id, type: e.type, why });
}

/** member.enrolled, any number in delivery order, in one statement: each member's last joinedAt, as one by one. */
export async function membersJoined(tx: Tx, events: TypedEvent<"member.enrolled">[]): Promise<void> {
  const joined = new Map<string, Date>();
  for (const e of events) {
    const joinedAt = dateOf(e.payload.joinedAt) ?? dateOf(e.createdAt);
    if (!joinedAt) bad(e, "joinedAt");
    else joined.set(e.payload.memberId, joinedAt);
  }
  if (!joined.size) return;
  await tx.$executeRaw`
    INSERT INTO "partner"."MemberFacts" ("memberId", "joinedAt", "updatedAt")
    SELECT m, t, now() FROM unnest(${[...joined.keys()]}::uuid[], ${[...joined.values()]}::timestamptz[]) AS u(m, t)
    ON CONFLICT ("memberId") DO UPDATE SET "joinedAt" = EXCLUDED."joinedAt", "updatedAt" = now()`;
}

export const memberFactsHandlers = {
  "member.enrolled": async (tx, e) => {
    const p = e.payload;
    const joinedAt = dateOf(p.joinedAt) ?? dateOf(e.createdAt);
    if (!joinedAt) return bad(e, "joinedAt");
    await tx.$executeRaw`
      INSERT INTO "partner"."MemberFacts" ("memberId", "joinedAt", "updatedAt") VALUES (${p.memberId}::uuid, ${joinedAt}, now())
      ON CONFLICT ("memberId") DO UPDATE SET "joinedAt" = EXCLUDED."joinedAt", "updatedAt" = now()`;
  },
  "points.activity": {
    one: async (tx, e) => {
      const p = e.payload;
      if (!ACTIVITY_KINDS.has(p.kind)) return; // bonuses, reversals, expiry: not the member's own doing
      const at = dateOf(p.at);
      if (!at) return bad(e, "at");
      await tx.$executeRaw`
        INSERT INTO "partner"."MemberFacts" ("memberId", "lastActivityAt", "updatedAt") VALUES (${p.memberId}::uuid, ${at}, now())
        ON CONFLICT ("memberId") DO UPDATE SET "lastActivityAt" = GREATEST("MemberFacts"."lastActivityAt", EXCLUDED."lastActivityAt"), "updatedAt" = now()`;
    },
    batch: memberActivityBatch,
  },
  "points.tier_changed": async (tx, e) => {
    const p = e.payload;
    const at = dateOf(p.at) ?? dateOf(e.createdAt);
    if (!isTier(p.tier) || !at) return bad(e, "tier/at");
    await tx.$executeRaw`
      INSERT INTO "partner"."MemberFacts" ("memberId", tier, "tierAt", "updatedAt") VALUES (${p.memberId}::uuid, ${p.tier}::"partner"."Tier", ${at}, now())
      ON CONFLICT ("memberId") DO UPDATE SET tier = EXCLUDED.tier, "tierAt" = EXCLUDED."tierAt", "updatedAt" = now()
      WHERE "MemberFacts"."tierAt" IS NULL OR "MemberFacts"."tierAt" <= EXCLUDED."tierAt"`;
  },
} satisfies Partial<ConsumerHandlers<"partner">>;

/**
 * The set-based form of `points.activity` for delivered batches: one statement for all the batch's
 * events — the greatest time per member, merged with GREATEST as the per-event form does (so the
 * result is that of applying them one by one, in any order); the same events are skipped, with
 * the same warnings.
 */
async function memberActivityBatch(tx: Tx, events: TypedEvent<"points.activity">[]): Promise<void> {
  const ids: string[] = [];
  const ats: string[] = [];
  for (const e of events) {
    const p = e.payload;
    if (!ACTIVITY_KINDS.has(p.kind)) continue;
    const at = dateOf(p.at);
    if (!at) {
      bad(e, "at");
      continue;
    }
    ids.push(p.memberId);
    ats.push(at.toISOString());
  }
  if (!ids.length) return;
  await tx.$executeRawUnsafe(
    `INSERT INTO "partner"."MemberFacts" ("memberId", "lastActivityAt", "updatedAt")
     SELECT mid, max(at), now() FROM unnest($1::uuid[], $2::timestamptz[]) AS e(mid, at) GROUP BY mid ORDER BY mid
     ON CONFLICT ("memberId") DO UPDATE SET "lastActivityAt" = GREATEST("MemberFacts"."lastActivityAt", EXCLUDED."lastActivityAt"), "updatedAt" = now()`,
    ids,
    ats,
  );
}

export interface MemberStanding {
  tier: Tier;
  /** null while member.enrolled has not arrived here (then segment-limited offers are refused). */
  segment: Lifecycle | null;
}

/** A member's tier and lifecycle segment at `now`, from this subgraph's copy of the facts. */
export async function memberStanding(db: Tx | PrismaClient, memberId: string, now: Date, settings = partnerSettings()): Promise<MemberStanding> {
  const f = await db.partnerMemberFacts.findUnique({ where: { memberId } });
  return {
    tier: f?.tier ?? "BASE",
    segment: f?.joinedAt ? lifecycleOf({ joinedAt: f.joinedAt, lastActivityAt: f.lastActivityAt }, now, settings) : null,
  };
}
