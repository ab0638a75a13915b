import { createRequire } from "node:module";
import { describe, expect, test } from "vitest";
import { int32Compat, parseBigInt, serializeBigInt, toSafeNumber } from "./amounts.ts";
import { HubError } from "./errors.ts";
import { createBuilder, type HubContext } from "./pothos.ts";

// The BigInt scalar (64-bit amounts as decimal strings, issue 14 §2) and the checked conversions:
// exact at 2^53 ± 1 and at the signed 64-bit limits, strict about everything else.
// Pothos builds its schema with the CommonJS build of graphql: execute with the same one.
const { graphql } = createRequire(import.meta.url)("graphql") as typeof import("graphql");
const P53 = 2n ** 53n;
const I64_MAX = 2n ** 63n - 1n;
const I64_MIN = -(2n ** 63n);

const codeOf = (f: () => unknown) => {
  try {
    f();
    return "ok";
  } catch (e) {
    return e instanceof HubError ? String(e.extensions.code) : "Error";
  }
};

describe("BigInt scalar: serialize", () => {
  test("exact decimal strings at 2^53 ± 1, 2^63 − 1 and −2^63", () => {
    for (const v of [0n, -1n, P53 - 1n, P53, P53 + 1n, I64_MAX, I64_MIN, 2_147_483_648n]) expect(serializeBigInt(v)).toBe(v.toString());
    expect(serializeBigInt(9007199254740993n)).toBe("9007199254740993"); // 2^53 + 1: a float would give ...992
    expect(serializeBigInt(9223372036854775807n)).toBe("9223372036854775807");
    expect(serializeBigInt(42)).toBe("42");
    expect(serializeBigInt("3000000000")).toBe("3000000000");
  });
  test("refuses what is not an exact 64-bit integer", () => {
    for (const v of [I64_MAX + 1n, I64_MIN - 1n, 2 ** 53, 1.5, Number.NaN, "1e3", "abc", null, undefined, {}, true]) expect(() => serializeBigInt(v)).toThrow();
  });
});

describe("BigInt scalar: parse", () => {
  test("decimal strings at the boundaries parse exactly", () => {
    expect(parseBigInt("9007199254740991")).toBe(P53 - 1n);
    expect(parseBigInt("9007199254740992")).toBe(P53);
    expect(parseBigInt("9007199254740993")).toBe(P53 + 1n);
    expect(parseBigInt("9223372036854775807")).toBe(I64_MAX);
    expect(parseBigInt("-9223372036854775808")).toBe(I64_MIN);
    expect(parseBigInt("0")).toBe(0n);
    expect(parseBigInt("-42")).toBe(-42n);
  });
  test("JSON integers only while JavaScript holds them exactly", () => {
    expect(parseBigInt(Number.MAX_SAFE_INTEGER)).toBe(P53 - 1n);
    expect(parseBigInt(-Number.MAX_SAFE_INTEGER)).toBe(-(P53 - 1n));
    // 2^53 as a JSON number may be 2^53 + 1 rounded by JSON.parse: refused, not guessed.
    expect(codeOf(() => parseBigInt(2 ** 53))).toBe("BAD_USER_INPUT");
    expect(codeOf(() => parseBigInt(JSON.parse("9007199254740993")))).toBe("BAD_USER_INPUT");
  });
  test("garbage and out-of-range values are BAD_USER_INPUT", () => {
    const garbage: unknown[] = [
      "9223372036854775808", // 2^63
      "-9223372036854775809",
      "99999999999999999999",
      "",
      " 1",
      "1 ",
      "+1",
      "01",
      "-0",
      "1.0",
      "1e3",
      "0x10",
      "1_000",
      "١٢٣", // Arabic-Indic digits
      "12\u0000",
      "NaN",
      "Infinity",
      1.5,
      Number.NaN,
      Number.POSITIVE_INFINITY,
      null,
      undefined,
      true,
      {},
      [],
      [1],
    ];
    for (const v of garbage)
      expect(
        codeOf(() => parseBigInt(v)),
        JSON.stringify(v) ?? String(v),
      ).toBe("BAD_USER_INPUT");
  });
});

describe("checked conversions", () => {
  test("toSafeNumber: exact up to 2^53 − 1, an internal Error beyond (never a rounded number)", () => {
    expect(toSafeNumber(P53 - 1n, "x")).toBe(Number.MAX_SAFE_INTEGER);
    expect(toSafeNumber(-(P53 - 1n), "x")).toBe(Number.MIN_SAFE_INTEGER);
    expect(toSafeNumber("3000000000", "x")).toBe(3_000_000_000);
    expect(codeOf(() => toSafeNumber(P53, "x"))).toBe("Error");
    expect(codeOf(() => toSafeNumber(P53 + 1n, "x"))).toBe("Error");
    expect(codeOf(() => toSafeNumber(I64_MAX, "x"))).toBe("Error");
  });
  test("int32Compat: the number within Int, AMOUNT_EXCEEDS_INT naming the replacement beyond", () => {
    expect(int32Compat(2_147_483_647n, "Wallet.balance", "balance64")).toBe(2_147_483_647);
    expect(int32Compat(-2_147_483_648n, "Wallet.balance", "balance64")).toBe(-2_147_483_648);
    for (const v of [2_147_483_648n, -2_147_483_649n, I64_MAX]) {
      try {
        int32Compat(v, "Wallet.balance", "balance64");
        expect.unreachable();
      } catch (e) {
        expect(e).toBeInstanceOf(HubError);
        expect((e as HubError).extensions).toMatchObject({ code: "AMOUNT_EXCEEDS_INT", field: "Wallet.balance", replacement: "balance64" });
      }
    }
  });
});

describe("BigInt in a schema built by createBuilder", () => {
  const builder = createBuilder<HubContext>();
  builder.queryType({
    fields: (t) => ({
      echo: t.field({ type: "BigInt", args: { v: t.arg({ type: "BigInt" }) }, resolve: (_r, { v }) => v + 1n }),
      big: t.field({ type: "BigInt", resolve: () => I64_MAX }),
    }),
  });
  const schema = builder.toSchema();
  const run = (source: string, variableValues?: Record<string, unknown>) => graphql({ schema, source, variableValues, contextValue: {} });

  test("variables and inline literals keep every digit; output is a string", async () => {
    expect((await run(`query($v: BigInt!) { echo(v: $v) }`, { v: "9007199254740992" })).data).toEqual({ echo: "9007199254740993" });
    expect((await run(`{ echo(v: "9223372036854775806") big }`)).data).toEqual({ echo: "9223372036854775807", big: "9223372036854775807" });
    // An inline Int literal beyond 2^53 keeps its digits (parseLiteral reads the text, not a float).
    expect((await run(`{ echo(v: 9007199254740993) }`)).data).toEqual({ echo: "9007199254740994" });
  });
  test("bad values are refused before the resolver runs", async () => {
    for (const v of ["9223372036854775808", "1.5", "abc", 2 ** 53]) {
      const r = await run(`query($v: BigInt!) { echo(v: $v) }`, { v });
      expect(r.data).toBeUndefined();
      expect(r.errors?.[0]?.message).toMatch(/BigInt/);
    }
    const lit = await run(`{ echo(v: 9223372036854775808) }`);
    expect(lit.errors?.[0]?.message).toMatch(/BigInt/);
    expect((await run(`{ echo(v: 1.5) }`)).errors?.[0]?.message).toMatch(/BigInt/);
  });
});
