import { readFileSync } from "node:fs";
import { describe, expect, test } from "vitest";
import type { TokenFailure } from "../../gateway/src/auth/verify.ts";
import { errorReferenceMarkdown, REASONS, TRANSPORT_CODES } from "../../lib/error-reference.ts";
import { ERROR_CODES, PUBLIC_CODES } from "../../lib/errors.ts";
import { ERROR_DOCS } from "../../scripts/error-docs.ts";

describe("docs/errors.md (the error reference partners read)", () => {
  test("is what `npm run generate:errors` writes", () => {
    expect(readFileSync(ERROR_DOCS, "utf8"), "docs/errors.md is stale: run npm run generate:errors").toBe(errorReferenceMarkdown());
  });

  test("documents every code a client can see, and every token failure reason", () => {
    const doc = errorReferenceMarkdown();
    for (const code of [...Object.keys(ERROR_CODES), ...PUBLIC_CODES]) expect(doc, code).toContain(`| \`${code}\` |`);
    // Every public code that is not one of the hub's own is described as a GraphQL-layer code.
    for (const code of PUBLIC_CODES) if (!(code in ERROR_CODES)) expect(Object.keys(TRANSPORT_CODES)).toContain(code);
    const failures: Record<TokenFailure, true> = {
      TOKEN_MISSING: true,
      TOKEN_EXPIRED: true,
      TOKEN_NOT_YET_VALID: true,
      TOKEN_BAD_ISSUER: true,
      TOKEN_BAD_AUDIENCE: true,
      TOKEN_UNKNOWN_KID: true,
      TOKEN_ALG_NOT_ALLOWED: true,
      TOKEN_BAD_SIGNATURE: true,
      TOKEN_MALFORMED: true,
      TOKEN_WRONG_TYPE: true,
      TOKEN_REVOKED: true,
    };
    for (const r of Object.keys(failures)) expect(REASONS[r]?.code, r).toBe("UNAUTHENTICATED");
  });
});
