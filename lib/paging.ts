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

/**
 * Relay's four paging arguments as one validated request: `first`/`after` pages forward (newest
 * first), `last`/`before` backward (the page just before `before`, still listed newest first).
 * BAD_USER_INPUT when both `first` and `last` are given, a size is outside 1–`max`, or a cursor is not
 * one of ours (naming the argument).
 */
export interface PageRequest {
  direction: "forward" | "backward";
  size: number;
  cursor: { at: Date; id: string } | null;
}

export interface PageArgs {
  first?: number | null;
  after?: string | null;
  last?: number | null;
  before?: string | null;
}

export function pageRequest(args: PageArgs, isId: (id: string) => boolean, max = MAX_PAGE_SIZE): PageRequest {
  if (args.first != null && args.last != null) throw badInput("Pass first (with after) or last (with before), not both", "last");
  if (args.after != null && args.before != null) throw badInput("Pass after or before, not both", "before");
  const cursorOf = (c: string | null | undefined, field: "after" | "before") => {
    if (c == null) return null;
    const d = c.length <= 200 ? decodeCursor(c, isId) : null;
    if (!d) throw badInput(`${field} is not a valid cursor`, field);
    return d;
  };
  if (args.last != null || args.before != null) {
    if (args.first != null || args.after != null) throw badInput("Pass first (with after) or last (with before), not both", "last");
    const n = args.last ?? DEFAULT_PAGE_SIZE;
    if (!Number.isInteger(n) || n < 1 || n > max) throw badInput(`last must be between 1 and ${max}`, "last");
    return { direction: "backward", size: n, cursor: cursorOf(args.before, "before") };
  }
  return { direction: "forward", size: pageSize(args.first, max), cursor: cursorOf(args.after, "after") };
}

/** A page in both directions: its rows (newest first) and whether pages follow and precede it. */
export interface BiPage<T> {
  rows: T[];
  hasNextPage: boolean;
  hasPreviousPage: boolean;
}
