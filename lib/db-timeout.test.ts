import { describe, expect, test } from "vitest";
import { DEFAULT_STATEMENT_TIMEOUT_MS, openDatabase, sqlState, statementTimeoutMs } from "./db.ts";

// statement_timeout on every PostgreSQL session of the pool (issue 14 §1). Runs against the
// PostgreSQL of DATABASE_URL (else the local one): PGlite cannot interrupt a statement.
const url = process.env.DATABASE_URL ?? "postgresql://postgres@127.0.0.1:5432/postgres";

describe("statement_timeout", () => {
  test("a statement running past the pool's statement_timeout is cancelled (57014), on every pooled session", async () => {
    const db = await openDatabase({ url, poolSize: 3, statementTimeoutMs: 300 });
    try {
      const client = db.client();
      const results = await Promise.allSettled([1, 2, 3].map(() => client.$queryRawUnsafe("SELECT pg_sleep(3)")));
      for (const r of results) {
        expect(r.status).toBe("rejected");
        expect(sqlState((r as PromiseRejectedResult).reason)).toBe("57014");
      }
      expect(await client.$queryRawUnsafe<{ statement_timeout: string }[]>("SHOW statement_timeout")).toEqual([{ statement_timeout: "300ms" }]);
    } finally {
      await db.close();
    }
  });

  test("the default, the environment and 0 (none)", () => {
    expect(statementTimeoutMs(undefined, {})).toBe(DEFAULT_STATEMENT_TIMEOUT_MS);
    expect(statementTimeoutMs(undefined, { HUB_STATEMENT_TIMEOUT_MS: "1500" })).toBe(1500);
    expect(statementTimeoutMs(0, { HUB_STATEMENT_TIMEOUT_MS: "1500" })).toBe(0);
    expect(() => statementTimeoutMs(undefined, { HUB_STATEMENT_TIMEOUT_MS: "soon" })).toThrow(/HUB_STATEMENT_TIMEOUT_MS/);
  });
});
