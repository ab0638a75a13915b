import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { freshDatabase } from "../tests/support/db.ts";
import { adminPrincipal } from "../tests/support/subgraph.ts";
import { AUDIT_ACTIONS, REDACTED, recordAudit, redactSecrets, withAuditRequest } from "./audit.ts";
import type { Database, PrismaClient } from "./db.ts";
import { CATALOGUE } from "./events/catalogue.ts";
import { applyEvent } from "./events/inbox.ts";
import { eventConsumer as partnerConsumer } from "../subgraphs/partner/src/events.ts";

let db: Database;
let prisma: PrismaClient;
beforeAll(async () => {
  db = await freshDatabase();
  prisma = db.client();
});
afterAll(async () => db?.close());

const person = { ...adminPrincipal("3f1e4c9a-0000-4000-8000-000000000001"), authority: "PERSON" as const, personRole: "ADMIN" as const };

describe("redactSecrets", () => {
  test("secret-looking keys are redacted at any depth; dates, bigints, decimals become strings; undefined is dropped", () => {
    const out = redactSecrets({
      name: "Fresh Mart",
      secretHash: "scrypt$abc",
      clientSecret: "s3cr3t",
      nested: { passwordHash: "x", totpSecret: "JBSWY3DP", list: [{ accessToken: "t", ok: 1 }], kept: null, activationCodeHash: "h" },
      privateJwk: { d: "..." },
      at: new Date("2026-12-02T10:00:00Z"),
      big: 2n ** 63n - 1n,
      gone: undefined,
      emptySecret: null,
    });
    expect(out).toEqual({
      name: "Fresh Mart",
      secretHash: REDACTED,
      clientSecret: REDACTED,
      nested: { passwordHash: REDACTED, totpSecret: REDACTED, list: [{ accessToken: REDACTED, ok: 1 }], kept: null, activationCodeHash: REDACTED },
      privateJwk: REDACTED,
      at: "2026-12-02T10:00:00.000Z",
      big: "9223372036854775807",
      emptySecret: null,
    });
    expect(JSON.stringify(out)).not.toMatch(/s3cr3t|scrypt|JBSWY3DP/);
  });
});

describe("recordAudit", () => {
  test("writes audit.recorded to the outbox of the subgraph its action names, in the caller's transaction, with the request id and secrets redacted", async () => {
    const partnerId = crypto.randomUUID();
    const ids = await withAuditRequest("req-audit-1", () =>
      prisma.$transaction(async (tx) => [
        await recordAudit(tx, person, { action: "api_client.secret_rotated", targetType: "ApiClient", targetId: "c1", before: { secretHash: "old" }, after: { secretHash: "new", name: "pos" }, partnerId }),
        await recordAudit(tx, person, { action: "points.adjusted", targetType: "Member", targetId: "m1", before: null, after: { points: 5 } }),
      ]),
    );
    const partnerRow = await prisma.partnerOutboxEvent.findUniqueOrThrow({ where: { id: ids[0]! } });
    const pointsRow = await prisma.pointsOutboxEvent.findUniqueOrThrow({ where: { id: ids[1]! } });
    expect(partnerRow.type).toBe("audit.recorded");
    expect(pointsRow.type).toBe("audit.recorded");
    const payload = CATALOGUE["audit.recorded"].payload.parse(partnerRow.payload);
    expect(payload).toMatchObject({
      action: "api_client.secret_rotated",
      source: "partner",
      partnerId,
      requestId: "req-audit-1",
      actor: { sub: person.sub, role: "ADMIN", authority: "PERSON", personRole: "ADMIN" },
      before: { secretHash: REDACTED },
      after: { secretHash: REDACTED, name: "pos" },
    });
    expect(JSON.stringify(partnerRow.payload)).not.toMatch(/"(old|new)"/);
    expect(CATALOGUE["audit.recorded"].payload.parse(pointsRow.payload)).toMatchObject({ source: "points", requestId: "req-audit-1", partnerId: null });
  });

  test("a rolled-back action leaves no audit event (atomic with the change)", async () => {
    const before = await prisma.partnerOutboxEvent.count({ where: { type: "audit.recorded" } });
    await expect(
      prisma.$transaction(async (tx) => {
        await recordAudit(tx, person, { action: "partner.deactivated", targetType: "Partner", targetId: "p", before: { active: true }, after: { active: false } });
        throw new Error("the change failed");
      }),
    ).rejects.toThrow("the change failed");
    expect(await prisma.partnerOutboxEvent.count({ where: { type: "audit.recorded" } })).toBe(before);
  });

  test("an action not in the catalogue is refused (no uncatalogued producer)", async () => {
    await expect(prisma.$transaction((tx) => recordAudit(tx, person, { action: "nope.never" as never, targetType: "X", targetId: "1", before: null, after: null }))).rejects.toThrow(/not in AUDIT_ACTIONS/);
  });

  test("every catalogued action has a producer and a description", () => {
    for (const [name, spec] of Object.entries(AUDIT_ACTIONS)) {
      expect(name).toMatch(/^[a-z][a-z_]*(\.[a-z][a-z_]*)+$/);
      expect(["member", "points", "partner"]).toContain(spec.producer);
      expect(spec.description.length).toBeGreaterThan(10);
    }
  });
});

describe("partner.AuditEntry", () => {
  test("the partner subgraph stores each audit.recorded once; the database refuses UPDATE, DELETE and TRUNCATE", async () => {
    const id = await prisma.$transaction((tx) => recordAudit(tx, person, { action: "partner.activated", targetType: "Partner", targetId: "p1", before: { active: false }, after: { active: true } }));
    const row = await prisma.partnerOutboxEvent.findUniqueOrThrow({ where: { id } });
    const event = { id, type: row.type, payload: row.payload, createdAt: row.createdAt.toISOString() };
    await prisma.$transaction((tx) => applyEvent(partnerConsumer, tx, event));
    await prisma.$transaction((tx) => applyEvent(partnerConsumer, tx, event)); // a redelivery adds nothing
    const entries = await prisma.auditEntry.findMany({ where: { id } });
    expect(entries).toHaveLength(1);
    expect(entries[0]).toMatchObject({ action: "partner.activated", source: "partner", actorSub: person.sub, actorRole: "ADMIN", actorPersonRole: "ADMIN", before: { active: false }, after: { active: true } });

    await expect(prisma.$executeRawUnsafe(`UPDATE "partner"."AuditEntry" SET "actorSub" = 'someone-else' WHERE id = $1::uuid`, id)).rejects.toThrow(/append-only: UPDATE refused/);
    await expect(prisma.$executeRawUnsafe(`DELETE FROM "partner"."AuditEntry" WHERE id = $1::uuid`, id)).rejects.toThrow(/append-only: DELETE refused/);
    await expect(prisma.$executeRawUnsafe(`TRUNCATE "partner"."AuditEntry"`)).rejects.toThrow(/append-only: TRUNCATE refused/);
    await expect(prisma.auditEntry.deleteMany({})).rejects.toThrow(/append-only/);
    expect(await prisma.auditEntry.findUniqueOrThrow({ where: { id } })).toMatchObject({ actorSub: person.sub });
  });
});
