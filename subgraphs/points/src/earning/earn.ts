import { randomUUID } from "node:crypto";
import { Decimal } from "decimal.js";
import { z } from "zod";
import { toBig } from "../../../../lib/amounts.ts";
import { readSetting } from "../../../../lib/config.ts";
import { sqlState } from "../../../../lib/db.ts";
import { badInput, forbidden, HubError, notFound } from "../../../../lib/errors.ts";
import { emitEvents } from "../../../../lib/events.ts";
import { prisma } from "../db.ts";
import { lotExpiry, settings, addMonths } from "../config.ts";
import {
  type Actor,
  firstIssue,
  IdempotencyKey,
  MAX_POINTS_PER_EARN,
  Money,
  parseInput,
  Points,
  Reference,
  requirePartner,
  scopeOf,
  type Tier,
  TIER_MULTIPLIERS,
  Uuid,
  type WriteOptions,
} from "../domain.ts";
import {
  applyDeferred,
  budgetCode,
  type DeferredUpdate,
  ensureAccounts,
  idempotentTransaction,
  issuanceCode,
  type LedgerTransactionRow,
  post,
  type RawTransactionRow,
  requestHash,
  TX_COLUMNS,
  txRow,
  TX_OPTIONS,
  type Tx,
  walletCode,
} from "../ledger/ledger.ts";
import { earnGroupCommitEnabled, GroupCommitter, GroupRace } from "./group-commit.ts";
import { touchTiers } from "../tiers/tiers.ts";
import {
  ACTIVITY_KINDS,
  type ConsentCopy,
  consentIneligibility,
  type Lifecycle,
  type LifecycleSettings,
  lifecycleOf,
  loadLifecycleSettings,
  offerIneligibility,
} from "../../../../lib/lifecycle.ts";

/**
 * Earning: awardPoints (one) and awardPointsBatch (end-of-day files). A partner awards only to
 * members linked to it (the MemberLink copy fed by member.enrolled / member.linked; anyone else is
 * NOT_FOUND). Points are explicit, or purchaseAmount × the partner's earn rate × the member's tier
 * multiplier, rounded down. Every credit is an earn lot with the coalition's expiry policy.
 */

export const AwardInput = z
  .object({
    memberId: Uuid,
    idempotencyKey: IdempotencyKey,
    points: Points.nullish(),
    purchaseAmount: Money.nullish(),
    offerId: Uuid.nullish(),
    reference: Reference.nullish(),
  })
  .refine((i) => (i.points == null) !== (i.purchaseAmount == null), { message: "Pass either points or purchaseAmount (exactly one)", path: ["points"] });
export type AwardInput = z.input<typeof AwardInput>;
type Award = z.output<typeof AwardInput>;

const awardHash = (i: Award) =>
  requestHash({ op: "awardPoints", memberId: i.memberId, points: i.points ?? null, purchaseAmount: i.purchaseAmount ?? null, offerId: i.offerId ?? null, reference: i.reference ?? null });

interface EarnFacts {
  linked: boolean;
  tier: Tier;
  earnRate: string;
  active: boolean;
}

async function earnFacts(tx: Tx, partnerId: string, memberIds: readonly string[]): Promise<{ linked: Set<string>; tiers: Map<string, Tier>; earnRate: string; active: boolean }> {
  const ids = [...new Set(memberIds)];
  // One round trip: links to this partner, stored tiers, and the partner's earn rate.
  const rows = await tx.$queryRaw<{ memberId: string | null; linked: boolean; tier: Tier | null; earnRate: string | null; active: boolean | null }[]>`
    SELECT m::text AS "memberId",
           EXISTS (SELECT 1 FROM "points"."MemberLink" l WHERE l."memberId" = m AND l."partnerId" = ${partnerId}::uuid) AS linked,
           (SELECT tier::text FROM "points"."TierState" s WHERE s."memberId" = m) AS tier,
           p."earnRate"::text AS "earnRate", p.active
    FROM unnest(${ids}::uuid[]) AS m LEFT JOIN "points"."Partner" p ON p."partnerId" = ${partnerId}::uuid`;
  const links = rows.filter((r) => r.linked).map((r) => ({ memberId: r.memberId! }));
  const tiers = rows.filter((r) => r.tier).map((r) => ({ memberId: r.memberId!, tier: r.tier! }));
  const partner = rows[0]?.earnRate != null ? [{ earnRate: rows[0].earnRate, active: rows[0].active ?? true }] : [];
  return {
    linked: new Set(links.map((l) => l.memberId)),
    tiers: new Map(tiers.map((t) => [t.memberId, t.tier])),
    // A partner whose partner.registered has not arrived yet earns at the default rate of 1 point per currency unit.
    earnRate: partner[0]?.earnRate ?? "1",
    active: partner[0]?.active ?? true,
  };
}

/** Points for a purchase: amount × earn rate × tier multiplier, rounded down (never a fraction of a point). */
export function purchasePoints(purchaseAmount: string, earnRate: string, tier: Tier): number {
  return new Decimal(purchaseAmount).mul(earnRate).mul(TIER_MULTIPLIERS[tier]).floor().toNumber();
}

function basePoints(i: Award, facts: EarnFacts): number {
  const points = i.points ?? purchasePoints(i.purchaseAmount!, facts.earnRate, facts.tier);
  if (points < 1) throw badInput("This purchase earns no points (amount × earn rate × tier multiplier is below 1)", "purchaseAmount");
  if (points > MAX_POINTS_PER_EARN) throw badInput(`One award is at most ${MAX_POINTS_PER_EARN.toLocaleString("en")} points`, i.points != null ? "points" : "purchaseAmount");
  return points;
}

/** Awards points to a linked member (PARTNER). A replay of the idempotency key returns the original EARN. */
export async function awardPoints(actor: Actor, raw: unknown, opts: WriteOptions = {}): Promise<LedgerTransactionRow> {
  const partnerId = requirePartner(actor);
  const input = parseInput(AwardInput, raw);
  const idem = { scope: scopeOf(actor), key: input.idempotencyKey, requestHash: awardHash(input) };
  // Plain earns of the live API are group-committed (group-commit.ts); offers and back-dated or
  // clock-controlled writes (seed, tests) take the one-transaction path.
  const write = () =>
    !input.offerId && !opts.now && !opts.postedAt && earnGroupCommitEnabled()
      ? earnGroups.submit(actor, partnerId, { input, key: input.idempotencyKey, hash: idem.requestHash })
      : awardOne(actor, partnerId, input, idem, opts);
  try {
    return await write();
  } catch (e) {
    // The link of a member enrolled a moment ago may still be on its way (member.enrolled /
    // member.linked): wait for it a little before answering NOT_FOUND.
    if (!(e instanceof HubError) || e.extensions.code !== "NOT_FOUND" || opts.now || opts.postedAt) throw e;
    if (!(await linkArrives(input.memberId, partnerId, linkGraceMs()))) throw e;
    return write();
  }
}

/**
 * How long a single award waits for a missing member link before NOT_FOUND (HUB_LINK_GRACE_MS,
 * default 750 ms). Why: the points subgraph learns links from the member subgraph's events, which
 * arrive tens to a couple of hundred milliseconds after the enrolment commits (measured through the
 * hub: 25–200 ms, and an award sent right after enrolMember was NOT_FOUND 10 times out of 10).
 * A partner's "enrol, then award" must just work; a truly unlinked member costs only its caller the wait.
 */
const linkGraceMs = () => readSetting("HUB_LINK_GRACE_MS");

async function linkArrives(memberId: string, partnerId: string, graceMs: number): Promise<boolean> {
  const deadline = Date.now() + graceMs;
  while (Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 25));
    const rows = await prisma().$queryRaw<{ one: number }[]>`
      SELECT 1 AS one FROM "points"."MemberLink" WHERE "memberId" = ${memberId}::uuid AND "partnerId" = ${partnerId}::uuid`;
    if (rows.length) return true;
  }
  return false;
}

function awardOne(actor: Actor, partnerId: string, input: Award, idem: { scope: string; key: string; requestHash: string }, opts: WriteOptions) {
  return idempotentTransaction(idem, (tx) => earnOne(tx, actor, partnerId, input, idem, opts));
}

const earnGroups = new GroupCommitter<Award>(
  (tx, actor, partnerId, items) => earnChunk(tx, actor, partnerId, scopeOf(actor), items, {}),
  (actor, item) => awardOne(actor, actor.partnerId!, item.input, { scope: scopeOf(actor), key: item.key, requestHash: item.hash }, {}),
);

async function earnOne(tx: Tx, actor: Actor, partnerId: string, input: Award, idem: { scope: string; key: string; requestHash: string }, opts: WriteOptions) {
  const at = opts.postedAt ?? opts.now ?? new Date();
  const f = await earnFacts(tx, partnerId, [input.memberId]);
  if (!f.active) throw badInput("Your partner account is inactive: it cannot award points");
  if (!f.linked.has(input.memberId)) throw notFound("Member", input.memberId);
  const facts: EarnFacts = { linked: true, tier: f.tiers.get(input.memberId) ?? "BASE", earnRate: f.earnRate, active: true };
  const base = basePoints(input, facts);
  if (input.offerId) {
    // Lock the wallet and the budget up front, in the ledger's lock order (guarded accounts by id),
    // so this earn and an offer's funding or return can never deadlock on issuance/budget.
    const accts = await ensureAccounts(tx, [walletCode(input.memberId), budgetCode(input.offerId)]);
    await tx.$queryRaw`SELECT id FROM "points"."LedgerAccount" WHERE id = ANY(${[...accts.values()].map((a) => a.id)}::bigint[]) ORDER BY id FOR UPDATE`;
  }
  // The partner's issuance row is hot (every earn of the partner): its update runs last, just before commit.
  const deferred: DeferredUpdate[] = [];
  const earn = await post(tx, {
    deferred,
    kind: "EARN",
    memberId: input.memberId,
    partnerId,
    offerId: input.offerId ?? null,
    postings: [
      { accountCode: walletCode(input.memberId), amount: base },
      { accountCode: issuanceCode(partnerId), amount: -base },
    ],
    idempotency: idem,
    reference: input.reference ?? null,
    createdBy: actor.sub,
    postedAt: at,
  });
  const events = [{ type: "points.activity", payload: { memberId: input.memberId, at: at.toISOString(), kind: "EARN", points: base, partnerId } }];
  if (input.offerId) {
    const bonus = await applyOfferBonus(tx, actor, partnerId, input.memberId, input.offerId, base, facts.tier, earn.id, at, idem, input.reference ?? null);
    if (bonus) events.push({ type: "points.activity", payload: { memberId: input.memberId, at: at.toISOString(), kind: "OFFER_BONUS", points: bonus.memberPoints, partnerId } });
  }
  await touchTiers(tx, [input.memberId], at);
  await emitEvents(tx, "points", events);
  await applyDeferred(tx, deferred);
  return earn;
}

/**
 * The bonus of an offer on an earn, paid from the offer budget in the same database transaction:
 * BONUS_POINTS pays bonusPoints, POINTS_MULTIPLIER pays base × (multiplier − 1). The partner must
 * be one where the offer is redeemable, the offer active and in its window, the member eligible
 * (tier at least minTier, lifecycle segment among the offer's segments: OFFER_NOT_ELIGIBLE, and the
 * whole award is rolled back) and its uses below perMemberLimit (guarded increment), and the budget
 * must cover it. Eligibility is judged as of just before this earn: the tier before it (upgrades
 * happen after), and the segment from the activity before it — so a DORMANT member's win-back
 * purchase still gets the DORMANT offer's bonus, but not the next one (by then it is ACTIVE).
 * An offer with a requiredPurpose also needs a consent for it with one of its co-issuers, not
 * revoked (this subgraph's copy, MemberConsent) and not expired at the earn's time.
 */
async function applyOfferBonus(
  tx: Tx,
  actor: Actor,
  partnerId: string,
  memberId: string,
  offerId: string,
  base: number,
  tier: Tier,
  earnId: string,
  at: Date,
  idem: { scope: string; key: string; requestHash: string },
  reference: string | null,
): Promise<LedgerTransactionRow | null> {
  const [offer] = await tx.$queryRaw<
    {
      kind: string; bonusPoints: number | null; multiplier: string | null; startsAt: Date; endsAt: Date; perMemberLimit: number; status: string; redeemable: string[];
      minTier: Tier | null; segments: string[]; requiredPurpose: string | null; coIssuers: string[];
    }[]
  >`SELECT kind, "bonusPoints", multiplier::text AS multiplier, "startsAt", "endsAt", "perMemberLimit", status, "redeemablePartnerIds"::text[] AS redeemable, "minTier"::text AS "minTier",
           coalesce(segments, ARRAY[]::text[]) AS segments, "requiredPurpose",
           ARRAY(SELECT f->>'partnerId' FROM jsonb_array_elements(fundings) AS f) AS "coIssuers"
    FROM "points"."Offer" WHERE "offerId" = ${offerId}::uuid`;
  if (offer?.status !== "ACTIVE" || at < new Date(offer.startsAt) || at >= new Date(offer.endsAt)) {
    throw new HubError("OFFER_NOT_ACTIVE", "The offer is not active or is outside its window");
  }
  if (!offer.redeemable.includes(partnerId)) throw forbidden("This offer cannot be applied at your partner");
  // Only a member who claimed the offer gets its bonus (claims are made in the partner subgraph
  // and arrive here as partner.offer_claimed events).
  const claimed = await tx.$queryRaw<{ one: number }[]>`SELECT 1 AS one FROM "points"."OfferClaim" WHERE "offerId" = ${offerId}::uuid AND "memberId" = ${memberId}::uuid`;
  if (!claimed.length) throw forbidden("The member has not claimed this offer");
  if (offer.minTier || offer.segments.length) {
    const segment = offer.segments.length ? await segmentBefore(tx, memberId, at, earnId) : null;
    const why = offerIneligibility({ minTier: offer.minTier, segments: offer.segments }, { tier, segment });
    if (why) throw new HubError("OFFER_NOT_ELIGIBLE", why);
  }
  if (offer.requiredPurpose) {
    // The consent copy (member.consent_granted / _revoked): revoked or expired by `at` is refused.
    const consents = await tx.$queryRaw<ConsentCopy[]>`
      SELECT "partnerId"::text AS "partnerId", purpose, "expiresAt", active FROM "points"."MemberConsent"
      WHERE "memberId" = ${memberId}::uuid AND purpose = ${offer.requiredPurpose} AND active`;
    const why = consentIneligibility(
      { requiredPurpose: offer.requiredPurpose, coIssuerIds: offer.coIssuers },
      consents.map((c) => ({ ...c, expiresAt: c.expiresAt ? new Date(c.expiresAt) : null })),
      at,
    );
    if (why) throw new HubError("OFFER_NOT_ELIGIBLE", why);
  }
  let bonus: number;
  if (offer.kind === "BONUS_POINTS") bonus = offer.bonusPoints ?? 0;
  else if (offer.kind === "POINTS_MULTIPLIER") bonus = new Decimal(base).mul(new Decimal(offer.multiplier ?? "1").minus(1)).floor().toNumber();
  else throw badInput("A DISCOUNT offer gives no points: apply it with its discount code at the partner", "offerId");
  if (bonus < 1) return null;
  const used = await tx.$queryRaw<{ uses: number }[]>`
    INSERT INTO "points"."OfferUse" ("offerId", "memberId", uses) VALUES (${offerId}::uuid, ${memberId}::uuid, 1)
    ON CONFLICT ("offerId", "memberId") DO UPDATE SET uses = "OfferUse".uses + 1 WHERE "OfferUse".uses < ${offer.perMemberLimit}
    RETURNING uses`;
  if (!used.length || used[0]!.uses > offer.perMemberLimit) throw new HubError("OFFER_LIMIT_REACHED", "The member has used this offer as often as its per-member limit allows");
  // The partner subgraph shows the member's uses on its claim (OfferClaim.usedCount).
  await emitEvents(tx, "points", [{ type: "points.offer_applied", payload: { offerId, memberId, uses: used[0]!.uses, at: at.toISOString() } }]);
  return post(tx, {
    kind: "OFFER_BONUS",
    memberId,
    partnerId,
    offerId,
    postings: [
      { accountCode: walletCode(memberId), amount: bonus },
      { accountCode: budgetCode(offerId), amount: -bonus },
    ],
    idempotency: { scope: idem.scope, key: `${idem.key}#offer-bonus`, requestHash: idem.requestHash },
    reference,
    createdBy: actor.sub,
    postedAt: at,
    lots: { mode: "credit", issuerPartnerId: null, offerId },
  });
}

let lifecycleSettings: LifecycleSettings | undefined;

/**
 * The member's lifecycle segment at `at`, before the earn `excludeTxId`: lib/lifecycle.ts (the member
 * subgraph's rule) over joinedAt (MemberJoin, from member.enrolled) and the latest EARN/REDEEM in this
 * ledger — the same transactions whose points.activity events give the member subgraph its
 * lastActivityAt. null while member.enrolled has not arrived (segment-limited offers are then refused).
 */
async function segmentBefore(tx: Tx, memberId: string, at: Date, excludeTxId: string): Promise<Lifecycle | null> {
  const [r] = await tx.$queryRaw<{ joinedAt: Date | null; last: Date | null }[]>`
    SELECT (SELECT "joinedAt" FROM "points"."MemberJoin" WHERE "memberId" = ${memberId}::uuid) AS "joinedAt",
           (SELECT "postedAt" FROM "points"."LedgerTransaction"
             WHERE "memberId" = ${memberId}::uuid AND kind::text = ANY(${[...ACTIVITY_KINDS]}::text[]) AND "postedAt" <= ${at} AND id <> ${excludeTxId}::uuid
             ORDER BY "postedAt" DESC LIMIT 1) AS last`;
  if (!r?.joinedAt) return null;
  lifecycleSettings ??= loadLifecycleSettings();
  return lifecycleOf({ joinedAt: new Date(r.joinedAt), lastActivityAt: r.last ? new Date(r.last) : null }, at, lifecycleSettings);
}

// ---------------------------------------------------------------------------------------------
// Bulk earn
// ---------------------------------------------------------------------------------------------

export const BATCH_MAX_ITEMS = 5_000;
/** Items per database transaction in a bulk earn. */
export const BATCH_CHUNK = 500;
/** Chunk transactions of one awardPointsBatch call in flight at once (HUB_BULK_PARALLEL, default 2). */
const batchParallel = () => readSetting("HUB_BULK_PARALLEL");

export interface BatchRejection {
  index: number;
  code: string;
  message: string;
}
export interface BatchResult {
  accepted: number;
  replayed: number;
  rejected: BatchRejection[];
  /** Accepted and replayed EARN transactions, in input order. */
  transactions: LedgerTransactionRow[];
}

class ChunkRace extends GroupRace {}

/**
 * Many awards in one call (end-of-day files): each item validated and idempotent on its own; plain
 * items committed set-based in chunks of BATCH_CHUNK per database transaction (about ten statements
 * per chunk, not per item); items with an offer go through the single-award path. Rejections come
 * back by index with a code and never block the other items.
 */
export async function awardPointsBatch(actor: Actor, inputs: readonly unknown[], opts: WriteOptions = {}): Promise<BatchResult> {
  const partnerId = requirePartner(actor);
  if (!Array.isArray(inputs)) throw badInput("inputs must be a list");
  if (inputs.length > BATCH_MAX_ITEMS) throw badInput(`At most ${BATCH_MAX_ITEMS.toLocaleString("en")} items per batch`, "inputs");
  const scope = scopeOf(actor);
  const rejected: BatchRejection[] = [];
  const done = new Map<number, { tx: LedgerTransactionRow; replayed: boolean }>();
  const plain: { index: number; input: Award; hash: string }[] = [];
  const withOffer: { index: number; raw: unknown }[] = [];
  const seen = new Map<string, { index: number; hash: string }>();
  const dupes: { index: number; of: number }[] = [];
  inputs.forEach((raw, index) => {
    const parsed = AwardInput.safeParse(raw);
    if (!parsed.success) {
      rejected.push({ index, code: "BAD_USER_INPUT", message: firstIssue(parsed.error).message });
      return;
    }
    const hash = awardHash(parsed.data);
    const prev = seen.get(parsed.data.idempotencyKey);
    if (prev) {
      if (prev.hash !== hash) rejected.push({ index, code: "IDEMPOTENCY_CONFLICT", message: "This idempotency key was already used with a different request" });
      else dupes.push({ index, of: prev.index });
      return;
    }
    seen.set(parsed.data.idempotencyKey, { index, hash });
    if (parsed.data.offerId) withOffer.push({ index, raw });
    else plain.push({ index, input: parsed.data, hash });
  });
  // Chunks run batchParallel() at a time, each in its own transaction: PostgreSQL works on one
  // while Node prepares the next (a chunk is mostly database time). Safe as concurrent batch calls
  // are: wallets are locked in id order before anything else, the issuance row last.
  const chunks: (typeof plain)[] = [];
  for (let i = 0; i < plain.length; i += BATCH_CHUNK) chunks.push(plain.slice(i, i + BATCH_CHUNK));
  let next = 0;
  // After a failure no chunk starts any more (the call reports the error; the chunks already
  // committed are replays when the client retries with the same keys).
  let failed = false;
  const worker = async () => {
    while (next < chunks.length && !failed) {
      const chunk = chunks[next++]!;
      for (let attempt = 0; ; attempt++) {
        try {
          const r = await prisma().$transaction((tx) => earnChunk(tx, actor, partnerId, scope, chunk, opts), TX_OPTIONS);
          for (const [index, v] of r.done) done.set(index, v);
          rejected.push(...r.rejected);
          break;
        } catch (e) {
          // A concurrent call committed some of these keys between our check and our insert: the
          // retry sees them as replays.
          if (attempt < 3 && (e instanceof ChunkRace || sqlState(e) === "23505" || sqlState(e) === "40P01")) continue;
          failed = true;
          throw e;
        }
      }
    }
  };
  // allSettled: the call returns only when no chunk of it is still running.
  const settled = await Promise.allSettled(Array.from({ length: Math.min(batchParallel(), chunks.length) }, worker));
  const failure = settled.find((r): r is PromiseRejectedResult => r.status === "rejected");
  if (failure) throw failure.reason;
  for (const { index, raw } of withOffer) {
    try {
      const tx = await awardPoints(actor, raw, opts);
      done.set(index, { tx, replayed: false });
    } catch (e) {
      if (e instanceof HubError) rejected.push({ index, code: String(e.extensions.code), message: e.message });
      else throw e;
    }
  }
  for (const d of dupes) {
    const orig = done.get(d.of);
    if (orig) done.set(d.index, { tx: orig.tx, replayed: true });
    else {
      const r = rejected.find((x) => x.index === d.of);
      rejected.push({ index: d.index, code: r?.code ?? "BAD_USER_INPUT", message: r?.message ?? "Duplicate of a rejected item" });
    }
  }
  const ordered = [...done].sort((a, b) => a[0] - b[0]);
  return {
    accepted: ordered.filter(([, v]) => !v.replayed).length,
    replayed: ordered.filter(([, v]) => v.replayed).length,
    rejected: rejected.sort((a, b) => a.index - b.index),
    transactions: ordered.map(([, v]) => v.tx),
  };
}

async function earnChunk(
  tx: Tx,
  actor: Actor,
  partnerId: string,
  scope: string,
  chunk: { index: number; input: Award; hash: string }[],
  opts: WriteOptions,
): Promise<{ done: Map<number, { tx: LedgerTransactionRow; replayed: boolean }>; rejected: (BatchRejection & { field?: string })[] }> {
  const at = opts.postedAt ?? opts.now ?? new Date();
  const done = new Map<number, { tx: LedgerTransactionRow; replayed: boolean }>();
  const rejected: (BatchRejection & { field?: string })[] = [];
  const keys = chunk.map((c) => c.input.idempotencyKey);
  const existing = new Map(
    (
      await tx.$queryRaw<RawTransactionRow[]>`
        SELECT ${TX_COLUMNS} FROM "points"."LedgerTransaction" WHERE "idempotencyScope" = ${scope} AND "idempotencyKey" = ANY(${keys}::text[])`
    ).map((t) => [t.idempotencyKey, txRow(t)]),
  );
  const facts = await earnFacts(tx, partnerId, chunk.map((c) => c.input.memberId));
  const items: { index: number; input: Award; hash: string; points: number; id: string }[] = [];
  for (const c of chunk) {
    const prev = existing.get(c.input.idempotencyKey);
    if (prev) {
      if (prev.requestHash === c.hash) done.set(c.index, { tx: prev, replayed: true });
      else rejected.push({ index: c.index, code: "IDEMPOTENCY_CONFLICT", message: "This idempotency key was already used with a different request" });
      continue;
    }
    if (!facts.active) {
      rejected.push({ index: c.index, code: "BAD_USER_INPUT", message: "Your partner account is inactive: it cannot award points" });
      continue;
    }
    if (!facts.linked.has(c.input.memberId)) {
      rejected.push({ index: c.index, code: "NOT_FOUND", message: `Member ${c.input.memberId} not found` });
      continue;
    }
    try {
      const points = basePoints(c.input, { linked: true, tier: facts.tiers.get(c.input.memberId) ?? "BASE", earnRate: facts.earnRate, active: true });
      items.push({ ...c, points, id: randomUUID() });
    } catch (e) {
      if (e instanceof HubError) rejected.push({ index: c.index, code: String(e.extensions.code), message: e.message, field: e.extensions.field as string | undefined });
      else throw e;
    }
  }
  if (!items.length) return { done, rejected };

  const memberIds = [...new Set(items.map((i) => i.input.memberId))];
  const accounts = await ensureAccounts(tx, [...memberIds.map(walletCode), issuanceCode(partnerId)]);
  const walletIds = memberIds.map((m) => accounts.get(walletCode(m))!.id).sort((a, b) => (a < b ? -1 : 1));
  // Lock the wallets in id order (the ledger's lock order), read their balances.
  const balances = new Map(
    (
      await tx.$queryRaw<{ code: string; balance: bigint }[]>`
        SELECT code, balance FROM "points"."LedgerAccount" WHERE id = ANY(${walletIds}::bigint[]) ORDER BY id FOR UPDATE`
    ).map((r) => [r.code.slice("wallet:".length), toBig(r.balance)]),
  );
  // Running balances in bigint: a wallet's balance is an int8 and may be beyond 2^53.
  const balanceAfter = items.map((i) => {
    const b = (balances.get(i.input.memberId) ?? 0n) + BigInt(i.points);
    balances.set(i.input.memberId, b);
    return b;
  });
  const issuanceId = accounts.get(issuanceCode(partnerId))!.id;
  // A plain primary-key read of the hot issuance row (no lock) before the postings' foreign-key
  // checks. Measured: after ~10,000 earns the row has many dead versions; each posting's FK check
  // (FOR KEY SHARE) walked them, and a 500-item chunk's insert took ~750 ms instead of ~60 ms (bulk
  // 571–585 items/s); a plain index read marks the dead index entries (it can, the FK check's
  // locking read does not) and the same bulk ran at 4,841 items/s. Behaviour is unchanged.
  await tx.$queryRaw`SELECT id FROM "points"."LedgerAccount" WHERE id = ${issuanceId}`;
  const txIds = items.flatMap((i) => [i.id, i.id]);
  const acctIds = items.flatMap((i) => [accounts.get(walletCode(i.input.memberId))!.id, issuanceId]);
  const amounts = items.flatMap((i) => [i.points, -i.points]);
  const perWallet = new Map<bigint, number>();
  for (const i of items) {
    const id = accounts.get(walletCode(i.input.memberId))!.id;
    perWallet.set(id, (perWallet.get(id) ?? 0) + i.points);
  }
  // Transactions, their postings, their lots and the wallet credits in ONE statement (one round
  // trip whatever the group size). A key taken meanwhile by a concurrent writer inserts nothing for
  // that item; the count check below then rolls the whole chunk back (ChunkRace) and it is retried.
  const inserted = await tx.$queryRaw<{ id: string }[]>`
    WITH t AS (
      INSERT INTO "points"."LedgerTransaction" (id, kind, "memberId", "partnerId", "memberPoints", "balanceAfter", reference,
        "idempotencyScope", "idempotencyKey", "requestHash", "createdBy", "postedAt")
      SELECT id, 'EARN', m, ${partnerId}::uuid, p, b, r, ${scope}, k, h, ${actor.sub}, ${at}
      FROM unnest(${items.map((i) => i.id)}::uuid[], ${items.map((i) => i.input.memberId)}::uuid[], ${items.map((i) => i.points)}::bigint[],
                  ${balanceAfter}::bigint[], ${items.map((i) => i.input.reference ?? null)}::text[], ${items.map((i) => i.input.idempotencyKey)}::text[],
                  ${items.map((i) => i.hash)}::text[]) AS t(id, m, p, b, r, k, h)
      ON CONFLICT ("idempotencyScope", "idempotencyKey") DO NOTHING
      RETURNING id, "memberId", "memberPoints"
    ), postings AS (
      INSERT INTO "points"."Posting" ("transactionId", "accountId", amount, "postedAt")
      SELECT u.t, u.a, u.n, ${at} FROM unnest(${txIds}::uuid[], ${acctIds}::bigint[], ${amounts}::bigint[]) AS u(t, a, n)
      WHERE u.t IN (SELECT id FROM t)
      RETURNING 1
    ), lots AS (
      INSERT INTO "points"."Lot" ("memberId", "issuerPartnerId", "sourceTransactionId", points, remaining, "earnedAt", "expiresAt")
      SELECT t."memberId", ${partnerId}::uuid, t.id, t."memberPoints", t."memberPoints", ${at}, ${lotExpiry(at)} FROM t
      RETURNING 1
    ), wallets AS (
      UPDATE "points"."LedgerAccount" a SET balance = a.balance + u.d, "lifetimeEarned" = a."lifetimeEarned" + u.d
      FROM unnest(${[...perWallet.keys()]}::bigint[], ${[...perWallet.values()]}::bigint[]) AS u(id, d) WHERE a.id = u.id
      RETURNING 1
    )
    SELECT id::text AS id FROM t`;
  if (inserted.length !== items.length) throw new ChunkRace("concurrent duplicate keys in a batch");
  const policy = settings().expiryPolicy;
  if (policy.kind === "inactivity_months") {
    await tx.$executeRaw`
      UPDATE "points"."Lot" SET "expiresAt" = ${addMonths(at, policy.months)}
      WHERE "memberId" = ANY(${memberIds}::uuid[]) AND remaining > 0 AND ("expiresAt" IS NULL OR "expiresAt" < ${addMonths(at, policy.months)})`;
  }
  await touchTiers(tx, memberIds, at);
  await emitEvents(
    tx,
    "points",
    items.map((i) => ({ type: "points.activity", payload: { memberId: i.input.memberId, at: at.toISOString(), kind: "EARN", points: i.points, partnerId } })),
  );
  // The hot issuance row last: its lock is held only until commit.
  // A chunk's total can pass 2^31 (500 items of up to 100,000,000 points): bigint end to end.
  const total = items.reduce((s, i) => s + BigInt(i.points), 0n);
  await tx.$executeRaw`UPDATE "points"."LedgerAccount" SET balance = balance - ${total}::bigint WHERE id = ${issuanceId}`;
  items.forEach((i, k) =>
    done.set(i.index, {
      replayed: false,
      tx: {
        id: i.id,
        kind: "EARN",
        memberId: i.input.memberId,
        partnerId,
        offerId: null,
        memberPoints: i.points,
        balanceAfter: balanceAfter[k]!,
        reference: i.input.reference ?? null,
        reversesId: null,
        holdId: null,
        idempotencyScope: scope,
        idempotencyKey: i.input.idempotencyKey,
        requestHash: i.hash,
        createdBy: actor.sub,
        reason: null,
        postedAt: at,
      },
    }),
  );
  return { done, rejected };
}
