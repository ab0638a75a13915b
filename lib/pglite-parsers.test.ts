import { PGlite, type QueryOptions } from "@electric-sql/pglite";
import { PrismaPGlite } from "pglite-prisma-adapter";
import { afterAll, expect, test } from "vitest";
import { PrismaClient } from "./db.ts";
import { withAdapterParsers } from "./pglite-parsers.ts";

// The column types the adapter parses itself (its customParsers) and Prisma reads raw (not time[]: Prisma cannot), scalars and arrays, with NULLs.
const SETUP = `
  CREATE TABLE t (id int PRIMARY KEY, n numeric, na numeric[], tm time, tz timetz, d date, da date[], ts timestamp, tsa timestamp[],
    tt timestamptz, tta timestamptz[], m money, ma money[], j json, ja json[], jb jsonb, jba jsonb[], b bytea, ba bytea[],
    i8 int8, i8a int8[], txt text, u uuid, f float8, bo bool);
  INSERT INTO t VALUES
    (1, 12345678901234567890.123456789, '{1.5,NULL,-2}', '13:45:06.789', '10:00:00+08', '2026-12-04', '{2026-01-01,NULL}', '2026-12-04 05:06:07.891',
     '{2026-12-04 00:00:00}', '2026-12-04 05:06:07.891+08', '{2026-12-04 00:00:00+00}', 12.34, '{1.00,2.50}', '{"a":[1,2]}', ARRAY['{"b":1}'::json], '{"c":{"d":null}}',
     ARRAY['{"e":2}'::jsonb], '\\x00ff10', ARRAY['\\x01'::bytea], 9223372036854775807,
     '{-9223372036854775808,0}', E'nul\\\\u0000? no: text', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', 1.5e300, true),
    (2, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL, NULL);`;

const opened: { close(): Promise<void> }[] = [];
afterAll(async () => {
  for (const c of opened.reverse()) await c.close();
});

async function client(lean: boolean) {
  const pglite = await PGlite.create();
  await pglite.exec(SETUP);
  const seen: (QueryOptions | undefined)[] = [];
  const query = pglite.query.bind(pglite);
  pglite.query = ((sql: string, params?: unknown[], options?: QueryOptions) => {
    seen.push(options);
    return query(sql, params, options);
  }) as typeof pglite.query;
  const prisma = new PrismaClient({ adapter: new PrismaPGlite(lean ? withAdapterParsers(pglite) : pglite) });
  opened.push({
    close: async () => {
      await prisma.$disconnect();
      await pglite.close();
    },
  });
  return { prisma, seen };
}

test("through the lean PGlite every column type reads exactly as through the adapter's own per-statement parsers, in and out of transactions", async () => {
  const plain = await client(false);
  const lean = await client(true);
  const read = (p: PrismaClient) => p.$queryRawUnsafe("SELECT * FROM t ORDER BY id");
  const inTx = (p: PrismaClient) => p.$transaction(async (tx) => [await tx.$queryRawUnsafe("SELECT * FROM t WHERE id = $1", 1), await tx.$queryRawUnsafe("SELECT i8, n FROM t ORDER BY id")]);
  const expected = await read(plain.prisma);
  expect((expected as unknown[]).length).toBe(2);
  expect(await read(lean.prisma)).toEqual(expected);
  expect(await inTx(lean.prisma)).toEqual(await inTx(plain.prisma));
  expect(await read(lean.prisma)).toEqual(expected); // and again, once the parsers are the instance's

  // The point of it: the plain statements carry the adapter's parsers, the lean ones none.
  expect(plain.seen.every((o) => o?.parsers)).toBe(true);
  expect(lean.seen.length).toBeGreaterThan(0);
  expect(lean.seen.filter((o) => o?.parsers)).toEqual([]);
});

test("options with other parsers than the adopted ones pass through untouched", async () => {
  const pglite = await PGlite.create();
  opened.push(pglite);
  const lean = withAdapterParsers(pglite);
  const asText = { 23: (v: string) => `int:${v}` };
  await lean.query("SELECT 1::int AS a", [], { parsers: { 25: (v: string) => v } }); // adopted (text parser: no visible change)
  expect((await lean.query<{ a: unknown }>("SELECT 7::int AS a", [], { parsers: asText })).rows[0]!.a).toBe("int:7");
  expect((await lean.query<{ a: unknown }>("SELECT 7::int AS a")).rows[0]!.a).toBe(7);
});
