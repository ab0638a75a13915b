import { Prisma } from "../../../../lib/db.ts";
import { delegatedReader } from "../../../../lib/authority.ts";
import type { ParsedPayloadOf } from "../../../../lib/events/catalogue.ts";
import { log } from "../../../../lib/logger.ts";
import type { DataAccessEvent } from "../../../../prisma/generated/client/client.ts";
import { type BiPage, encodeCursor as encodeTimeCursor, keysetPages, keysetSql, type PageRequest } from "../../../../lib/paging.ts";
import { DATA_CATEGORIES, type DataCategory, PURPOSES, type Purpose } from "../../../../lib/vocabulary.ts";
import { isUuid } from "../../../../lib/input.ts";
import { prisma } from "../db.ts";
import { type Actor, PII_CATEGORIES } from "./domain.ts";

export type { DataAccessEvent };

/**
 * The data-access log: who read which categories of a member's data, for which purpose, in which
 * operation. Rows come from two places: this subgraph's own consent-scoped reads (recorded per
 * request, written with one INSERT per request) and `points.data_accessed` events for the fields
 * the points subgraph serves. ADMIN reads of personal data (PROFILE_*) are logged too (actorRole
 * ADMIN, no partner); the member-facing connection lists partner reads only, because its entries
 * name a partner.
 */

/** Operation names are the caller's free text: kept, but bounded. */
const MAX_OPERATION_NAME = 200;
const boundedName = (s: string | null | undefined) => (s ? s.slice(0, MAX_OPERATION_NAME) : null);

/** Quiet time after the last read of a request before its entries are written. */
const QUIET_MS = 5;
/** Upper bound on how long entries wait, however busy the request. */
const MAX_WAIT_MS = 50;

/**
 * Collects one request's consent-scoped reads and writes them in a single INSERT (one row per
 * member, the union of the categories read). The subgraph server flushes it before the response
 * leaves (`accessLogPlugin`), so a disclosure is never answered without its entry. Used without
 * that plugin (`autoFlush`), it flushes itself once the request has been quiet for a few
 * milliseconds.
 */
export class AccessRecorder {
  private pending = new Map<string, Set<DataCategory>>();
  private quietTimer: NodeJS.Timeout | undefined;
  private maxTimer: NodeJS.Timeout | undefined;
  private writing: Promise<void> = Promise.resolve();
  /** When the first read of the pending batch happened (the entries' time). */
  private firstReadAt: Date | null = null;
  /** INSERT statements this recorder issued (tests assert one per request). */
  inserts = 0;
  /** Writes that failed: the server withholds the response when there is any (accessLogPlugin). */
  failures = 0;

  /** A partner's app acting for the member: its partner and the purpose its reads are logged under. */
  private readonly delegated: { partnerId: string; purpose: Purpose } | null;

  private readonly actor: Actor;
  private readonly requestId: string;
  private readonly operationName: string | null;
  private readonly autoFlush: boolean;

  constructor(actor: Actor, requestId: string, operationName: string | null, autoFlush = true) {
    this.actor = actor;
    this.requestId = requestId;
    this.operationName = operationName;
    this.autoFlush = autoFlush;
    this.delegated = delegatedReader(actor);
  }

  /**
   * Notes that the actor read `category` of `memberId` in this request. Kept: partner reads (its own
   * API client or its token-exchange view), reads by a partner's app acting for the member
   * (DELEGATED, under the app's partner), and admin PII reads. The member's own reads are not.
   */
  record(memberId: string, category: DataCategory): void {
    if (this.actor.role === "PARTNER") {
      if (!this.actor.partnerId) return;
    } else if (this.delegated) {
      // logged under the app's partner
    } else if (this.actor.role !== "ADMIN" || !PII_CATEGORIES.has(category)) return;
    this.firstReadAt ??= new Date();
    let set = this.pending.get(memberId);
    if (!set) this.pending.set(memberId, (set = new Set()));
    set.add(category);
    if (!this.autoFlush) return;
    clearTimeout(this.quietTimer);
    this.quietTimer = setTimeout(() => void this.flush(), QUIET_MS);
    this.maxTimer ??= setTimeout(() => void this.flush(), MAX_WAIT_MS);
  }

  /** Writes what was recorded since the last flush (one INSERT); resolves when it is stored. */
  flush(): Promise<void> {
    clearTimeout(this.quietTimer);
    clearTimeout(this.maxTimer);
    this.quietTimer = this.maxTimer = undefined;
    if (!this.pending.size) return this.writing;
    const batch = this.pending;
    const at = this.firstReadAt ?? new Date();
    this.pending = new Map();
    this.firstReadAt = null;
    const app = this.delegated;
    const rows: Prisma.DataAccessEventCreateManyInput[] = [...batch].map(([memberId, cats]) => ({
      memberId,
      partnerId: app ? app.partnerId : this.actor.role === "PARTNER" ? this.actor.partnerId : null,
      // An app's read is the partner's read (its software, under the member's grant).
      actorRole: app ? "PARTNER" : this.actor.role,
      actor: app ? `app:${this.actor.clientId ?? this.actor.sub}` : this.actor.sub,
      categories: DATA_CATEGORIES.filter((c) => cats.has(c)),
      purpose: app ? app.purpose : this.actor.role === "PARTNER" ? this.actor.purpose : null,
      operationName: boundedName(this.operationName),
      requestId: this.requestId,
      at,
    }));
    this.inserts++;
    this.writing = this.writing.then(() =>
      prisma()
        .dataAccessEvent.createMany({ data: rows })
        .then(() => undefined)
        .catch((err) => {
          // Counted, not thrown: the plugin withholds the response (fail closed). Loud, because
          // without the plugin (autoFlush) the data has already gone out.
          this.failures++;
          log.error("data-access log write failed", { requestId: this.requestId, rows: rows.length, err });
        }),
    );
    return this.writing;
  }
}

/** The payload of `points.data_accessed` / `partner.data_accessed`, parsed by the event catalogue. */
export type DataAccessedPayload = ParsedPayloadOf<"points.data_accessed">;

/** Consumes `points.data_accessed` (the points subgraph's consent-scoped reads) into the same log. */
export async function recordPointsDataAccess(tx: Prisma.TransactionClient, p: DataAccessedPayload): Promise<void> {
  if (!isUuid(p.memberId) || !isUuid(p.partnerId)) {
    log.warn("points.data_accessed with bad ids ignored", { memberId: p.memberId, partnerId: p.partnerId });
    return;
  }
  const purpose = PURPOSES.find((v) => v === p.purpose);
  if (!purpose) {
    // A partner read without a purpose cannot have been consent-scoped: the points subgraph must not send it.
    log.warn("points.data_accessed without a valid purpose ignored", { memberId: p.memberId, purpose: p.purpose });
    return;
  }
  const member = await tx.member.findUnique({ where: { id: p.memberId }, select: { id: true } });
  if (!member) {
    log.warn("points.data_accessed for an unknown member ignored", { memberId: p.memberId });
    return;
  }
  const at = new Date(p.at);
  await tx.dataAccessEvent.create({
    data: {
      memberId: p.memberId,
      partnerId: p.partnerId,
      actorRole: "PARTNER",
      actor: `partner:${p.partnerId}`,
      categories: DATA_CATEGORIES.filter((c) => p.categories?.includes(c)),
      purpose,
      operationName: boundedName(p.operationName),
      requestId: p.requestId ? String(p.requestId).slice(0, 128) : null,
      at: Number.isNaN(at.getTime()) ? new Date() : at,
    },
  });
}

export type AccessPage = BiPage<DataAccessEvent>;

/** An entry's cursor: keyset on (at, id); ids are bigint sequence numbers. */
export const encodeCursor = (e: Pick<DataAccessEvent, "at" | "id">) => encodeTimeCursor(e.at, e.id);

/** The form of an entry's id in a cursor (`pageRequest` refuses other cursors). */
export const isEntryId = (id: string) => /^\d{1,19}$/.test(id);

/**
 * One page of partner reads per member, newest first, either direction, for every member of a
 * request in one query per side (keyset pagination on (at, id); a window function takes the page's
 * rows per member). A partner sees only its own reads.
 */
export async function accessPages(actor: Actor, memberIds: readonly string[], page: PageRequest): Promise<Map<string, AccessPage>> {
  const ids = memberIds.filter(isUuid);
  if (!ids.length || (actor.role === "PARTNER" && !actor.partnerId)) return new Map();
  const partnerFilter = actor.role === "PARTNER" ? Prisma.sql`AND "partnerId" = ${actor.partnerId}::uuid` : Prisma.empty;
  return keysetPages(ids, page, async (keys, q) => {
    const k = keysetSql(q, '"at"', '"id"', "bigint");
    const rows = await prisma().$queryRaw<(DataAccessEvent & { rn: number })[]>`
      SELECT * FROM (
        SELECT e."id", e."memberId"::text AS "memberId", e."partnerId"::text AS "partnerId", e."actorRole", e."actor",
               e."categories"::text[] AS "categories", e."purpose"::text AS "purpose", e."operationName", e."requestId", e."at",
               row_number() OVER (PARTITION BY "memberId" ORDER BY ${k.order})::int AS rn
        FROM "member"."DataAccessEvent" e
        WHERE "memberId" = ANY(${keys}::uuid[]) AND "partnerId" IS NOT NULL AND "purpose" IS NOT NULL ${partnerFilter} ${k.where}
      ) t WHERE rn <= ${q.limit} ORDER BY "memberId", rn`;
    const out = new Map<string, DataAccessEvent[]>();
    for (const r of rows) out.set(r.memberId, [...(out.get(r.memberId) ?? []), { ...r, at: new Date(r.at), id: BigInt(r.id) }]);
    return out;
  });
}
