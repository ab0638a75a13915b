import { builder } from "../builder.ts";
import { prisma } from "../db.ts";
import { type CheckSummary, VERIFY_CHECKS, type VerifyCheck, type VerifyReport, verifyLedger, type Violation } from "../ledger/verify.ts";
import { badInput } from "../../../../lib/errors.ts";

const LedgerCheckEnum = builder.enumType("LedgerCheck", {
  description: "An invariant the ledger verifier checks.",
  values: Object.fromEntries(Object.entries(VERIFY_CHECKS).map(([k, description]) => [k, { description }])) as Record<VerifyCheck, { description: string }>,
});

const LedgerViolationRef = builder.objectRef<Violation>("LedgerViolation");
LedgerViolationRef.implement({
  description: "One row that breaks a ledger invariant.",
  fields: (t) => ({
    check: t.field({ type: LedgerCheckEnum, description: "The invariant it breaks.", resolve: (v) => v.check }),
    id: t.exposeString("id", {
      description: "The offending row's id: a transaction, account (numeric), lot (numeric), hold, settlement run or event id; `scope/key` for a duplicate idempotency key.",
    }),
    detail: t.exposeString("detail", { description: "What was found, e.g. the stored balance and the sum of the postings (points)." }),
  }),
});

const LedgerCheckSummaryRef = builder.objectRef<CheckSummary>("LedgerCheckSummary");
LedgerCheckSummaryRef.implement({
  description: "How one invariant fared.",
  fields: (t) => ({
    check: t.field({ type: LedgerCheckEnum, description: "The invariant.", resolve: (c) => c.check }),
    examined: t.float({ description: "Rows examined for it (transactions, accounts, lots, holds, idempotency keys or runs); a count.", resolve: (c) => c.examined }),
    violations: t.float({ description: "Rows found breaking it; a count.", resolve: (c) => c.violations }),
  }),
});

const LedgerVerificationRef = builder.objectRef<VerifyReport>("LedgerVerification");
LedgerVerificationRef.implement({
  description:
    "The ledger verifier's report over one consistent snapshot of the points ledger: balanced transactions, balances equal to postings, wallets equal to their lots and holds, lots, holds, idempotency keys, approved settlement runs. The cross-subgraph event check runs only from the CLI (`npm run cli -- ledger verify`), which sees every subgraph's schema.",
  fields: (t) => ({
    ok: t.exposeBoolean("ok", { description: "True when no invariant is broken." }),
    violationCount: t.float({ description: "Violations found in all (a count; may exceed the violations listed).", resolve: (r) => r.violationCount }),
    violations: t.field({ type: [LedgerViolationRef], description: "The first violations found, at most maxViolations, in check order.", resolve: (r) => r.violations }),
    checks: t.field({ type: [LedgerCheckSummaryRef], description: "Each invariant checked, with rows examined and violations.", resolve: (r) => r.checks }),
    startedAt: t.field({ type: "DateTime", description: "When the verification started (UTC).", resolve: (r) => r.startedAt }),
    finishedAt: t.field({ type: "DateTime", description: "When it finished (UTC).", resolve: (r) => r.finishedAt }),
  }),
});

builder.queryFields((t) => ({
  ledgerVerification: t.field({
    type: LedgerVerificationRef,
    authScopes: { admin: true },
    description:
      "ADMIN only (FORBIDDEN otherwise): runs the ledger verifier now and reports every broken invariant with the offending ids. Reads the whole ledger in pages (bounded memory) in one snapshot: on a large ledger it takes a while.",
    args: {
      maxViolations: t.arg.int({ required: false, description: "Violations to list, 1–1,000 (default 100); the rest are only counted." }),
    },
    resolve: (_r, args) => {
      const max = args.maxViolations ?? 100;
      if (!Number.isInteger(max) || max < 1 || max > 1000) throw badInput("maxViolations must be between 1 and 1,000", "maxViolations");
      return verifyLedger(prisma(), { maxViolations: max, events: false });
    },
  }),
}));
