import { Prisma, type PrismaClient } from "../../../../../lib/db.ts";
import type { OfferFunding } from "../../../../../prisma/generated/client/client.ts";
import { prisma } from "../../db.ts";
import { TX_OPTIONS } from "../domain.ts";
import { type LiveOffer, liveOffers } from "./eligibility.ts";

/**
 * The live offers (eligibility.ts `liveOffers`: ACTIVE, inside their window, with co-issuers and their
 * partner rows), cached across requests in this process with EXACT invalidation: the API promises
 * no staleness, also with several partner processes writing the same database.
 *
 * - The database keeps a catalog version (partner.OfferCatalogVersion, one row) that statement-level
 *   triggers bump in the same transaction as any change to Offer, OfferFunding or Partner (migration
 *   20261127000100_offer_catalog_version). Whoever writes, from whichever process, moves it at commit.
 * - A snapshot is loaded in ONE database snapshot (a REPEATABLE READ transaction: version, the next
 *   start and the offers), so a change committed meanwhile cannot be cached under the newer version.
 * - A request uses the cached snapshot only if the version it read (one statement; the wallet query
 *   reads it in the eligibility-inputs statement it runs anyway) is the snapshot's, and its clock
 *   `now` lies in [loadedAt, validUntil): validUntil is the earliest end among the cached offers or
 *   the earliest start after loadedAt of an ACTIVE offer not yet started, whichever comes first —
 *   the only instants at which the list changes without a write.
 * Everything cached is frozen (offers, their segment and funding arrays, fundings, partners): it is
 * shared by concurrent requests. Dates and Decimals are not frozen by Object.freeze; nothing here
 * mutates them.
 */
export interface LiveOfferSnapshot {
  /** The catalog version the snapshot was loaded at; null = no counter row (never reused). */
  readonly version: bigint | null;
  /** The clock (ms) the list was computed for, and the first instant (ms) it may differ at. */
  readonly loadedAt: number;
  readonly validUntil: number;
  readonly offers: readonly LiveOffer[];
  /** Per offer: its co-issuers without the partner relation (primes the `fundings` loader). */
  readonly fundings: ReadonlyMap<string, readonly OfferFunding[]>;
  /** Per offer with a requiredPurpose: its co-issuers' partner ids (eligibility's consent rule). */
  readonly coIssuersOf: ReadonlyMap<string, readonly string[]>;
}

interface CacheState {
  current?: LiveOfferSnapshot;
  loading?: Promise<LiveOfferSnapshot>;
}
/** Per Prisma client (i.e. per database: tests run several in one process). */
const caches = new WeakMap<object, CacheState>();
function stateOf(client: PrismaClient): CacheState {
  let s = caches.get(client);
  if (!s) caches.set(client, (s = {}));
  return s;
}

/** The catalog version now (one statement); null when the counter row is missing. */
export async function readCatalogVersion(): Promise<bigint | null> {
  const [row] = await prisma().$queryRaw<{ version: bigint | null }[]>`SELECT (SELECT version FROM "partner"."OfferCatalogVersion" WHERE id = 1) AS version`;
  return row?.version == null ? null : BigInt(row.version);
}

const fits = (s: LiveOfferSnapshot | undefined, version: bigint | null, t: number): boolean => s !== undefined && version !== null && s.version === version && s.loadedAt <= t && t < s.validUntil;

/**
 * The live offers at `now`. `knownVersion`: the catalog version the caller read just now (in a
 * statement it ran anyway); without it, it is read here. Reuses the cached snapshot when it fits,
 * else loads one (concurrent callers share an in-flight load when it fits them too).
 */
export async function liveOfferSnapshot(now: Date, knownVersion?: bigint | null): Promise<LiveOfferSnapshot> {
  const client = prisma();
  const state = stateOf(client);
  const t = now.getTime();
  const version = knownVersion === undefined ? await readCatalogVersion() : knownVersion;
  const cached = state.current;
  if (cached && fits(cached, version, t)) return cached;
  if (state.loading) {
    const s = await state.loading.catch(() => undefined);
    // A load that started before the caller's read may predate a change it saw: only a snapshot at
    // the caller's version or later is fresh enough.
    if (s && version !== null && s.version !== null && s.version >= version && s.loadedAt <= t && t < s.validUntil) return s;
  }
  const loading = loadSnapshot(client, now);
  state.loading = loading;
  try {
    const s = await loading;
    // Keep the newest catalog state (a slow load of an older version must not replace a newer one).
    if (s.version !== null && (!state.current || state.current.version === null || s.version >= state.current.version)) state.current = s;
    return s;
  } finally {
    if (state.loading === loading) state.loading = undefined;
  }
}

async function loadSnapshot(client: PrismaClient, now: Date): Promise<LiveOfferSnapshot> {
  const { version, nextStart, offers } = await client.$transaction(
    async (tx) => {
      // First statement of the transaction: it fixes the snapshot the offers are read in below.
      const [row] = await tx.$queryRaw<{ version: bigint | null; nextStart: Date | null }[]>`
        SELECT (SELECT version FROM "partner"."OfferCatalogVersion" WHERE id = 1) AS version,
               (SELECT min("startsAt") FROM "partner"."Offer" WHERE status = 'ACTIVE' AND "startsAt" > ${now}::timestamptz) AS "nextStart"`;
      return { version: row?.version ?? null, nextStart: row?.nextStart ?? null, offers: await liveOffers(now, tx) };
    },
    { ...TX_OPTIONS, isolationLevel: Prisma.TransactionIsolationLevel.RepeatableRead },
  );
  let validUntil = nextStart === null ? Number.POSITIVE_INFINITY : new Date(nextStart).getTime();
  for (const o of offers) validUntil = Math.min(validUntil, o.endsAt.getTime());
  const fundings = new Map<string, readonly OfferFunding[]>();
  const coIssuersOf = new Map<string, readonly string[]>();
  for (const o of offers) {
    for (const f of o.fundings) Object.freeze(f.partner);
    fundings.set(o.id, Object.freeze(o.fundings.map(({ partner: _p, ...f }) => Object.freeze(f))));
    if (o.requiredPurpose) coIssuersOf.set(o.id, Object.freeze(o.fundings.map((f) => f.partnerId)));
    Object.freeze(o.segments);
    for (const f of o.fundings) Object.freeze(f);
    Object.freeze(o.fundings);
    Object.freeze(o);
  }
  return Object.freeze({
    version: version === null ? null : BigInt(version),
    loadedAt: now.getTime(),
    validUntil,
    offers: Object.freeze(offers),
    fundings,
    coIssuersOf,
  });
}

/** Drops this process's cached snapshot (tests). */
export function forgetLiveOffers(): void {
  caches.delete(prisma());
}
