import { readdirSync, readFileSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { describe, expect, test } from "vitest";
import type { z } from "zod";
import { ANY_PRODUCER, CATALOGUE, consumedBy, EVENT_TYPES, type EventType, SCHEMA_NAMES, type SchemaName, specOf, SUBSCRIPTIONS } from "../../lib/events/catalogue.ts";
import { type Consumer, defineConsumer } from "../../lib/events/inbox.ts";
import { eventConsumer as memberConsumer } from "../../subgraphs/member/src/events.ts";
import { eventConsumer as partnerConsumer } from "../../subgraphs/partner/src/events.ts";
import { eventConsumer as pointsConsumer } from "../../subgraphs/points/src/events.ts";

/**
 * The event catalogue (lib/events/catalogue.ts) against the code: every event has a producer that
 * emits it, every consumer handles exactly what the catalogue routes to it, the relay's routing is
 * the catalogue's, and every payload its schema accepts survives the trip through the outbox (JSON)
 * unchanged.
 */

const ROOT = path.resolve(import.meta.dirname, "../..");

/** Source files of a producer: its subgraph's src (tests and test helpers excluded) and the lib modules it emits through. */
function sources(dir: string): string[] {
  return readdirSync(path.join(ROOT, dir), { recursive: true, withFileTypes: true })
    .filter((f) => f.isFile() && f.name.endsWith(".ts") && !/\.(test|e2e)\.ts$/.test(f.name) && !f.parentPath.includes(`${path.sep}testing`))
    .map((f) => path.join(f.parentPath, f.name));
}
const read = (files: string[]) => files.map((f) => readFileSync(f, "utf8")).join("\n");

describe("producers", () => {
  const code = Object.fromEntries(SCHEMA_NAMES.map((s) => [s, read(sources(`subgraphs/${s}/src`))])) as Record<SchemaName, string>;

  test.each(EVENT_TYPES.filter((t) => specOf(t).producer !== ANY_PRODUCER))("%s is emitted by its producer's code", (type) => {
    const producer = specOf(type).producer as SchemaName;
    // Through the typed API (emit / event for emitMany), or named where its producer emits it (AccessEventRecorder).
    const named = new RegExp(`(emit\\(tx, |event\\(|AccessEventRecorder\\([^)]*)"${type.replace(".", "\\.")}"`);
    expect(named.test(code[producer]), `${type}: no emit in subgraphs/${producer}/src`).toBe(true);
    // ...and by no other subgraph (one producer per event).
    for (const other of SCHEMA_NAMES.filter((s) => s !== producer)) expect(named.test(code[other]), `${type} emitted by ${other}`).toBe(false);
  });

  test("audit.recorded (producer: any) is emitted only by lib/audit.ts recordAudit, from the outbox its action names, ", () => {
    const anyTypes = EVENT_TYPES.filter((t) => specOf(t).producer === ANY_PRODUCER);
    expect(anyTypes).toEqual(["audit.recorded"]);
    expect(readFileSync(path.join(ROOT, "lib/audit.ts"), "utf8")).toMatch(/emitFrom\(tx, spec\.producer, "audit\.recorded"/);
    // Nobody else writes it (the subgraphs call recordAudit, which redacts secrets).
    for (const s of SCHEMA_NAMES) expect(code[s]).not.toMatch(/emitFrom\(/);
  });

  test("subgraphs emit only through the typed catalogue API (never the raw outbox write)", () => {
    const raw = [...sources("subgraphs"), ...sources("lib").filter((f) => !f.includes(`${path.sep}events${path.sep}`)), ...sources("scripts")].filter((f) => /\bemitEvents?\(/.test(readFileSync(f, "utf8")));
    expect(raw.map((f) => path.relative(ROOT, f))).toEqual([]);
  });
});

describe("consumers", () => {
  const consumers: Record<SchemaName, Consumer> = { member: memberConsumer, points: pointsConsumer, partner: partnerConsumer };

  test.each(SCHEMA_NAMES)("the %s subgraph handles exactly the events the catalogue routes to it", (schema) => {
    const c = consumers[schema];
    expect(c.schema).toBe(schema);
    expect([...c.one.keys()].sort()).toEqual(consumedBy(schema).sort());
    for (const type of c.batch.keys()) expect(consumedBy(schema)).toContain(type);
  });

  test("the relay routes by the catalogue: SUBSCRIPTIONS lists every event and its consumers", () => {
    expect(Object.keys(SUBSCRIPTIONS).sort()).toEqual([...EVENT_TYPES].sort());
    for (const type of EVENT_TYPES) {
      expect(SUBSCRIPTIONS[type]).toEqual(specOf(type).consumers);
      expect(specOf(type).consumers).not.toContain(specOf(type).producer);
    }
  });

  test("a consumer without a handler for an event routed to it is a start-up error (not a silent acknowledgement)", () => {
    const { "points.activity": _dropped, ...withoutOne } = { ...noopsFor("member") };
    expect(() => defineConsumer("member", withoutOne as never)).toThrow(/member subgraph's handlers do not match the catalogue.*routed here without a handler: points\.activity/);
    // A handler for an event the catalogue does not route here is one too (a subscription nobody declared).
    expect(() => defineConsumer("member", { ...noopsFor("member"), "partner.offer_ended": async () => {} } as never)).toThrow(/handled but not routed here: partner\.offer_ended/);
    expect(() => defineConsumer("member", noopsFor("member") as never)).not.toThrow();
  });
});

function noopsFor(schema: SchemaName): Record<string, () => Promise<void>> {
  return Object.fromEntries(consumedBy(schema).map((t) => [t, async () => {}]));
}

/**
 * A fast-check arbitrary of the values a zod schema accepts, for the constructs the catalogue
 * uses (loose objects, strings with a format, regex or length, integers, booleans, arrays,
 * optional and nullable). Leaves are filtered by the schema itself, so a bound this does not model
 * still holds; an unknown construct fails the test instead of generating nothing.
 */
interface CheckDef {
  check: string;
  format?: string;
  pattern?: RegExp;
  minimum?: number;
  maximum?: number;
}
/** The parts of zod 4's internal definition (`schema._zod.def`) this generator reads. */
interface ZodDef {
  type: string;
  format?: string;
  shape: Record<string, z.ZodType>;
  innerType: z.ZodType;
  element: z.ZodType;
  entries?: Record<string, string>;
  checks?: { _zod: { def: CheckDef } }[];
}
const defOf = (schema: z.ZodType) => (schema as unknown as { _zod: { def: ZodDef } })._zod.def;

function arbitraryOf(schema: z.ZodType): fc.Arbitrary<unknown> {
  const def = defOf(schema);
  const leaf = (a: fc.Arbitrary<unknown>) => a.filter((v) => schema.safeParse(v).success);
  const checks = (def.checks ?? []).map((c) => c._zod.def);
  switch (def.type) {
    case "object": {
      const keys = Object.keys(def.shape);
      const optional = keys.filter((k) => defOf(def.shape[k]!).type === "optional");
      return fc.record(Object.fromEntries(keys.map((k) => [k, arbitraryOf(def.shape[k]!)])), { requiredKeys: keys.filter((k) => !optional.includes(k)) });
    }
    case "optional":
      return arbitraryOf(def.innerType);
    case "nullable":
      return fc.option(arbitraryOf(def.innerType), { nil: null });
    case "array": {
      const min = checks.find((c) => c.check === "min_length")?.minimum ?? 0;
      return fc.array(arbitraryOf(def.element), { minLength: min, maxLength: Math.max(min, 4) });
    }
    case "boolean":
      return fc.boolean();
    case "enum":
      return fc.constantFrom(...Object.values(def.entries ?? {}));
    case "unknown":
      // Any JSON (an audit entry's before/after), normalised as JSON stores it (-0 is 0).
      return fc.jsonValue({ maxDepth: 3 }).map((v) => JSON.parse(JSON.stringify(v)) as unknown);
    case "number":
      return leaf(fc.oneof(fc.integer({ min: -1_000, max: 1_000 }), fc.integer({ min: -100_000_000, max: 100_000_000 })));
    case "string": {
      if (def.format === "guid") return fc.uuid();
      if (def.format === "datetime") return fc.date({ min: new Date("2000-01-01T00:00:00Z"), max: new Date("2100-01-01T00:00:00Z"), noInvalidDate: true }).map((d) => d.toISOString());
      const regex = checks.find((c) => c.format === "regex")?.pattern;
      if (regex) return leaf(fc.stringMatching(regex));
      const min = checks.find((c) => c.check === "min_length")?.minimum ?? 0;
      const max = checks.find((c) => c.check === "max_length")?.maximum ?? 40;
      return leaf(fc.string({ minLength: min, maxLength: max }));
    }
    default:
      throw new Error(`arbitraryOf: no arbitrary for zod type ${def.type}`);
  }
}

describe("payloads", () => {
  test.each(EVENT_TYPES)("%s: every payload its schema accepts survives the outbox (JSON) and parses back unchanged", (type) => {
    const schema = CATALOGUE[type].payload;
    fc.assert(
      fc.property(arbitraryOf(schema), (payload) => {
        expect(schema.safeParse(payload).success).toBe(true);
        const stored = JSON.parse(JSON.stringify(payload));
        expect(schema.parse(stored)).toEqual(payload);
      }),
      { numRuns: 200 },
    );
  });

  test("a payload that does not match is rejected with the fields named (the route logs it, never casts it)", () => {
    const bad = CATALOGUE["points.activity"].payload.safeParse({ memberId: "not-a-uuid", at: "yesterday", kind: "EARN", points: 1.5 });
    expect(bad.success).toBe(false);
    expect(bad.error!.issues.map((i) => i.path.join(".")).sort()).toEqual(["at", "memberId", "points"]);
  });
});
