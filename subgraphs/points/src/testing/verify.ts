import type { PrismaClient } from "../../../../lib/db.ts";
import { prisma } from "../db.ts";
import { formatReport, type VerifyReport, verifyLedger } from "../ledger/verify.ts";

/**
 * The ledger verifier as a test's last word: `afterEach(() => expectLedgerSound())` in every ledger,
 * settlement, concurrency and crash test. Throws with every violation it names (check, id, detail).
 */
export async function expectLedgerSound(client: PrismaClient = prisma()): Promise<VerifyReport> {
  const report = await verifyLedger(client, { maxViolations: 50 });
  if (!report.ok) throw new Error(formatReport(report));
  return report;
}
