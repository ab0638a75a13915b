import { readSetting } from "../../../../lib/config.ts";
import { sqlState } from "../../../../lib/db.ts";
import { badInput, HubError } from "../../../../lib/errors.ts";
import { prisma } from "../db.ts";
import { firstIssue } from "../../../../lib/input.ts";
import { type Actor, requirePartner, scopeOf, type WriteOptions } from "../domain.ts";
import { BatchRace } from "../ledger/batch.ts";
import { type LedgerTransactionRow, TX_OPTIONS } from "../ledger/ledger.ts";
import { awardPoints } from "./award.ts";
import { type BatchRejection, earnChunk } from "./chunk.ts";
import { batchWithMemberIds } from "./member-ref.ts";
import { type Award, AwardInput, awardHash } from "./rules.ts";

/**
 * Bulk earn (end-of-day files): many awards in one call, plain items committed set-based in chunks
 * (chunk.ts), items with an offer through the single-award path (award.ts).
 */

export const BATCH_MAX_ITEMS = 5_000;
/** Items per database transaction in a bulk earn. */
export const BATCH_CHUNK = 500;
/** Chunk transactions of one awardPointsBatch call in flight at once (HUB_BULK_PARALLEL, default 2). */
const batchParallel = () => readSetting("HUB_BULK_PARALLEL");

export interface BatchResult {
  accepted: number;
  replayed: number;
  rejected: BatchRejection[];
  /** Accepted and replayed EARN transactions, in input order. */
  transactions: LedgerTransactionRow[];
}

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
  // Members named by the partner's reference get their hub id first (one query for the batch).
  const byRef = await batchWithMemberIds(partnerId, inputs);
  byRef.items.forEach((raw, index) => {
    const refError = byRef.errors.get(index);
    if (refError) {
      rejected.push({ index, code: String(refError.extensions.code), message: refError.message });
      return;
    }
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
          if (attempt < 3 && (e instanceof BatchRace || sqlState(e) === "23505" || sqlState(e) === "40P01")) continue;
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
