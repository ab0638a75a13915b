// Mutation testing of the hub's rule modules (issue 14 "Tests that can fail"): `npm run mutation`
// (scripts/mutation.ts) runs Stryker once per module below, one module at a time, with
// MUTATION_MODULE set; `npm run mutation -- earn redeem` runs only those. Too slow for CI (minutes
// per module on PGlite); the scores and the verdict on every surviving mutant are in bench/MUTATION.md.
//
// Runner: vitest (this repository's vitest.config.ts, so the same global setup and PGlite template),
// limited to each module's own test files (`testFiles`) with per-test coverage, so a mutant runs
// only the tests that execute it.
//
// No TypeScript checker: @stryker-mutator/typescript-checker drives the TypeScript compiler API
// (createSolutionBuilderWithWatch), and this repository's TypeScript is 7.x, the native compiler,
// whose package exports no compiler API (import("typescript") has only `version`). Adding a second
// TypeScript 5.x only for Stryker was not worth a dependency: type-invalid mutants still run (vitest
// strips types) and are killed or survive on behaviour like any other.

/**
 * The rule modules and what is mutated in each (file:startLine-endLine ranges keep out transport,
 * timing and pure SQL-text helpers whose mutants are killed by any test touching the database).
 * Line ranges are of the files as of this commit; re-check them after editing a module.
 */
export const MODULES = {
  // Earning: request hash, points for a purchase, single/group/bulk write paths, offer bonus, segment.
  // Narrowed twice to the idempotency and points rules: a full run of the old earn.ts (355 mutants) measured
  // ~2 h and even 157 mutants ~1.5 h on the shared machine (about 40 s per mutant: each covering
  // test file clones its PGlite database). The other lines of earning/: see bench/MUTATION.md, "Not run".
  earn: {
    mutate: [
      "subgraphs/points/src/earning/rules.ts:26-27", // awardHash: which fields make two awards "the same request"
      "subgraphs/points/src/earning/rules.ts:62-67", // basePoints: 1-point minimum, per-award maximum, the field named
      "subgraphs/points/src/earning/bulk.ts:52-61", // awardPointsBatch: in-call duplicates (same body / other body)
      "subgraphs/points/src/earning/bulk.ts:104-111", // awardPointsBatch: answers of in-call duplicates
      "subgraphs/points/src/earning/chunk.ts:35-49", // earnChunk: replay vs IDEMPOTENCY_CONFLICT, inactive partner, unlinked member
    ],
    testFiles: ["subgraphs/points/src/earning/earn.idempotency.test.ts", "subgraphs/points/src/earning/earn.rules.test.ts"],
  },
  // The double-entry core: deferred updates, account codes, accounts, request hash, idempotency, post, lots
  // (lots.ts: the lot moves of a posting and the inactivity expiry push, moved out of ledger.ts).
  ledger: {
    mutate: ["subgraphs/points/src/ledger/ledger.ts:103-394", "subgraphs/points/src/ledger/lots.ts:11-103"],
    testFiles: [
      "subgraphs/points/src/ledger/ledger.test.ts",
      "subgraphs/points/src/ledger/ledger.property.test.ts",
      "subgraphs/points/src/redemption/redeem.idempotency.test.ts",
      "subgraphs/points/src/earning/earn.idempotency.test.ts",
      "subgraphs/points/src/ledger/lifecycle.test.ts",
      "subgraphs/points/src/ledger/concurrency.test.ts",
    ],
  },
  // Spending: codes, redemptions, holds (authorize/capture/void/expire), reversals, adjustments; the
  // wallet's held points these reserve and release are written by ledger/holds.ts (moved out of redeem.ts).
  redeem: {
    mutate: ["subgraphs/points/src/redemption/redeem.ts:61-477", "subgraphs/points/src/ledger/holds.ts:11-31"],
    testFiles: [
      "subgraphs/points/src/redemption/redeem.idempotency.test.ts",
      "subgraphs/points/src/ledger/concurrency.test.ts",
      "subgraphs/points/src/ledger/lifecycle.test.ts",
      "subgraphs/points/src/ledger/ledger.property.test.ts",
      "subgraphs/points/src/schema/points.test.ts",
    ],
  },
  // Settlement pricing (pure functions): rate in force per bucket, line amounts, merging buckets into
  // lines, side signs, statement sums and the operator margin. (The SQL aggregation and disputes are
  // covered by settlement/settlement.test.ts / settlement.property.test.ts and not in this run.)
  settlement: {
    mutate: [
      "subgraphs/points/src/settlement/pricing.ts:31-38", // rateInBucket
      "subgraphs/points/src/settlement/pricing.ts:52-140", // lineAmount, priceLines, statementsOf
    ],
    // The pure tests only (no database, seconds per mutant); settlement.test.ts covers the same
    // functions end to end but costs ~40 s per mutant here.
    testFiles: ["subgraphs/points/src/settlement/settlement.pricing.test.ts"],
  },
  // The idempotency check every spending writer shares (ledger/ledger.ts idempotent: replay or
  // IDEMPOTENCY_CONFLICT) and what each writer's request hash covers. Its concurrent-duplicate branch
  // (lines 272-280) is exercised by concurrency.test.ts and left out of this short run.
  idempotency: {
    mutate: [
      "subgraphs/points/src/ledger/ledger.ts:264-271", // idempotent: find, compare hashes, replay
      "subgraphs/points/src/redemption/redeem.ts:196", // redeemHash
      "subgraphs/points/src/redemption/redeem.ts:323", // captureHold's hash
      "subgraphs/points/src/redemption/redeem.ts:395", // reverseTransaction's hash
      "subgraphs/points/src/redemption/redeem.ts:459", // adjustPoints' hash
    ],
    testFiles: ["subgraphs/points/src/redemption/redeem.idempotency.test.ts"],
  },
  // Member consent gating: grant/revoke/expiry rules and what a purpose may see.
  consents: {
    mutate: ["subgraphs/member/src/services/consents.ts"],
    testFiles: ["subgraphs/member/src/services/consents.test.ts", "subgraphs/member/src/schema/member.test.ts"],
  },
  // Partner offers: budget funding, shares, returns.
  offers: {
    mutate: ["subgraphs/partner/src/services/offers.ts"],
    testFiles: ["subgraphs/partner/src/services/offer-catalog.test.ts", "subgraphs/partner/src/services/eligibility.test.ts", "subgraphs/partner/src/services/offer-consent.test.ts"],
  },
};

const name = process.env.MUTATION_MODULE ?? "earn";
const mod = MODULES[name];
if (!mod) throw new Error(`MUTATION_MODULE must be one of ${Object.keys(MODULES).join(", ")} (got ${name})`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  vitest: { configFile: "vitest.config.ts", related: false, pool: "forks" },
  coverageAnalysis: "perTest",
  mutate: mod.mutate,
  testFiles: mod.testFiles,
  // The machine is shared: one test runner, run under `nice -n 10` by scripts/mutation.ts.
  concurrency: 1,
  // String literals are left out: in these modules they are SQL text (any mutation fails the
  // statement), log/error messages (not rules), and error codes (asserted by name in the tests).
  mutator: { excludedMutations: ["StringLiteral"] },
  // Static mutants (module-level constants, zod schemas) would reload every test file per mutant.
  ignoreStatic: true,
  // PGlite and a loaded machine: a test file takes seconds; allow slow runs before calling a timeout.
  timeoutMS: 20_000,
  timeoutFactor: 1.5,
  dryRunTimeoutMinutes: 30,
  reporters: ["clear-text", "progress", "json", "html"],
  jsonReporter: { fileName: `reports/mutation/${name}/mutation.json` },
  htmlReporter: { fileName: `reports/mutation/${name}/index.html` },
  incremental: true,
  incrementalFile: `reports/mutation/${name}/incremental.json`,
  tempDirName: ".stryker-tmp",
  // Stryker rewrites the sandbox's tsconfig with the TypeScript compiler API, which TypeScript 7
  // does not export (it fails with "ts.parseConfigFileTextToJson is not a function"). Our tsconfig
  // has no `extends`/`references` to rewrite, so point Stryker at no tsconfig at all.
  tsconfigFile: "no-tsconfig-for-stryker.json",
  // Vitest strips types without checking them: no // @ts-nocheck needed in the sandbox.
  disableTypeChecks: false,
  ignorePatterns: ["bench", "docs", "reports", "coverage", ".data"],
  thresholds: { high: 90, low: 85, break: null },
  clearTextReporter: { allowColor: false, logTests: false, maxTestsToLog: 0 },
};
