import { buildASTSchema, isEnumType, isInputObjectType, isInterfaceType, isObjectType, parse, type GraphQLNamedType } from "graphql";
import { describe, expect, test } from "vitest";
import { compose, printSubgraphs, readCheckedIn, SUBGRAPH_NAMES } from "../../scripts/schema-tools.ts";

const FEDERATION_INTERNALS = /^(_Service|_Entity|_Any|FieldSet|link__|join__|federation__|Query$|Mutation$)/;

describe("schema/", () => {
  test("each subgraph's checked-in SDL is what the code prints (run `npm run generate`)", async () => {
    const printed = await printSubgraphs();
    const checkedIn = readCheckedIn();
    for (const name of SUBGRAPH_NAMES) expect(checkedIn.subgraphs[name], `schema/subgraphs/${name}.graphql is stale: run npm run generate`).toBe(printed[name]);
  });

  test("the subgraphs compose and the checked-in supergraph is current (run `npm run generate`)", async () => {
    const { supergraphSdl } = compose(await printSubgraphs());
    expect(readCheckedIn().supergraph, "schema/supergraph.graphql is stale: run npm run generate").toBe(supergraphSdl);
  });

  test("every public type, field, argument and enum value is documented", () => {
    // The API schema clients see: the supergraph minus @inaccessible elements and federation internals.
    const sdl = readCheckedIn().supergraph;
    const schema = buildASTSchema(parse(sdl), { assumeValidSDL: true });
    const inaccessible = (node: { astNode?: { directives?: readonly { name: { value: string } }[] } | null }) =>
      node.astNode?.directives?.some((d) => d.name.value === "inaccessible") ?? false;
    const missing: string[] = [];
    for (const type of Object.values(schema.getTypeMap()) as GraphQLNamedType[]) {
      if (type.name.startsWith("__") || FEDERATION_INTERNALS.test(type.name) || inaccessible(type)) continue;
      if (["String", "Int", "Float", "Boolean", "ID"].includes(type.name)) continue;
      if (!type.description) missing.push(type.name);
      if (isObjectType(type) || isInterfaceType(type) || isInputObjectType(type)) {
        for (const field of Object.values(type.getFields())) {
          if (inaccessible(field) || field.name.startsWith("_")) continue;
          if (!field.description) missing.push(`${type.name}.${field.name}`);
          for (const arg of "args" in field ? field.args : []) if (!arg.description) missing.push(`${type.name}.${field.name}(${arg.name})`);
        }
      }
      if (isEnumType(type)) for (const v of type.getValues()) if (!v.description && !inaccessible(v)) missing.push(`${type.name}.${v.name}`);
    }
    for (const root of [schema.getQueryType(), schema.getMutationType()]) {
      for (const field of Object.values(root?.getFields() ?? {})) {
        if (inaccessible(field) || field.name.startsWith("_")) continue;
        if (!field.description) missing.push(`${root!.name}.${field.name}`);
        for (const arg of field.args) if (!arg.description) missing.push(`${root!.name}.${field.name}(${arg.name})`);
      }
    }
    expect(missing, `undocumented schema elements:\n${missing.join("\n")}`).toEqual([]);
  });
});
