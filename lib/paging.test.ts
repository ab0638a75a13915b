import { expect, test } from "vitest";
import { HubError } from "./errors.ts";
import { decodeCursor, encodeCursor, pagedLoader, pageRequest, pageSize, takePage } from "./paging.ts";

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
  const calls: { memberIds: string[]; first: number; after: string | null }[] = [];
  const loader = pagedLoader<{ rows: string[]; hasNextPage: boolean }>(
    async (memberIds, first, after) => {
      calls.push({ memberIds, first, after });
      return new Map(memberIds.filter((m) => m !== "none").map((m) => [m, { rows: [`${m}:${first}:${after ?? "-"}`], hasNextPage: false }]));
    },
    () => ({ rows: [], hasNextPage: false }),
  );
  const pages = await Promise.all([
    loader.load({ memberId: "a", first: 2, after: null }),
    loader.load({ memberId: "b", first: 2, after: null }),
    loader.load({ memberId: "a", first: 5, after: "c1" }),
    loader.load({ memberId: "none", first: 2, after: null }),
  ]);
  expect(pages.map((p) => p.rows)).toEqual([["a:2:-"], ["b:2:-"], ["a:5:c1"], []]);
  expect(calls).toEqual([
    { memberIds: ["a", "b", "none"], first: 2, after: null },
    { memberIds: ["a"], first: 5, after: "c1" },
  ]);
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
