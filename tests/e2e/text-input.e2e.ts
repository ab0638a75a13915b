import fc from "fast-check";
import { buildSchema, type GraphQLArgument, type GraphQLInputType, type GraphQLSchema, getNamedType, isEnumType, isInputObjectType, isLeafType, isListType, isNonNullType, isScalarType, type GraphQLField } from "graphql";
import { afterAll, beforeAll, describe, expect, test } from "vitest";
import { textProblem } from "../../lib/text-input.ts";
import { compose, readCheckedIn } from "../../scripts/schema-tools.ts";
import { startTestHub, type TestHub } from "../support/hub.ts";
import { expectNoGraphQLErrors, type GraphQLResult } from "../support/subgraph.ts";

// Issue 14 §5: text inputs are validated at the edge. The four fields of the report first (NUL →
// BAD_USER_INPUT naming the field, nothing written), then a fuzz over every String/ID position of
// every mutation, enumerated from the public schema: never a 5xx, never INTERNAL_SERVER_ERROR.

const schema: GraphQLSchema = buildSchema(compose(readCheckedIn().subgraphs).publicSdl);

let hub: TestHub;
let admin: string;
let partner: { id: string; token: string; clientId: string; secret: string };
let memberId: string;
let member: string; // the member's own token

type Gql = GraphQLResult & { status: number };
const codes = (r: Gql) => (r.errors ?? []).map((e) => e.extensions?.code);

beforeAll(async () => {
  hub = await startTestHub();
  admin = await hub.adminToken();
  const { registerPartner } = expectNoGraphQLErrors(await hub.gql(admin, 'mutation { registerPartner(input: { name: "Delta Drinks", category: "FMCG", issuePrice: "0.015", redemptionRate: "0.010" }) { id } }'));
  const { createApiClient } = expectNoGraphQLErrors(await hub.gql(admin, "mutation($p: ID) { createApiClient(partnerId: $p, role: PARTNER) { clientId clientSecret } }", { p: registerPartner.id }));
  partner = { id: registerPartner.id, clientId: createApiClient.clientId, secret: createApiClient.clientSecret, token: await hub.token(createApiClient.clientId, createApiClient.clientSecret) };
  memberId = expectNoGraphQLErrors(await hub.gql(partner.token, 'mutation { enrollMember(input: { email: "text@example.com", externalRef: "T-1" }) { id } }')).enrollMember.id;
  member = await hub.memberSession("text@example.com", await hub.activateMember(partner.token, memberId, "text@example.com"));
  await hub.flushEvents();
  expectNoGraphQLErrors(await hub.gql(partner.token, 'mutation($m: ID!) { awardPoints(input: { memberId: $m, idempotencyKey: "t-1", points: 1000 }) { id } }', { m: memberId }));
}, 120_000);
afterAll(() => hub?.close());

describe("the reported fields: NUL is BAD_USER_INPUT naming the field, nothing written", () => {
  const count = async (sql: string) => Number(((await hub.db.client().$queryRawUnsafe(sql)) as { n: bigint | number }[])[0]!.n);

  test("enrollMember displayName and externalRef", async () => {
    const before = await count(`SELECT count(*) AS n FROM "member"."Member"`);
    for (const [field, input] of [
      ["input.displayName", { email: "nul-1@example.com", displayName: "A\u0000B", externalRef: "N-1" }],
      ["input.externalRef", { email: "nul-2@example.com", externalRef: "N\u00002" }],
    ] as const) {
      const r = await hub.gql(partner.token, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: input });
      expect(r.status, field).toBeLessThan(500);
      expect(r.errors?.[0]?.extensions, field).toMatchObject({ code: "BAD_USER_INPUT", field });
    }
    expect(await count(`SELECT count(*) AS n FROM "member"."Member"`)).toBe(before);
  });

  test("awardPoints reference", async () => {
    const before = await count(`SELECT count(*) AS n FROM "points"."LedgerTransaction"`);
    const r = await hub.gql(partner.token, "mutation($i: AwardPointsInput!) { awardPoints(input: $i) { id } }", { i: { memberId, idempotencyKey: "nul-ref", points: 5, reference: "ord\u0000er" } });
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.reference" });
    expect(r.data?.awardPoints ?? null).toBeNull();
    expect(await count(`SELECT count(*) AS n FROM "points"."LedgerTransaction"`)).toBe(before);
  });

  test("grantConsent noticeVersion", async () => {
    const before = await count(`SELECT count(*) AS n FROM "member"."Consent"`);
    const r = await hub.gql(member, "mutation($i: GrantConsentInput!) { grantConsent(input: $i) { id } }", {
      i: { partnerId: partner.id, categories: ["TIER"], purpose: "ANALYTICS", noticeVersion: "v1\u0000" },
    });
    expect(r.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.noticeVersion" });
    expect(await count(`SELECT count(*) AS n FROM "member"."Consent"`)).toBe(before);
  });

  test("a query argument too (memberByPartnerRef externalRef), and lists name the index", async () => {
    const q = await hub.gql(partner.token, "query($p: ID!, $r: String!) { memberByPartnerRef(partnerId: $p, externalRef: $r) { id } }", { p: partner.id, r: "T\u00001" });
    expect(q.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "externalRef" });
    const b = await hub.gql(partner.token, "mutation($i: [AwardPointsInput!]!) { awardPointsBatch(inputs: $i) { accepted } }", {
      i: [
        { memberId, idempotencyKey: "b-ok", points: 1 },
        { memberId, idempotencyKey: "b-bad", points: 1, reference: "\ud800" },
      ],
    });
    expect(b.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "inputs[1].reference" });
  });

  test("what stays allowed: RTL marks, combining marks, emoji; tab and newlines only in free text", async () => {
    const ok = await hub.gql(partner.token, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", {
      i: { email: "rtl@example.com", displayName: "\u200fשלום e\u0301 🙂", externalRef: "RTL-1" },
    });
    expect(ok.errors).toBeUndefined();
    const tabInName = await hub.gql(partner.token, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email: "tab@example.com", displayName: "a\tb", externalRef: "TAB-1" } });
    expect(tabInName.errors?.[0]?.extensions).toMatchObject({ code: "BAD_USER_INPUT", field: "input.displayName" });
    const earn = expectNoGraphQLErrors(await hub.gql(partner.token, 'mutation($m: ID!) { awardPoints(input: { memberId: $m, idempotencyKey: "nl", points: 3 }) { id } }', { m: memberId }));
    const reversal = await hub.gql(partner.token, 'mutation($t: ID!) { reverseTransaction(transactionId: $t, idempotencyKey: "nl-r", reason: "line one\\nline two") { id } }', { t: earn.awardPoints.id });
    expect(reversal.errors).toBeUndefined();
  });
});

// ---------------------------------------------------------------------------------------------
// The fuzz
// ---------------------------------------------------------------------------------------------

/** A string position in a mutation's arguments: how to put a value there. */
interface Slot {
  mutation: string;
  path: string;
  /** The field's own name (free-text rules key on it). */
  name: string;
  set: (args: Record<string, unknown>, value: string) => void;
}

const isText = (t: GraphQLInputType) => {
  const n = getNamedType(t);
  return isScalarType(n) && (n.name === "String" || n.name === "ID");
};

/** A plausible value for a type, so that a slot's mutation gets past coercion. */
function sample(type: GraphQLInputType, name: string, depth = 0): unknown {
  if (isNonNullType(type)) return sample(type.ofType, name, depth);
  if (isListType(type)) return [sample(type.ofType, name, depth)];
  const n = getNamedType(type);
  if (isEnumType(n)) return n.getValues()[0]!.value;
  if (isInputObjectType(n)) {
    const out: Record<string, unknown> = {};
    for (const f of Object.values(n.getFields())) if (isNonNullType(f.type) || depth === 0) out[f.name] = sample(f.type, f.name, depth + 1);
    return out;
  }
  switch (n.name) {
    case "Int":
      return 10;
    case "Boolean":
      return true;
    case "DateTime":
      return new Date(Date.now() + 86_400_000).toISOString();
    case "Decimal":
      return "1.00";
    case "ID":
      return /member/i.test(name) ? memberId : /partner/i.test(name) ? partner.id : "00000000-0000-4000-8000-000000000000";
    default:
      return `fuzz-${name}`;
  }
}

/** Every String/ID position of a mutation's arguments, nested input objects and lists included. */
function slotsOf(field: GraphQLField<unknown, unknown>): Slot[] {
  const out: Slot[] = [];
  const walk = (type: GraphQLInputType, path: string, name: string, get: (args: Record<string, unknown>) => Record<string, unknown>, key: string | number, seen: Set<string>) => {
    const inner = isNonNullType(type) ? type.ofType : type;
    if (isListType(inner)) {
      walk(
        inner.ofType,
        `${path}[0]`,
        name,
        (a) => {
          const parent = get(a);
          if (!Array.isArray(parent[key])) parent[key] = [sample(inner.ofType, name)];
          return parent[key] as Record<string, unknown>;
        },
        0,
        seen,
      );
      return;
    }
    if (isText(inner)) {
      out.push({ mutation: field.name, path, name, set: (a, v) => void (get(a)[key] = v) });
      return;
    }
    const n = getNamedType(inner);
    if (isInputObjectType(n) && !seen.has(n.name)) {
      const next = new Set(seen).add(n.name);
      for (const f of Object.values(n.getFields())) {
        walk(
          f.type,
          `${path}.${f.name}`,
          f.name,
          (a) => {
            const parent = get(a);
            if (typeof parent[key] !== "object" || parent[key] === null) parent[key] = sample(n, name);
            return parent[key] as Record<string, unknown>;
          },
          f.name,
          next,
        );
      }
    }
  };
  for (const a of field.args) walk(a.type, a.name, a.name, (args) => args, a.name, new Set());
  return out;
}

function baseArgs(field: GraphQLField<unknown, unknown>): Record<string, unknown> {
  return Object.fromEntries(field.args.filter((a: GraphQLArgument) => isNonNullType(a.type)).map((a) => [a.name, sample(a.type, a.name)]));
}

function operationFor(field: GraphQLField<unknown, unknown>): string {
  const vars = field.args.map((a) => `$${a.name}: ${a.type.toString()}`).join(", ");
  const args = field.args.map((a) => `${a.name}: $${a.name}`).join(", ");
  const selection = isLeafType(getNamedType(field.type)) ? "" : "{ __typename }";
  return `mutation Fuzz${vars ? `(${vars})` : ""} { ${field.name}${args ? `(${args})` : ""} ${selection} }`;
}

const mutations = Object.values(schema.getMutationType()!.getFields());
const slots = mutations.flatMap(slotsOf);

/** Hostile and merely unusual text: NUL, controls, lone surrogates, 1 MB, RTL, emoji, combining marks. */
const text = fc.oneof(
  fc.constantFrom(
    "\u0000",
    "a\u0000b",
    "\ud800",
    "x\udc00",
    "\udbff\udfff",
    "\u202eevil",
    "\u200f\u05e9\u05dc\u05d5\u05dd",
    "🙂👩‍👩‍👧",
    "e\u0301\u0308",
    "\t",
    "line\nbreak",
    "\r\n",
    "\u0085",
    "\u009b31m",
    "\u001b[31m",
    "\u007f",
    "\ufeff",
    "",
    " ",
    "'; DROP TABLE x; --",
    "x".repeat(10_000),
    "x".repeat(10_001),
  ),
  fc.string({ unit: fc.integer({ min: 0, max: 0xffff }).map((c) => String.fromCharCode(c)), maxLength: 40 }),
  fc.string({ unit: "binary", maxLength: 40 }),
  fc.string({ unit: fc.integer({ min: 0, max: 0x20 }).map((c) => String.fromCharCode(c)), minLength: 1, maxLength: 5 }),
);

describe("fuzz: every string of every mutation, through the gateway", () => {
  test("the schema offers string positions to fuzz", () => {
    expect(slots.length).toBeGreaterThan(20);
    for (const required of ["enrollMember", "grantConsent", "awardPoints", "reverseTransaction", "createOffer"]) {
      expect(
        slots.some((s) => s.mutation === required),
        required,
      ).toBe(true);
    }
  });

  test("a 1 MB string anywhere is BAD_USER_INPUT naming the field; a body over the gateway's 1 MiB is 413 before any subgraph", async () => {
    const huge = "x".repeat(1_000_000); // 1 MB: under the gateway's body cap with the rest of the request
    for (const slot of slots) {
      const field = schema.getMutationType()!.getFields()[slot.mutation]!;
      const args = baseArgs(field);
      slot.set(args, huge);
      const r = await hub.gql(partner.token, operationFor(field), args);
      const where = `${slot.mutation} ${slot.path}`;
      expect(r.status, where).toBeLessThan(500);
      expect(codes(r), where).not.toContain("INTERNAL_SERVER_ERROR");
      expect(r.errors?.find((e) => e.extensions?.field === slot.path)?.extensions?.code, where).toBe("BAD_USER_INPUT");
    }
    const over = await hub.gql(partner.token, "mutation($i: EnrollMemberInput!) { enrollMember(input: $i) { id } }", { i: { email: "x".repeat(1 << 20) } });
    expect(over.status).toBe(413);
  });

  test("random text: zero 5xx, zero INTERNAL_SERVER_ERROR; refused text is BAD_USER_INPUT naming the field", async () => {
    const callers = [() => partner.token, () => admin, () => member];
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...slots), text, fc.constantFrom(0, 1, 2), async (slot, value, who) => {
        const field = schema.getMutationType()!.getFields()[slot.mutation]!;
        const args = baseArgs(field);
        slot.set(args, value);
        const r = await hub.gql(callers[who]!(), operationFor(field), args);
        const where = `${slot.mutation} ${slot.path} = ${JSON.stringify(value.slice(0, 40))}`;
        expect(r.status, where).toBeLessThan(500);
        expect(codes(r), where).not.toContain("INTERNAL_SERVER_ERROR");
        if (textProblem(value, slot.name)) {
          expect(r.errors?.find((e) => e.extensions?.field === slot.path)?.extensions?.code, where).toBe("BAD_USER_INPUT");
        }
      }),
      { numRuns: Number(process.env.FUZZ_RUNS ?? 400) },
    );
  });
});
