import { HubError } from "../../../../lib/errors.ts";
import { emitMany, event } from "../../../../lib/events/outbox.ts";
import type { Actor, WriteOptions } from "../domain.ts";
import { postEarns } from "../ledger/batch.ts";
import { applyDeferred, type DeferredUpdate, type LedgerTransactionRow, transactionsByKeys, type Tx } from "../ledger/ledger.ts";
import { payEarnBonuses } from "../perks/bonuses.ts";
import { touchTiers } from "../tiers/tiers.ts";
import { now } from "../../../../lib/clock.ts";
import { currencySettings } from "../config.ts";
import { type Award, basePoints, earnFacts, memberEarnFacts } from "./rules.ts";

/**
 * Plain earns (no offer) decided set-based, one chunk per database transaction: the path of every
 * bulk earn (awardPointsBatch) and every group-committed single earn (group-commit.ts). This module
 * decides (replays, conflicts, linked member, points); the ledger's batch entry point writes.
 */

export interface BatchRejection {
  index: number;
  code: string;
  message: string;
}

export async function earnChunk(
  tx: Tx,
  actor: Actor,
  partnerId: string,
  scope: string,
  chunk: { index: number; input: Award; hash: string }[],
  opts: WriteOptions,
): Promise<{ done: Map<number, { tx: LedgerTransactionRow; replayed: boolean }>; rejected: (BatchRejection & { field?: string })[] }> {
  const at = opts.postedAt ?? opts.now ?? now();
  const done = new Map<number, { tx: LedgerTransactionRow; replayed: boolean }>();
  const rejected: (BatchRejection & { field?: string })[] = [];
  const existing = await transactionsByKeys(
    tx,
    scope,
    chunk.map((c) => c.input.idempotencyKey),
  );
  const facts = await earnFacts(
    tx,
    partnerId,
    chunk.map((c) => c.input.memberId),
    at,
  );
  const items: { index: number; input: Award; hash: string; points: number }[] = [];
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
      const points = basePoints(c.input, memberEarnFacts(facts, partnerId, c.input.memberId));
      items.push({ ...c, points });
    } catch (e) {
      if (e instanceof HubError) rejected.push({ index: c.index, code: String(e.extensions.code), message: e.message, field: e.extensions.field as string | undefined });
      else throw e;
    }
  }
  if (!items.length) return { done, rejected };

  // The ledger writes the transactions, postings, lots and balances (ledger/batch.ts); a key taken
  // meanwhile by a concurrent writer throws BatchRace and the caller retries the chunk.
  const deferred: DeferredUpdate[] = [];
  const posted = await postEarns(tx, {
    partnerId,
    scope,
    createdBy: actor.sub,
    postedAt: at,
    programVersionId: facts.version.id,
    spendCurrency: currencySettings().code,
    items: items.map((i) => ({
      memberId: i.input.memberId,
      points: i.points,
      reference: i.input.reference ?? null,
      idempotencyKey: i.input.idempotencyKey,
      requestHash: i.hash,
      spendAmount: i.input.purchaseAmount ?? null,
    })),
    deferred,
  });
  // The program's welcome and birthday bonuses due on these earns (perks/bonuses.ts): decided on the
  // facts read above, paid set-based (no statement when none is due).
  const bonusEvents = await payEarnBonuses(tx, {
    partnerId,
    at,
    createdBy: actor.sub,
    earns: items.map((i, k) => ({ memberId: i.input.memberId, points: i.points, transactionId: posted[k]!.id, purchase: i.input.purchaseAmount != null })),
    facts: facts.bonus,
    deferred,
    program: facts.version.program,
  });
  await touchTiers(
    tx,
    facts.version,
    posted.map((t) => ({
      memberId: t.memberId!,
      current: memberEarnFacts(facts, partnerId, t.memberId!).programTier,
      lifetimeEarned: t.walletAfter!.lifetimeEarned,
      lifetimeSpend: t.walletAfter!.lifetimeSpend,
    })),
    at,
  );
  await emitMany(tx, "points", [...items.map((i) => event("points.activity", { memberId: i.input.memberId, at: at.toISOString(), kind: "EARN", points: i.points, partnerId })), ...bonusEvents]);
  // The hot issuance row last: its lock is held only until commit.
  await applyDeferred(tx, deferred);
  items.forEach((i, k) => done.set(i.index, { replayed: false, tx: posted[k]! }));
  return { done, rejected };
}
