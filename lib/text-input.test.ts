import { describe, expect, test } from "vitest";
import { MAX_TEXT_LENGTH, textProblem } from "./text-input.ts";

describe("textProblem", () => {
  test("refuses NUL, C0/C1 controls and DEL anywhere in a string", () => {
    for (const bad of ["\u0000", "a\u0000", "\u0001", "\u001b[0m", "\u007f", "\u0085", "\u009f", "a\u000bb"]) expect(textProblem(bad, "displayName"), JSON.stringify(bad)).toMatch(/control character U\+/);
    expect(textProblem("a\u0000b", "displayName")).toContain("U+0000");
  });

  test("tab, line feed and carriage return only in free-text fields", () => {
    for (const ws of ["a\tb", "a\nb", "a\r\nb"]) {
      expect(textProblem(ws, "displayName"), JSON.stringify(ws)).not.toBeNull();
      expect(textProblem(ws, "reason"), JSON.stringify(ws)).toBeNull();
      expect(textProblem(ws, "description"), JSON.stringify(ws)).toBeNull();
    }
    expect(textProblem("a\u0000b", "reason")).not.toBeNull();
  });

  test("refuses lone surrogates, accepts paired ones", () => {
    for (const bad of ["\ud800", "a\udc00", "\udbffx", "\udc00\ud800"]) expect(textProblem(bad, "x"), JSON.stringify(bad)).toMatch(/surrogate/);
    expect(textProblem("🙂\ud83d\ude00", "x")).toBeNull();
  });

  test("a length limit at MAX_TEXT_LENGTH code units", () => {
    expect(textProblem("x".repeat(MAX_TEXT_LENGTH), "x")).toBeNull();
    expect(textProblem("x".repeat(MAX_TEXT_LENGTH + 1), "x")).toMatch(/longer than/);
  });

  test("accepts RTL marks, combining marks, emoji, non-Latin scripts, empty strings", () => {
    for (const ok of ["", "\u200fשלום", "e\u0301", "👩‍👩‍👧", "张伟", "\u202e", "\ufeff"]) expect(textProblem(ok, "displayName"), JSON.stringify(ok)).toBeNull();
  });
});
