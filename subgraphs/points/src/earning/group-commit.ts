import { readSetting } from "../../../../lib/config.ts";
import { sqlState } from "../../../../lib/db.ts";
import { type ErrorCode, HubError } from "../../../../lib/errors.ts";
import { log } from "../../../../lib/logger.ts";
import { prisma } from "../db.ts";
import type { Actor } from "../domain.ts";
import { BatchRace } from "../ledger/batch.ts";
import type { LedgerTransactionRow, Tx } from "../ledger/ledger.ts";
import { TX_OPTIONS } from "../ledger/ledger.ts";

/**
 * Group commit for single earns (after TigerBeetle's batching): concurrent `awardPoints` calls of
 * one partner that arrive while that partner's previous group is being written are committed
 * together, in ONE database transaction through the set-based bulk-earn path.
 *
 * Why: every earn credits the partner's issuance account, one hot row. Written one transaction per
 * earn, every earn of a partner waits for that row lock, held across the client's round trip to
 * COMMIT — measured here, 32 concurrent clients of one partner reached ~30–60 earns/s with p99 in
 * seconds. Grouped, the row is updated once per group, and the throughput grows with the load
 * instead of collapsing. At low load a group is one earn, written at once (no added wait).
 *
 * Correctness is unchanged: the group's transaction does exactly what awardPointsBatch does
 * (per-item idempotency inside the transaction, per-item validation, balanced postings, lots,
 * tiers, events). Items rejected by validation fail alone. If the group's transaction fails for
 * any other reason, each of its items is retried on its own through the single-earn path, so one
 * poisoned item never fails the others. A duplicate idempotency key inside one group gets the same
 * transaction (same body) or IDEMPOTENCY_CONFLICT (different body), as it would sequentially.
 */

/** Most earns in one group (one database transaction). */
export const GROUP_MAX = 500;
/**
 * Groups of one partner written at the same time. More than one lets a group do its reads and
 * inserts while the previous one commits (they meet only at the issuance row, updated last, and at
 * wallets they share, locked in id order).
 */
let maxInflight: number | undefined;
const inflightLimit = () => (maxInflight ??= readSetting("HUB_EARN_GROUPS_INFLIGHT"));

export interface GroupItem<I> {
  input: I;
  key: string;
  hash: string;
}

export interface GroupOutcome {
  done: Map<number, { tx: LedgerTransactionRow; replayed: boolean }>;
  rejected: { index: number; code: string; message: string; field?: string }[];
}

interface Pending<I> extends GroupItem<I> {
  resolve: (t: LedgerTransactionRow) => void;
  reject: (e: unknown) => void;
}

interface Queue<I> {
  actor: Actor;
  partnerId: string;
  items: Pending<I>[];
  /** Groups of this queue being written now. */
  inflight: number;
  /** A flush is scheduled for the next turn of the event loop. */
  scheduled: boolean;
}

let enabled: boolean | undefined;

/** Turns group commit on or off (benchmarks compare both; HUB_EARN_GROUP_COMMIT=0 turns it off). */
export function setEarnGroupCommit(on: boolean): void {
  enabled = on;
}
export const earnGroupCommitEnabled = () => (enabled ??= readSetting("HUB_EARN_GROUP_COMMIT") === "1");

/**
 * Group-commits items of one writer (partner + principal). `writeGroup` writes a list of distinct
 * keys in the given transaction; `single` writes one item on its own (the fallback).
 */
export class GroupCommitter<I> {
  private queues = new Map<string, Queue<I>>();

  private readonly writeGroup: (tx: Tx, actor: Actor, partnerId: string, items: { index: number; input: I; hash: string }[]) => Promise<GroupOutcome>;
  private readonly single: (actor: Actor, item: GroupItem<I>) => Promise<LedgerTransactionRow>;

  constructor(
    writeGroup: (tx: Tx, actor: Actor, partnerId: string, items: { index: number; input: I; hash: string }[]) => Promise<GroupOutcome>,
    single: (actor: Actor, item: GroupItem<I>) => Promise<LedgerTransactionRow>,
  ) {
    this.writeGroup = writeGroup;
    this.single = single;
  }

  submit(actor: Actor, partnerId: string, item: GroupItem<I>): Promise<LedgerTransactionRow> {
    const qk = `${partnerId}\u0000${actor.sub}`;
    let q = this.queues.get(qk);
    if (!q) this.queues.set(qk, (q = { actor, partnerId, items: [], inflight: 0, scheduled: false }));
    const queue = q;
    return new Promise<LedgerTransactionRow>((resolve, reject) => {
      queue.items.push({ ...item, resolve, reject });
      this.schedule(qk, queue);
    });
  }

  private schedule(qk: string, q: Queue<I>): void {
    if (q.scheduled || q.inflight >= inflightLimit() || !q.items.length) return;
    q.scheduled = true;
    // Let the calls that arrive in this same turn of the event loop join the group.
    setImmediate(() => {
      q.scheduled = false;
      if (q.inflight >= inflightLimit() || !q.items.length) return;
      const group = q.items.splice(0, GROUP_MAX);
      q.inflight++;
      void this.flush(q, group)
        .catch((e: unknown) => group.forEach((p) => p.reject(e)))
        .finally(() => {
          q.inflight--;
          if (!q.items.length && !q.inflight && !q.scheduled) this.queues.delete(qk);
          else this.schedule(qk, q);
        });
      this.schedule(qk, q);
    });
  }

  private async flush(q: Queue<I>, group: Pending<I>[]): Promise<void> {
    // One writer per idempotency key in the group; later duplicates follow it.
    const primary = new Map<string, number>();
    const followers: { of: number; p: Pending<I> }[] = [];
    const items: { index: number; input: I; hash: string }[] = [];
    group.forEach((p, index) => {
      const first = primary.get(p.key);
      if (first === undefined) {
        primary.set(p.key, index);
        items.push({ index, input: p.input, hash: p.hash });
      } else followers.push({ of: first, p });
    });
    let outcome: GroupOutcome | null = null;
    for (let attempt = 0; attempt < 4 && !outcome; attempt++) {
      try {
        outcome = await prisma().$transaction((tx) => this.writeGroup(tx, q.actor, q.partnerId, items), TX_OPTIONS);
      } catch (e) {
        // Another writer committed some of these keys meanwhile: the retry reads them as replays.
        if (e instanceof BatchRace || sqlState(e) === "23505" || sqlState(e) === "40P01") continue;
        log.warn("points: earn group failed, retrying its items one by one", { items: items.length, err: e });
        break;
      }
    }
    if (!outcome) {
      await Promise.all(group.map((p) => this.single(q.actor, p).then(p.resolve, p.reject)));
      return;
    }
    const rejected = new Map(outcome.rejected.map((r) => [r.index, r]));
    const settle = (p: Pending<I>, index: number) => {
      const d = outcome!.done.get(index);
      if (d) {
        if (d.tx.requestHash !== p.hash) p.reject(new HubError("IDEMPOTENCY_CONFLICT", "This idempotency key was already used with a different request"));
        else p.resolve(d.tx);
        return;
      }
      const r = rejected.get(index);
      p.reject(r ? new HubError(r.code as ErrorCode, r.message, r.field ? { field: r.field } : {}) : new Error("points: earn group lost an item"));
    };
    for (const it of items) settle(group[it.index]!, it.index);
    for (const f of followers) {
      // A different body under the key of an item that wrote nothing is an independent request.
      if (rejected.has(f.of) && f.p.hash !== group[f.of]!.hash) await this.single(q.actor, f.p).then(f.p.resolve, f.p.reject);
      else settle(f.p, f.of);
    }
  }
}
