import { expect, test } from "vitest";
import { HubError } from "./errors.ts";
import { type BiPage, decodeCursor, encodeCursor, type KeysetQuery, keysetPage, type PageRequest, pagedLoader, pageRequest, pageSize, takePage } from "./paging.ts";

const UUID = "0b6f7d3e-4a2b-4c1d-9e8f-1a2b3c4d5e6f";
const isUuid = (s: string) => /^[0-9a-f-]{36}$/.test(s);

test("pageSize: default 20, 1–100, anything else BAD_USER_INPUT naming first", () => {
  expect(pageSize(undefined)).toBe(20);
  expect(pageSize(null)).toBe(20);
  expect(pageSize(1)).toBe(1);
  expect(pageSize(100)).toBe(100);
  for (const bad of [0, 101, 2.5, -1]) {
    const e = (() => {
      try {
        pageSize(bad);
      } catch (err) {
        return err;
      }
    })();
    expect(e).toBeInstanceOf(HubError);
    expect((e as HubError).extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "first" });
  }
});

test("takePage keeps `first` rows and says whether the extra one was there", () => {
  expect(takePage([1, 2, 3], 2)).toEqual({ rows: [1, 2], hasNextPage: true });
  expect(takePage([1, 2], 2)).toEqual({ rows: [1, 2], hasNextPage: false });
});

test("a cursor round-trips its time and id; foreign or malformed cursors are null", () => {
  const at = new Date("2026-11-22T09:30:00.123Z");
  expect(decodeCursor(encodeCursor(at, UUID), isUuid)).toEqual({ at, id: UUID });
  expect(decodeCursor(encodeCursor(at.toISOString(), 42n), (id) => /^\d+$/.test(id))).toEqual({ at, id: "42" });
  expect(decodeCursor(encodeCursor(at, "not-a-uuid"), isUuid)).toBeNull();
  expect(decodeCursor("garbage", isUuid)).toBeNull();
  expect(decodeCursor(Buffer.from(`yesterday|${UUID}`).toString("base64url"), isUuid)).toBeNull();
});

test("pagedLoader: members asking for the same page shape share one load; each key gets its member's page", async () => {
  const calls: { memberIds: string[]; shape: string }[] = [];
  const shape = (p: PageRequest) => `${p.direction}:${p.size}:${p.cursor?.id ?? "-"}`;
  const loader = pagedLoader<{ rows: string[]; hasNextPage: boolean }>(
    async (memberIds, page) => {
      calls.push({ memberIds, shape: shape(page) });
      return new Map(memberIds.filter((m) => m !== "none").map((m) => [m, { rows: [`${m}:${shape(page)}`], hasNextPage: false }]));
    },
    () => ({ rows: [], hasNextPage: false }),
  );
  const first2 = pageRequest({ first: 2 }, isUuid);
  const back5 = pageRequest({ last: 5, before: encodeCursor("2026-12-01T00:00:00Z", UUID) }, isUuid);
  const pages = await Promise.all([
    loader.load({ memberId: "a", page: first2 }),
    loader.load({ memberId: "b", page: pageRequest({ first: 2 }, isUuid) }),
    loader.load({ memberId: "a", page: back5 }),
    loader.load({ memberId: "none", page: first2 }),
  ]);
  expect(pages.map((p) => p.rows)).toEqual([["a:forward:2:-"], ["b:forward:2:-"], [`a:backward:5:${UUID}`], []]);
  expect(calls).toEqual([
    { memberIds: ["a", "b", "none"], shape: "forward:2:-" },
    { memberIds: ["a"], shape: `backward:5:${UUID}` },
  ]);
});

/** An in-memory keyset list: rows newest first by (at, id), read as a `KeysetQuery` asks. */
function memoryList(n: number) {
  const rows = Array.from({ length: n }, (_, i) => ({ at: new Date(Date.UTC(2026, 0, 1, 0, 0, Math.floor(i / 2))), id: `0b6f7d3e-4a2b-4c1d-9e8f-${String(i).padStart(12, "0")}` })).reverse();
  const cmp = (r: (typeof rows)[number], c: { at: Date; id: string }) => r.at.getTime() - c.at.getTime() || (r.id < c.id ? -1 : r.id > c.id ? 1 : 0);
  const fetch = async (q: KeysetQuery) => {
    const side = rows.filter((r) => !q.cursor || (q.side === "older" ? cmp(r, q.cursor) < 0 || (q.inclusive && cmp(r, q.cursor) === 0) : cmp(r, q.cursor) > 0 || (q.inclusive && cmp(r, q.cursor) === 0)));
    return (q.side === "older" ? side : side.reverse()).slice(0, q.limit);
  };
  return { rows, fetch, cursor: (r: (typeof rows)[number]) => encodeCursor(r.at, r.id) };
}

test("keysetPage: paging back from the end with last/before gives the forward pages' items in the same order, with hasPreviousPage/hasNextPage right", async () => {
  for (const [n, size] of [
    [0, 3],
    [1, 3],
    [7, 3],
    [9, 3],
    [10, 1],
  ] as const) {
    const list = memoryList(n);
    const forward: string[][] = [];
    let after: string | null = null;
    for (let i = 0; ; i++) {
      const p: BiPage<(typeof list.rows)[number]> = await keysetPage({ first: size, after }, isUuid, list.fetch);
      expect(p.hasPreviousPage).toBe(i > 0 && p.rows.length > 0);
      forward.push(p.rows.map((r) => r.id));
      if (!p.hasNextPage) break;
      after = list.cursor(p.rows.at(-1)!);
    }
    const backward: string[][] = [];
    let before: string | null = null;
    for (let i = 0; ; i++) {
      const p: BiPage<(typeof list.rows)[number]> = await keysetPage({ last: size, before }, isUuid, list.fetch);
      expect(p.hasNextPage).toBe(i > 0 && p.rows.length > 0);
      backward.unshift(p.rows.map((r) => r.id));
      if (!p.hasPreviousPage) break;
      before = list.cursor(p.rows[0]!);
    }
    expect(backward.flat()).toEqual(list.rows.map((r) => r.id));
    expect(forward.flat()).toEqual(list.rows.map((r) => r.id));
  }
});

test("pageRequest: Relay's first/after and last/before; both directions at once, bad sizes and foreign cursors are BAD_USER_INPUT naming the argument", () => {
  const isId = (s: string) => s === UUID;
  const c = encodeCursor("2026-12-01T00:00:00Z", UUID);
  expect(pageRequest({}, isId)).toEqual({ direction: "forward", size: 20, cursor: null });
  expect(pageRequest({ first: 5, after: c }, isId)).toEqual({ direction: "forward", size: 5, cursor: { at: new Date("2026-12-01T00:00:00Z"), id: UUID } });
  expect(pageRequest({ last: 7, before: c }, isId)).toMatchObject({ direction: "backward", size: 7, cursor: { id: UUID } });
  expect(pageRequest({ before: c }, isId)).toMatchObject({ direction: "backward", size: 20 });
  const field = (args: Parameters<typeof pageRequest>[0]) => {
    try {
      pageRequest(args, isId);
      return "accepted";
    } catch (e) {
      expect(e).toBeInstanceOf(HubError);
      return `${(e as HubError).extensions.code}:${(e as HubError).extensions.field}`;
    }
  };
  expect(field({ first: 1, last: 1 })).toBe("BAD_USER_INPUT:last");
  expect(field({ after: c, before: c })).toBe("BAD_USER_INPUT:before");
  expect(field({ first: 1, before: c })).toBe("BAD_USER_INPUT:last");
  expect(field({ first: 100_000 })).toBe("BAD_USER_INPUT:first");
  expect(field({ last: 0 })).toBe("BAD_USER_INPUT:last");
  expect(field({ last: 1.5 })).toBe("BAD_USER_INPUT:last");
  expect(field({ after: "garbage" })).toBe("BAD_USER_INPUT:after");
  expect(field({ before: encodeCursor("2026-12-01T00:00:00Z", "not-an-id") })).toBe("BAD_USER_INPUT:before");
  expect(field({ after: "a".repeat(201) })).toBe("BAD_USER_INPUT:after");
  expect(field({ after: "\u0000" })).toBe("BAD_USER_INPUT:after");
});
