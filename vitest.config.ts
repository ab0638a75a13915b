import { defineConfig } from "vitest/config";

// Unit tests sit beside the code (*.test.ts); end-to-end tests start real servers (tests/**/*.e2e.ts).
// Both use a fresh database per test file: PGlite in memory, or PostgreSQL when DATABASE_URL is set.
export default defineConfig({
  test: {
    globalSetup: ["tests/support/global-setup.ts"],
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: "forks",
    // @graphql-inspector/core imports graphql's ESM build; inlined, it gets the same graphql instance
    // as the code under test (otherwise: "Cannot use GraphQLScalarType from another module or realm").
    server: { deps: { inline: ["@graphql-inspector/core"] } },
    // Expected failures (masked errors, refused events) log at warn/error; keep test output readable.
    env: { HUB_LOG_LEVEL: process.env.HUB_LOG_LEVEL ?? "silent" },
    projects: [
      {
        extends: true,
        test: { name: "unit", include: ["lib/**/*.test.ts", "gateway/**/*.test.ts", "subgraphs/**/*.test.ts", "scripts/**/*.test.ts", "tests/**/*.test.ts"] },
      },
      { extends: true, test: { name: "e2e", include: ["tests/**/*.e2e.ts"], exclude: ["tests/crash/**", "tests/upgrade/**"] } },
      // kill -9 and PostgreSQL restarts (tests/crash): PostgreSQL only, so this project exists only
      // when DATABASE_URL names one (`.ci/run` sets it). `npm test` on the embedded default runs
      // everything else; run directly without DATABASE_URL, the crash files fail saying why.
      // The last release's code serving while the current migrations apply (tests/upgrade, issue 18 §8):
      // two processes on one database, so PostgreSQL only, like the crash project.
      ...(process.env.DATABASE_URL ? [{ extends: true as const, test: { name: "upgrade", include: ["tests/upgrade/**/*.e2e.ts"], testTimeout: 180_000, hookTimeout: 120_000 } }] : []),
      ...(process.env.DATABASE_URL ? [{ extends: true as const, test: { name: "crash", include: ["tests/crash/**/*.e2e.ts"], testTimeout: 300_000, hookTimeout: 300_000 } }] : []),
    ],
  },
});
