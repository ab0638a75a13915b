import { readFileSync } from "node:fs";
import path from "node:path";
import fc from "fast-check";
import { buildSchema, getNamedType, isInterfaceType } from "graphql";
import { toGlobalId } from "graphql-relay";
import { describe, expect, test } from "vitest";
import { NODE_TYPES, type NodeType, nodeIdOf, parseNodeId } from "./global-id.ts";

const TYPES = Object.keys(NODE_TYPES) as NodeType[];

describe("global ids", () => {
  test("round-trip for every Node type and uuid (graphql-relay's encoding)", () => {
    fc.assert(
      fc.property(fc.constantFrom(...TYPES), fc.uuid(), (type, id) => {
        const g = nodeIdOf(type, id);
        expect(g).toBe(toGlobalId(type, id));
        expect(parseNodeId(g)).toEqual({ type, id });
      }),
    );
  });

  test("anything else is not a global id of this hub: null, never a throw", () => {
    const id = "7d1c4a8e-5b1f-4c34-9d1a-0b7c2f3e4a51";
    for (const s of ["", "junk", id, toGlobalId("Wallet", id), toGlobalId("Member", "1"), toGlobalId("Member", id.toUpperCase()), `${toGlobalId("Member", id)}=`, ` ${toGlobalId("Member", id)}`, "x".repeat(10_000)]) {
      expect(parseNodeId(s), s.slice(0, 30)).toBeNull();
    }
    fc.assert(
      fc.property(fc.string(), (s) => {
        const p = parseNodeId(s);
        // Whatever decodes is canonical: encoding it again gives the same string.
        if (p) expect(nodeIdOf(p.type, p.id)).toBe(s);
      }),
    );
  });

  test("each Node type names the subgraph that owns it and the lookup field that decides visibility", () => {
    expect(NODE_TYPES).toEqual({
      Member: { owner: "member", lookup: "member" },
      Partner: { owner: "partner", lookup: "partner" },
      Offer: { owner: "partner", lookup: "offer" },
      PointsTransaction: { owner: "points", lookup: "transaction" },
      SettlementRun: { owner: "points", lookup: "settlementRun" },
    });
  });

  test("in the public schema, each lookup takes id: ID! and returns its type, and each type implements Node", () => {
    const schema = buildSchema(readFileSync(path.resolve(import.meta.dirname, "../schema/public.graphql"), "utf8"));
    const node = schema.getType("Node");
    expect(isInterfaceType(node)).toBe(true);
    const query = schema.getQueryType()!.getFields();
    for (const [type, { lookup }] of Object.entries(NODE_TYPES)) {
      const f = query[lookup]!;
      expect(getNamedType(f.type).name, lookup).toBe(type);
      expect(
        f.args.map((a) => `${a.name}: ${a.type}`),
        lookup,
      ).toEqual(["id: ID!"]);
      expect(schema.getPossibleTypes(node as never).map((t) => t.name)).toContain(type);
    }
    expect(query.node!.args.map((a) => `${a.name}: ${a.type}`)).toEqual(["id: ID!"]);
    expect(query.nodes!.args.map((a) => `${a.name}: ${a.type}`)).toEqual(["ids: [ID!]!"]);
  });
});
