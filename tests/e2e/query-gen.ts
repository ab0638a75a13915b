// Query generators over the public schema, for the hostile suite and the round-trip walk.
import { transformSupergraphToPublicSchema } from "@theguild/federation-composition";
import {
  buildASTSchema,
  getNamedType,
  type GraphQLField,
  type GraphQLNamedType,
  type GraphQLObjectType,
  type GraphQLSchema,
  isLeafType,
  isNonNullType,
  isObjectType,
  Kind,
  type ObjectTypeDefinitionNode,
  parse,
} from "graphql";

export interface SchemaFacts {
  schema: GraphQLSchema;
  /** Entity types (those with a @key in some subgraph), public ones only. */
  entities: Set<string>;
  /** Subgraphs that resolve `Type.field` (from @join__field, else the type's @join__type graphs). */
  subgraphsOf(type: string, field: string): string[];
}

export function schemaFacts(supergraphSdl: string): SchemaFacts {
  const doc = parse(supergraphSdl);
  const schema = buildASTSchema(transformSupergraphToPublicSchema(doc), { assumeValidSDL: true });
  const entities = new Set<string>();
  const typeGraphs = new Map<string, string[]>();
  const fieldGraphs = new Map<string, string[]>();
  const argOf = (d: { arguments?: readonly { name: { value: string }; value: { kind: string; value?: unknown } }[] }, n: string) => d.arguments?.find((a) => a.name.value === n)?.value;
  for (const def of doc.definitions) {
    if (def.kind !== Kind.OBJECT_TYPE_DEFINITION) continue;
    const t = def as ObjectTypeDefinitionNode;
    const graphs: string[] = [];
    for (const d of t.directives ?? []) {
      if (d.name.value !== "join__type") continue;
      const g = argOf(d, "graph") as { value: string } | undefined;
      if (g) graphs.push(g.value.toLowerCase());
      if (argOf(d, "key")) entities.add(t.name.value);
    }
    typeGraphs.set(t.name.value, graphs);
    for (const f of t.fields ?? []) {
      const fg = (f.directives ?? [])
        .filter((d) => d.name.value === "join__field" && !(argOf(d, "external") as { value?: boolean } | undefined)?.value)
        .map((d) => ((argOf(d, "graph") as { value: string } | undefined)?.value ?? "").toLowerCase())
        .filter(Boolean);
      if (fg.length) fieldGraphs.set(`${t.name.value}.${f.name.value}`, fg);
    }
  }
  for (const e of [...entities]) if (!schema.getType(e)) entities.delete(e);
  return { schema, entities, subgraphsOf: (type, field) => fieldGraphs.get(`${type}.${field}`) ?? typeGraphs.get(type) ?? [] };
}

/** A Relay connection: its node type, else the named type itself. */
function throughConnection(t: GraphQLNamedType): { node: GraphQLNamedType; wrap: (inner: string) => string } {
  if (isObjectType(t)) {
    const edges = t.getFields().edges;
    const edgeType = edges && getNamedType(edges.type);
    const node = edgeType && isObjectType(edgeType) ? edgeType.getFields().node : undefined;
    if (node) return { node: getNamedType(node.type), wrap: (inner) => `{ edges { node ${inner} } }` };
  }
  return { node: t, wrap: (inner) => inner };
}

/** Arguments for a field: required ones from `values` (by type name), list sizes kept small. */
function args(f: GraphQLField<unknown, unknown>, values: Record<string, string>): string | null {
  const out: string[] = [];
  for (const a of f.args) {
    if (a.name === "first") out.push("first: 2");
    else if (isNonNullType(a.type) && a.defaultValue === undefined) {
      const v = values[`${a.name}:${getNamedType(a.type).name}`] ?? values[getNamedType(a.type).name];
      if (v === undefined) return null;
      out.push(`${a.name}: ${v}`);
    }
  }
  return out.length ? `(${out.join(", ")})` : "";
}

/** The smallest selection of a field's value: nothing for a leaf, else `__typename` and `id` if any. */
function leafSelection(t: GraphQLNamedType): string {
  if (isLeafType(t)) return "";
  const { node, wrap } = throughConnection(t);
  const inner = isObjectType(node) && node.getFields().id ? "{ __typename id }" : "{ __typename }";
  return wrap(inner);
}

export interface RoundTrip {
  /** e.g. Member.activity → PointsTransaction.member → Member.wallet */
  path: string;
  /** The entity type the selection starts on. */
  from: string;
  /** Selection set to put under a field returning `from`. */
  selection: string;
  subgraphs: string[];
}

/**
 * Every two-hop entity round trip of the public schema: for each entity type T, field T.a (through
 * a connection's edges/node) to a type U, field U.b to an entity type T', and each field T'.c, the
 * selection `a { b { c } }` on T. Paths answered by one subgraph are kept too: a field's @requires
 * can pull another subgraph in (Member.activity → PointsTransaction.member → Member.wallet is all
 * points, yet needs the member subgraph's sharedScopes in between).
 * `values` supplies required arguments (by "name:Type" or by type name, as GraphQL literals).
 */
export function twoHopRoundTrips(facts: SchemaFacts, values: Record<string, string> = {}): RoundTrip[] {
  const out: RoundTrip[] = [];
  for (const tName of facts.entities) {
    const t = facts.schema.getType(tName) as GraphQLObjectType;
    for (const a of Object.values(t.getFields())) {
      const aArgs = args(a, values);
      if (aArgs === null) continue;
      const { node: u, wrap: wrapA } = throughConnection(getNamedType(a.type));
      if (!isObjectType(u)) continue;
      for (const b of Object.values(u.getFields())) {
        const bArgs = args(b, values);
        if (bArgs === null) continue;
        const { node: t2, wrap: wrapB } = throughConnection(getNamedType(b.type));
        if (!isObjectType(t2) || !facts.entities.has(t2.name)) continue;
        for (const c of Object.values(t2.getFields())) {
          const cArgs = args(c, values);
          if (cArgs === null) continue;
          const graphs = new Set([...facts.subgraphsOf(tName, a.name), ...facts.subgraphsOf(u.name, b.name), ...facts.subgraphsOf(t2.name, c.name)]);
          const selection = `{ ${a.name}${aArgs} ${wrapA(`{ ${b.name}${bArgs} ${wrapB(`{ __typename ${c.name}${cArgs} ${leafSelection(getNamedType(c.type))} }`)} }`)} }`;
          out.push({ path: `${tName}.${a.name} → ${u.name}.${b.name} → ${t2.name}.${c.name}`, from: tName, selection, subgraphs: [...graphs].sort() });
        }
      }
    }
  }
  return out;
}

/**
 * The partner loop of the issue: `levels` nested Partner.apiClients, joined by ApiClient.partner
 * (seven levels = depth 15, inside the depth limit).
 */
export const partnerLoop = (levels: number): string => {
  let inner = "apiClients { clientId }";
  for (let i = 1; i < levels; i++) inner = `apiClients { clientId partner { id ${inner} } }`;
  return `{ partners { id ${inner} } }`;
};
