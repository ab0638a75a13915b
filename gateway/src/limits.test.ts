import { parse } from "graphql";
import { describe, expect, test } from "vitest";
import { measure } from "./limits.ts";

describe("measure", () => {
  test("depth counts nested fields through fragments and inline fragments", () => {
    const doc = parse("query { a { b { ...F } } } fragment F on B { c { ... on C { d { e } } } }");
    expect(measure(doc).depth).toBe(5);
  });

  test("aliases and selections are counted across the whole operation", () => {
    const doc = parse("{ x: a { y: b } z: a { b } }");
    expect(measure(doc)).toMatchObject({ aliases: 3, selections: 4 });
  });

  test("a fragment spread twice counts twice (no free amplification), a self-cycle does not loop", () => {
    const doc = parse("{ a { ...F ...F } } fragment F on A { b c }");
    expect(measure(doc).selections).toBe(1 + 2 + 2 * 2);
    const cyclic = parse("{ a { ...F } } fragment F on A { b { ...F } }");
    expect(() => measure(cyclic)).not.toThrow();
  });
});
