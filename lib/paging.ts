import DataLoader from "dataloader";
import { badInput } from "./errors.ts";

/**
 * Relay cursor pagination, the same way in every list of every subgraph: newest first, keyset on
 * (a time, an id) so a page never shifts when rows are added, `first` 1–100 (default 20), opaque
 * cursors (base64url of "<ISO time>|<id>"), and one extra row fetched to know whether a next page
 * exists.
 */

export const DEFAULT_PAGE_SIZE = 20;
export const MAX_PAGE_SIZE = 100;

/** One page of rows and whether another follows. */
export interface Page<T> {
  rows: T[];
  hasNextPage: boolean;
}

/** `first` as a page size: BAD_USER_INPUT (field "first") unless a whole number in 1–`max`. */
export function pageSize(first: number | null | undefined, max = MAX_PAGE_SIZE): number {
  const n = first ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(n) || n < 1 || n > max) throw badInput(`first must be between 1 and ${max}`, "first");
  return n;
}

/** The first `first` of up to `first + 1` rows fetched, and whether there were more. */
export const takePage = <T>(rows: T[], first: number): Page<T> => ({ rows: rows.slice(0, first), hasNextPage: rows.length > first });

/** The cursor of a row at (`at`, `id`). */
export const encodeCursor = (at: Date | string, id: string | bigint): string => Buffer.from(`${new Date(at).toISOString()}|${id}`).toString("base64url");

/** The (time, id) a cursor stands for, or null when it is not one of ours (`isId` checks the id's form). */
export function decodeCursor(cursor: string, isId: (id: string) => boolean): { at: Date; id: string } | null {
  const [at, id] = Buffer.from(cursor, "base64url").toString("utf8").split("|");
  const d = new Date(at ?? "");
  return Number.isNaN(d.getTime()) || !id || !isId(id) ? null : { at: d, id };
}

/** A per-member page request: the member, the page size and the cursor to continue after. */
export interface PageKey {
  memberId: string;
  first: number;
  after: string | null;
}

/**
 * A DataLoader of per-member pages (a member's activity, its access log): the members of one
 * request that ask for the same page shape (first, after) share ONE query, `load(memberIds, first,
 * after)`, which answers a page per member (`empty()` for a member it has none for).
 */
export function pagedLoader<P>(load: (memberIds: string[], first: number, after: string | null) => Promise<ReadonlyMap<string, P>>, empty: () => P): DataLoader<PageKey, P, string> {
  const shape = (k: Pick<PageKey, "first" | "after">) => `${k.first}|${k.after ?? ""}`;
  return new DataLoader<PageKey, P, string>(
    async (keys) => {
      const groups = new Map<string, { first: number; after: string | null; memberIds: string[] }>();
      for (const k of keys) {
        const g = groups.get(shape(k));
        if (g) g.memberIds.push(k.memberId);
        else groups.set(shape(k), { first: k.first, after: k.after, memberIds: [k.memberId] });
      }
      const results = new Map<string, P>();
      for (const [s, g] of groups) {
        const pages = await load(g.memberIds, g.first, g.after);
        for (const [memberId, page] of pages) results.set(`${memberId}|${s}`, page);
      }
      return keys.map((k) => results.get(`${k.memberId}|${shape(k)}`) ?? empty());
    },
    { cacheKeyFn: (k) => `${k.memberId}|${shape(k)}` },
  );
}
