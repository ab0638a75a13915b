// `import "./verify-after-each.ts";` in a ledger, settlement or concurrency test file: the
// ledger verifier runs after each of its tests (on the points client the file set up) and fails the
// test with the violations it names.
import { afterEach } from "vitest";
import { expectLedgerSound } from "./verify.ts";

afterEach(async () => {
  await expectLedgerSound();
});
