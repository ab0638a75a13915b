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
  // The double-entry core (ledger): post's rules (sum 0, at least two postings, one wallet),
  // lifetime earned and the balance guard, FIFO lot consumption (earliest expiry first, preferred
  // lots first, nothing left uncovered), an expiry posting taking exactly its lots, lot expiry by
  // policy and the expiry run taking at most the unheld balance. Ranges moved with the code to the files of the points rooms (same lines of code; the reports cite 252f75c).
  // Left out (integer/merge checks, the member's own wallet, lot credit/restore, the inactivity
  // push, account codes and creation, lock order, deferred updates, idempotent()): bench/MUTATION.md.
  ledger: {
    mutate: [
      "subgraphs/points/src/ledger/ledger.ts:315-318", // post: sum 0, two postings, one wallet
      "subgraphs/points/src/ledger/ledger.ts:331-331", // post: lifetime earned (EARN/OFFER_BONUS credits)
      "subgraphs/points/src/ledger/ledger.ts:336-336", // post: the guard refused the update
      "subgraphs/points/src/ledger/lots.ts:51-53", // moveLots: an expiry takes exactly its lots
      "subgraphs/points/src/ledger/lots.ts:65-73", // moveLots: FIFO consumption
      "subgraphs/points/src/config.ts:83-83", // lotExpiry by policy
      "subgraphs/points/src/ledger/expiry.ts:36-43", // expirePoints: at most the unheld balance
    ],
    testFiles: ["subgraphs/points/src/ledger/ledger.test.ts", "subgraphs/points/src/ledger/ledger.property.test.ts", "subgraphs/points/src/ledger/lifecycle.test.ts"],
  },
  // Spending (redeem/holds): the member a redemption spends (manual, or the code's), the amounts and
  // accounts of a redemption, holds (a hold is at a partner, insufficient points, expiry time,
  // resolve once and release, capture at most the hold), and the reversal rules (never beyond the
  // remainder, direction of postings and lots). Ranges moved with the code to the files of the points rooms (same lines of code; the reports cite 252f75c). Left out (code
  // creation and verification, who redeems, who resolves a hold, whose transactions and which kinds
  // may be reversed, adjustments, the hold-expiry job's SQL): bench/MUTATION.md.
  redeem: {
    mutate: [
      "subgraphs/points/src/redemption/redeem.ts:189-191", // resolveMember: manual, code's member must match
      "subgraphs/points/src/redemption/redeem.ts:207-214", // redeemPoints: manual needs a wallet; postings
      "subgraphs/points/src/redemption/redeem.ts:269-269", // authorizeRedemption: a hold is at a partner
      "subgraphs/points/src/redemption/redeem.ts:282-284", // hold: insufficient points; expiry
      "subgraphs/points/src/redemption/redeem.ts:311-315", // resolveHold: once; release the reservation
      "subgraphs/points/src/redemption/redeem.ts:328-329", // captureHold: whole or part, at most the hold
      "subgraphs/points/src/redemption/redeem.ts:337-338", // captureHold: postings
      "subgraphs/points/src/redemption/redeem.ts:407-410", // reversal: never beyond the remainder
      "subgraphs/points/src/redemption/redeem.ts:414-417", // reversal: a debit's reversal restores its lots, a credit's consumes
      "subgraphs/points/src/redemption/redeem.ts:428-428", // reversal: postings mirrored
    ],
    testFiles: [
      "subgraphs/points/src/redemption/redeem.rules.test.ts",
      "subgraphs/points/src/redemption/redeem.idempotency.test.ts",
      "subgraphs/points/src/schema/points.test.ts",
      "subgraphs/points/src/ledger/lifecycle.test.ts",
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
  // Offer budgets (points side): funding an offer's budget from its co-issuers in their shares
  // (largest remainder), what a bonus takes from it, the guard that refuses an exhausted budget, the
  // remaining budget read, and returning the unused budget at the end. Line numbers of main at
  // 252f75c, ranges since moved with the code. Left out (partner side: shares sum to 10,000 bps, budget and shares frozen once funded;
  // the offer lifecycle, claims, eligibility, per-member limit): bench/MUTATION.md.
  offers: {
    mutate: [
      "subgraphs/points/src/ledger/shares.ts:9-21", // splitByShares: largest-remainder split
      "subgraphs/points/src/events.ts:92-93", // onOfferActivated: fund once, drop zero parts
      "subgraphs/points/src/events.ts:109-116", // onOfferEnded: return what is left, once
      "subgraphs/points/src/earning/offer-bonus.ts:77-80", // applyOfferBonus: what the budget pays (none below 1 point)
      "subgraphs/points/src/ledger/ledger.ts:336-337", // post: an exhausted budget refuses the bonus
      "subgraphs/points/src/reads.ts:131-135", // budgetsRemaining
    ],
    // One service-level test file (a database, no subgraph server): exact amounts for every rule
    // above. points.test.ts covers the same path through GraphQL at ~3x the cost per mutant.
    testFiles: ["subgraphs/points/src/offer-budget.test.ts"],
  },
  // Consent gating: what a partner may read of a member, in all three subgraphs. The rule lines
  // only (ranges moved with the code after the regrouping; the reports cite 252f75c): a receipt's status and the "active at" filter, the
  // categories a partner shares per member, who is not gated (the member itself, admins), the
  // member subgraph's gated()/sharedScopes, points' gated() (sharedScopes from the planner) and
  // partner's mayRead() for offers. Left out: grant/revoke/import validation (consents.ts 70-221,
  // covered by consent.test.ts/consents.test.ts/authority.test.ts), consentsOf; bench/MUTATION.md.
  consents: {
    mutate: [
      "lib/principal.ts:91-91", // readsUngated: admin, or the member itself
      "subgraphs/member/src/services/consents.ts:32-32", // activeAt: not revoked, no expiry or expiry after now
      "subgraphs/member/src/schema/member.ts:20-22", // gated: CONSENT_REQUIRED unless ungated or in scope
      "subgraphs/member/src/loaders.ts:35-40", // sharedScopes: partner needs id and purpose; all/none otherwise
      "subgraphs/points/src/schema/member.ts:27-28", // points gated: role, self, scope
      "subgraphs/points/src/schema/member.ts:31-34", // points gated: the partner read recorded; an app acting for the member recorded
      "subgraphs/partner/src/schema/member.ts:48-48", // eligibleOffers needs TIER and SEGMENTS
      "subgraphs/partner/src/schema/member.ts:68-68", // claimedOffers needs ACTIVITY
      "subgraphs/partner/src/schema/member.ts:83-87", // mayRead
    ],
    testFiles: [
      "subgraphs/member/src/services/consents.test.ts",
      "subgraphs/member/src/schema/consent.test.ts",
      "subgraphs/member/src/schema/member.test.ts",
      "subgraphs/member/src/schema/authority.test.ts",
      "subgraphs/points/src/schema/points.test.ts",
      "subgraphs/points/src/schema/authority.test.ts",
      "subgraphs/partner/src/schema/offer.test.ts",
      "subgraphs/partner/src/schema/authority.test.ts",
    ],
  },
};

const name = process.env.MUTATION_MODULE ?? "earn";
const mod = MODULES[name];
if (!mod) throw new Error(`MUTATION_MODULE must be one of ${Object.keys(MODULES).join(", ")} (got ${name})`);

/** @type {import('@stryker-mutator/api/core').PartialStrykerOptions} */
export default {
  testRunner: "vitest",
  vitest: { configFile: "vitest.mutation.config.ts", related: false, pool: "forks" },
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
