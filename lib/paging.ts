import DataLoader from "dataloader";
import { Prisma } from "./db.ts";
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

/**
 * Which rows one keyset query reads: those on one `side` of the cursor, nearest first ("older": (time,
 * id) below it, newest first; "newer": above it, oldest first), at most `limit`; `inclusive` counts the
 * cursor's own row (the probe for a page on the other side of a cursor).
 */
export interface KeysetQuery {
  side: "older" | "newer";
  cursor: { at: Date; id: string } | null;
  inclusive: boolean;
  limit: number;
}

/**
 * The one way every connection pages (Relay, both directions): for each key (a member, or one key for
 * a plain list) the page `req` asks for, newest first, with hasNextPage/hasPreviousPage. `fetch` reads
 * the rows of a `KeysetQuery` for many keys at once (one query, so per-member pages stay batched); it
 * is called once for the page and, with a cursor, once more (limit 1) to probe the other side.
 */
export async function keysetPages<K, T>(keys: readonly K[], req: PageRequest, fetch: (keys: readonly K[], q: KeysetQuery) => Promise<ReadonlyMap<K, T[]>>): Promise<Map<K, BiPage<T>>> {
  const forward = req.direction === "forward";
  const c = req.cursor;
  const [rows, probe] = await Promise.all([
    fetch(keys, { side: forward ? "older" : "newer", cursor: c, inclusive: false, limit: req.size + 1 }),
    c ? fetch(keys, { side: forward ? "newer" : "older", cursor: c, inclusive: true, limit: 1 }) : Promise.resolve(new Map<K, T[]>()),
  ]);
  const out = new Map<K, BiPage<T>>();
  for (const k of keys) {
    const got = rows.get(k) ?? [];
    const page = got.slice(0, req.size);
    const more = got.length > req.size;
    const beyondCursor = (probe.get(k)?.length ?? 0) > 0;
    out.set(k, forward ? { rows: page, hasNextPage: more, hasPreviousPage: beyondCursor } : { rows: page.reverse(), hasNextPage: beyondCursor, hasPreviousPage: more });
  }
  return out;
}

/** `keysetPages` for one list: Relay's arguments validated (`pageRequest`), then the page. */
export async function keysetPage<T>(args: PageArgs, isId: (id: string) => boolean, fetch: (q: KeysetQuery) => Promise<T[]>, max = MAX_PAGE_SIZE): Promise<BiPage<T>> {
  const req = pageRequest(args, isId, max);
  return (await keysetPages([0], req, async (_k, q) => new Map([[0, await fetch(q)]]))).get(0)!;
}

/** A Prisma `where` for a keyset query on (`at`, `id`) fields (undefined without a cursor). */
export function keysetWhere(q: KeysetQuery, at: string, id: string): Record<string, unknown> | undefined {
  const c = q.cursor;
  if (!c) return undefined;
  const op = q.side === "older" ? "lt" : "gt";
  return { OR: [{ [at]: { [op]: c.at } }, { [at]: c.at, [id]: { [q.inclusive ? `${op}e` : op]: c.id } }] };
}

/** The Prisma `orderBy` of a keyset query: nearest the cursor first. */
export const keysetOrderBy = (q: KeysetQuery, at: string, id: string) => {
  const dir = q.side === "older" ? ("desc" as const) : ("asc" as const);
  return [{ [at]: dir }, { [id]: dir }];
};

/** SQL for a keyset query on columns `at`, `id` (already quoted, e.g. `t."postedAt"`): the condition (with a leading AND) and the order. */
export function keysetSql(q: KeysetQuery, at: string, id: string, idType: "uuid" | "bigint"): { where: Prisma.Sql; order: Prisma.Sql } {
  const dir = q.side === "older" ? "DESC" : "ASC";
  const order = Prisma.raw(`${at} ${dir}, ${id} ${dir}`);
  const c = q.cursor;
  if (!c) return { where: Prisma.empty, order };
  const op = (q.side === "older" ? "<" : ">") + (q.inclusive ? "=" : "");
  return { where: Prisma.sql`AND (${Prisma.raw(at)}, ${Prisma.raw(id)}) ${Prisma.raw(op)} (${c.at}::timestamptz, ${c.id}::${Prisma.raw(idType)})`, order };
}

/** A per-member page request: the member and the validated page (`pageRequest`). */
export interface PageKey {
  memberId: string;
  page: PageRequest;
}

const shapeOf = (p: PageRequest) => `${p.direction}|${p.size}|${p.cursor ? `${p.cursor.at.toISOString()}|${p.cursor.id}` : ""}`;

/**
 * A DataLoader of per-member pages (a member's activity, its access log): the members of one
 * request that ask for the same page shape share ONE `load(memberIds, page)` (via `keysetPages`),
 * which answers a page per member (`empty()` for a member it has none for).
 */
export function pagedLoader<P>(load: (memberIds: string[], page: PageRequest) => Promise<ReadonlyMap<string, P>>, empty: () => P): DataLoader<PageKey, P, string> {
  return new DataLoader<PageKey, P, string>(
    async (keys) => {
      const groups = new Map<string, { page: PageRequest; memberIds: string[] }>();
      for (const k of keys) {
        const g = groups.get(shapeOf(k.page));
        if (g) g.memberIds.push(k.memberId);
        else groups.set(shapeOf(k.page), { page: k.page, memberIds: [k.memberId] });
      }
      const results = new Map<string, P>();
      for (const [s, g] of groups) {
        const pages = await load(g.memberIds, g.page);
        for (const [memberId, page] of pages) results.set(`${memberId}|${s}`, page);
      }
      return keys.map((k) => results.get(`${k.memberId}|${shapeOf(k.page)}`) ?? empty());
    },
    { cacheKeyFn: (k) => `${k.memberId}|${shapeOf(k.page)}` },
  );
}
