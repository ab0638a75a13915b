import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import type { Database } from "../../../../lib/db.ts";
import { HubError } from "../../../../lib/errors.ts";
import { freshDatabase } from "../../../../tests/support/db.ts";
import { adminPrincipal, partnerPrincipal } from "../../../../tests/support/subgraph.ts";
import { prisma, usePrisma } from "../db.ts";
import { applyEvents, enrolled, registered } from "../testing/harness.ts";
import { earn, rates } from "../testing/ledger-ops.ts";
import { disputeStatementLine, resolveStatementDispute } from "./disputes.ts";
import { approveSettlementRun, createSettlementRun } from "./runs.ts";

// Disputes are idempotent by their line (issue 14 "Tests that can fail", the settlement writers):
// the same dispute or resolution sent again returns the line with nothing written; a different one
// is refused and changes nothing — including the rejected-dispute case (adjustmentPoints 0), which
// settlement.test.ts does not reach.
let db: Database;
beforeAll(async () => {
  db = await freshDatabase();
  usePrisma(db.client());
});
afterAll(() => db?.close());

const admin = adminPrincipal();
const DAY = 86_400_000;
const code = (p: Promise<unknown>) =>
  p.then(
    () => "ok",
    (e: unknown) => (e instanceof HubError ? e.extensions.code : String(e)),
  );

/** Four statement lines of one partner (one earn in each of four rate periods) in an approved run. */
let lines: string[] = [];
let partner: string;
beforeAll(async () => {
  const base = Date.now() - 60 * DAY;
  partner = randomUUID();
  const m = randomUUID();
  await applyEvents(registered(partner), rates(partner, "0.010", "0.008", new Date(base)));
  await applyEvents(rates(partner, "0.011", "0.008", new Date(base + 5 * DAY)), rates(partner, "0.012", "0.008", new Date(base + 10 * DAY)), rates(partner, "0.013", "0.008", new Date(base + 15 * DAY)));
  await applyEvents(enrolled(m, partner));
  for (const day of [1, 6, 11, 16]) await earn(partner, m, 100 * day, new Date(base + day * DAY));
  const run = await createSettlementRun(admin, { periodStart: new Date(base), periodEnd: new Date(base + 20 * DAY) }, { now: new Date(base + 21 * DAY) });
  await approveSettlementRun(admin, run.id, { now: new Date(base + 21 * DAY) });
  lines = (await prisma().settlementLine.findMany({ where: { runId: run.id, partnerId: partner }, orderBy: { rateEffectiveFrom: "asc" } })).map((l) => l.id);
  expect(lines.length).toBe(4);
});

const line = (id: string) => prisma().settlementLine.findUniqueOrThrow({ where: { id } });
const posted = (id: string) => prisma().ledgerTransaction.count({ where: { reference: `dispute:${id}` } });

describe("dispute idempotency", () => {
  test("the same dispute again returns the line unchanged; another reason is refused and changes nothing", async () => {
    const id = lines[0]!;
    const P = partnerPrincipal(partner);
    const first = await disputeStatementLine(P, { lineId: id, reason: "missing order 7" });
    expect(first).toMatchObject({ disputeReason: "missing order 7", disputedBy: P.sub });
    expect(await disputeStatementLine(P, { lineId: id, reason: "missing order 7" })).toEqual(first);
    expect(await code(disputeStatementLine(P, { lineId: id, reason: "something else" }))).toBe("BAD_USER_INPUT");
    expect(await line(id)).toEqual(first);
  });

  test("a rejected dispute (adjustmentPoints 0): the same resolution again returns it; any other is refused; nothing is ever posted", async () => {
    const id = lines[1]!;
    await disputeStatementLine(partnerPrincipal(partner), { lineId: id, reason: "wrong rate" });
    const resolved = await resolveStatementDispute(admin, { lineId: id, adjustmentPoints: 0, note: "rate was right" });
    expect(resolved).toMatchObject({ adjustmentTransactionId: null, resolutionNote: "rate was right", resolvedBy: admin.sub });
    expect(resolved.resolvedAt).toBeInstanceOf(Date);
    expect(await resolveStatementDispute(admin, { lineId: id, adjustmentPoints: 0, note: "rate was right" })).toEqual(resolved);
    expect(await code(resolveStatementDispute(admin, { lineId: id, adjustmentPoints: 5, note: "rate was right" }))).toBe("BAD_USER_INPUT");
    expect(await code(resolveStatementDispute(admin, { lineId: id, adjustmentPoints: 0, note: "another note" }))).toBe("BAD_USER_INPUT");
    expect(await line(id)).toEqual(resolved);
    expect(await posted(id)).toBe(0);
    // Resolved: the partner cannot dispute it again, not even with the same reason.
    expect(await code(disputeStatementLine(partnerPrincipal(partner), { lineId: id, reason: "wrong rate" }))).toBe("BAD_USER_INPUT");
  });

  test("an accepted dispute: re-sent with 0 or another amount is refused; one adjustment, on the line's side, in the partner's favour", async () => {
    const id = lines[2]!;
    await disputeStatementLine(partnerPrincipal(partner), { lineId: id, reason: "double count" });
    const resolved = await resolveStatementDispute(admin, { lineId: id, adjustmentPoints: -30, note: "confirmed" });
    expect(resolved.adjustmentTransactionId).toBeTruthy();
    expect(await code(resolveStatementDispute(admin, { lineId: id, adjustmentPoints: 0, note: "confirmed" }))).toBe("BAD_USER_INPUT");
    expect(await code(resolveStatementDispute(admin, { lineId: id, adjustmentPoints: -31, note: "confirmed" }))).toBe("BAD_USER_INPUT");
    expect(await resolveStatementDispute(admin, { lineId: id, adjustmentPoints: -30, note: "confirmed" })).toEqual(resolved);
    expect(await posted(id)).toBe(1);
    const t = await prisma().ledgerTransaction.findUniqueOrThrow({ where: { id: resolved.adjustmentTransactionId! }, include: { postings: { include: { account: true } } } });
    expect(t).toMatchObject({ kind: "ADJUSTMENT", partnerId: partner, reason: "confirmed", createdBy: admin.sub });
    expect(new Map(t.postings.map((p) => [p.account.code, Number(p.amount)]))).toEqual(
      new Map([
        [`issuance:${partner}`, -30],
        ["adjustments", 30],
      ]),
    );
  });

  test("a line that is not disputed cannot be resolved; an unknown line is NOT_FOUND", async () => {
    const before = await line(lines[3]!);
    expect(await code(resolveStatementDispute(admin, { lineId: lines[3]!, adjustmentPoints: 1, note: "x" }))).toBe("BAD_USER_INPUT");
    expect(await line(lines[3]!)).toEqual(before);
    expect(await posted(lines[3]!)).toBe(0);
    expect(await code(resolveStatementDispute(admin, { lineId: randomUUID(), adjustmentPoints: 1, note: "x" }))).toBe("NOT_FOUND");
  });
});
