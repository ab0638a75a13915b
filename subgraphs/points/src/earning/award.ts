import { readSetting } from "../../../../lib/config.ts";
import { HubError, badInput, notFound } from "../../../../lib/errors.ts";
import { emitMany, event } from "../../../../lib/events/outbox.ts";
import { prisma } from "../db.ts";
import { parseInput } from "../../../../lib/input.ts";
import { type Actor, requirePartner, scopeOf, type WriteOptions } from "../domain.ts";
import { applyDeferred, budgetCode, type DeferredUpdate, ensureAccounts, idempotentTransaction, issuanceCode, type LedgerTransactionRow, post, type Tx, walletCode } from "../ledger/ledger.ts";
import { payEarnBonuses } from "../perks/bonuses.ts";
import { touchTiers } from "../tiers/tiers.ts";
import { earnChunk } from "./chunk.ts";
import { earnGroupCommitEnabled, GroupCommitter } from "./group-commit.ts";
import { withMemberId } from "./member-ref.ts";
import { applyOfferBonus } from "./offer-bonus.ts";
import { now } from "../../../../lib/clock.ts";
import { type Award, AwardInput, awardHash, basePoints, type EarnFacts, earnFacts, memberEarnFacts, spendOf } from "./rules.ts";

/**
 * Earning: awardPoints (one) and awardPointsBatch (end-of-day files). A partner awards only to
 * members linked to it (the MemberLink copy fed by member.enrolled / member.linked; anyone else is
 * NOT_FOUND). Points are explicit, or purchaseAmount × the earn rate of the member's tier in the
 * program version in force at the earn's time (rules.ts), rounded down. Every credit is an earn lot with the coalition's expiry policy.
 */

/** Awards points to a linked member (PARTNER). A replay of the idempotency key returns the original EARN. */
export async function awardPoints(actor: Actor, raw: unknown, opts: WriteOptions = {}): Promise<LedgerTransactionRow> {
  const partnerId = requirePartner(actor);
  // By the partner's reference (externalRef) or the hub's id, exactly one; a reference of a member
  // enrolled a moment ago waits for its link as an id does (below).
  const input = parseInput(AwardInput, await withMemberId(partnerId, raw, opts.now || opts.postedAt ? 0 : linkGraceMs()));
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
  const at = opts.postedAt ?? opts.now ?? now();
  const f = await earnFacts(tx, partnerId, [input.memberId], at);
  if (!f.active) throw badInput("Your partner account is inactive: it cannot award points");
  if (!f.linked.has(input.memberId)) throw notFound("Member", input.memberId);
  const facts: EarnFacts = memberEarnFacts(f, partnerId, input.memberId);
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
    programVersionId: f.version.id,
    spend: spendOf(input),
  });
  const events = [event("points.activity", { memberId: input.memberId, at: at.toISOString(), kind: "EARN", points: base, partnerId })];
  if (input.offerId) {
    const bonus = await applyOfferBonus(tx, actor, partnerId, input.memberId, input.offerId, base, facts.tier, earn.id, at, idem, input.reference ?? null);
    if (bonus) events.push(event("points.activity", { memberId: input.memberId, at: at.toISOString(), kind: "OFFER_BONUS", points: bonus.memberPoints, partnerId }));
  }
  // The program's welcome and birthday bonuses due on this earn (perks/bonuses.ts), decided on the facts read above.
  events.push(
    ...(await payEarnBonuses(tx, {
      partnerId,
      at,
      createdBy: actor.sub,
      earns: [{ memberId: input.memberId, points: base, transactionId: earn.id, purchase: input.purchaseAmount != null }],
      facts: f.bonus,
      deferred,
      program: f.version.program,
    })),
  );
  await touchTiers(tx, f.version, [{ memberId: input.memberId, current: facts.programTier, lifetimeEarned: earn.walletAfter!.lifetimeEarned, lifetimeSpend: earn.walletAfter!.lifetimeSpend }], at);
  await emitMany(tx, "points", events);
  await applyDeferred(tx, deferred);
  return earn;
}
