import { buildASTSchema, type DirectiveNode, type GraphQLNamedType, isEnumType, isInputObjectType, isInterfaceType, isObjectType, isScalarType, isSpecifiedScalarType, parse } from "graphql";
import { beforeAll, describe, expect, test } from "vitest";
import { readFileSync } from "node:fs";
import { CHANGELOG, lastRelease, reviewSchema } from "../../scripts/schema-check.ts";
import { type Composed, compose, printSubgraphs, readCheckedIn, SUBGRAPH_NAMES, type SubgraphName } from "../../scripts/schema-tools.ts";

let printed: Record<SubgraphName, string>;
let composed: Composed;
beforeAll(async () => {
  printed = await printSubgraphs();
  composed = compose(printed); // throws, listing every composition error, when the subgraphs do not compose
});

describe("schema/ is what `npm run generate` writes", () => {
  test.each(SUBGRAPH_NAMES)("schema/subgraphs/%s.graphql is current", (name) => {
    expect(readCheckedIn().subgraphs[name], `schema/subgraphs/${name}.graphql is stale: run npm run generate`).toBe(printed[name]);
  });

  test("the subgraphs compose and schema/supergraph.graphql is current", () => {
    expect(readCheckedIn().supergraph, "schema/supergraph.graphql is stale: run npm run generate").toBe(composed.supergraphSdl);
  });

  test("schema/public.graphql (the published schema partners generate clients from) is current", () => {
    expect(readCheckedIn().public, "schema/public.graphql is stale: run npm run generate").toBe(composed.publicSdl);
  });
});

describe("the public API schema (the supergraph as clients see it)", () => {
  test("hides every field a subgraph marks @inaccessible (planner-only fields such as Member.sharedScopes)", () => {
    const hidden: string[] = [];
    for (const name of SUBGRAPH_NAMES) {
      for (const def of parse(printed[name]).definitions) {
        if (!("fields" in def) || !("name" in def) || !def.name) continue;
        for (const field of def.fields ?? []) if (field.directives?.some((d: DirectiveNode) => d.name.value === "inaccessible")) hidden.push(`${def.name.value}.${field.name.value}`);
      }
    }
    const api = buildASTSchema(parse(composed.publicSdl), { assumeValidSDL: true });
    const leaked = hidden.filter((coord) => {
      const [type, field] = coord.split(".");
      const t = api.getType(type);
      return t && (isObjectType(t) || isInterfaceType(t) || isInputObjectType(t)) && field in t.getFields();
    });
    expect(leaked, "@inaccessible fields visible to clients").toEqual([]);
  });

  test("no federation internals reach clients", () => {
    const names = parse(composed.publicSdl).definitions.flatMap((d) => ("name" in d && d.name ? [d.name.value] : []));
    expect(names.filter((n) => /^(_Service|_Entity|_Any|join__|link__|federation__)/.test(n))).toEqual([]);
  });

  test("every type, field, argument and enum value has a description (units: points, money in the coalition currency, UTC)", () => {
    const api = buildASTSchema(parse(composed.publicSdl), { assumeValidSDL: true });
    const missing: string[] = [];
    const owner = new Map<string, string>(); // type name → subgraphs that declare it, to say who should add the text
    for (const name of SUBGRAPH_NAMES) {
      for (const def of parse(printed[name]).definitions) {
        if ("name" in def && def.name) owner.set(def.name.value, [owner.get(def.name.value), name].filter(Boolean).join("+"));
      }
    }
    for (const type of Object.values(api.getTypeMap()) as GraphQLNamedType[]) {
      if (type.name.startsWith("__") || (isScalarType(type) && isSpecifiedScalarType(type))) continue;
      const where = owner.get(type.name) ? ` [${owner.get(type.name)}]` : "";
      // Query and Mutation are described by their fields.
      if (!type.description && type !== api.getQueryType() && type !== api.getMutationType()) missing.push(`${type.name}${where}`);
      if (isObjectType(type) || isInterfaceType(type) || isInputObjectType(type)) {
        for (const field of Object.values(type.getFields())) {
          if (!field.description) missing.push(`${type.name}.${field.name}${where}`);
          for (const arg of "args" in field ? field.args : []) if (!arg.description) missing.push(`${type.name}.${field.name}(${arg.name})${where}`);
        }
      }
      if (isEnumType(type)) for (const v of type.getValues()) if (!v.description) missing.push(`${type.name}.${v.name}${where}`);
    }
    expect(missing, `${missing.length} public schema elements have no description (add one in the subgraph, then npm run generate):\n${missing.join("\n")}`).toEqual([]);
  });
});

describe("breaking changes against the last release (npm run schema:check)", () => {
  test("every breaking change since the last release is in CHANGELOG.md, and nothing was removed without a deprecation period", async () => {
    const release = lastRelease();
    const review = await reviewSchema(release.sdl, readCheckedIn().public, readFileSync(CHANGELOG, "utf8"));
    expect(review.unrecorded, `breaking changes against release ${release.version} that CHANGELOG.md does not record (npm run schema:check)`).toEqual([]);
  });

  const released = `"""Q"""\ntype Query {\n  """a"""\n  a: Int!\n  """b"""\n  b: String @deprecated(reason: "use a")\n  """c"""\n  c: String\n}\n`;
  const log = (text: string) => `# Changelog\n\n## 2027-01-01\n\n### Breaking changes\n${text}\n\n### Additive\n- \`Query.c\` is fine\n`;

  test("catches an unrecorded breaking change, a removal without deprecation, and a coordinate named only outside 'Breaking changes'", async () => {
    const nullable = released.replace("a: Int!", "a: Int");
    expect((await reviewSchema(released, nullable, log("- nothing"))).unrecorded.map((u) => u.path)).toEqual(["Query.a"]);
    expect((await reviewSchema(released, nullable, log("- `Query.a` may now be null"))).unrecorded).toEqual([]);
    // Named as a prefix of another coordinate does not count.
    expect((await reviewSchema(released, nullable, log("- `Query.ab` changed"))).unrecorded.map((u) => u.path)).toEqual(["Query.a"]);
    const withoutC = released.replace(/ {2}"""c"""\n {2}c: String\n/, "");
    // Query.c was not deprecated in the release: recorded or not, removing it is refused.
    expect((await reviewSchema(released, withoutC, log("- removed `Query.c`"))).unrecorded.map((u) => u.why)).toEqual([expect.stringContaining("deprecation")]);
    // Only under "Breaking changes": the Additive section's mention does not count.
    expect((await reviewSchema(released, withoutC, log("- none"))).unrecorded.map((u) => u.path)).toEqual(["Query.c"]);
    // Query.b was deprecated in the release and the removal is recorded: allowed.
    const withoutB = released.replace(/ {2}"""b"""\n {2}b: String @deprecated\(reason: "use a"\)\n/, "");
    expect((await reviewSchema(released, withoutB, log("- removed `Query.b` (deprecated since 0.1.0)"))).unrecorded).toEqual([]);
  });
});
