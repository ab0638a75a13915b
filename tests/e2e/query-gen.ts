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

/** A named hostile query and whom to send it as. */
export interface HostileQuery {
  name: string;
  query: string;
  as: "PARTNER" | "ADMIN" | "MEMBER";
  variables?: Record<string, unknown>;
}

/**
 * Deep, wide, looping, aliased and fragment-bomb queries up to (and past) the gateway's shape
 * limits (depth 15, 30 aliases, 1,000 selections), for the hostile suite.
 */
export function hostileQueries(): HostileQuery[] {
  const out: HostileQuery[] = [];
  const add = (name: string, query: string, as: HostileQuery["as"][] = ["PARTNER", "ADMIN"]) => {
    for (const a of as) out.push({ name: `${name} as ${a}`, query, as: a });
  };
  // The issue's loops, one to eight levels (eight is past the depth limit).
  for (let n = 1; n <= 8; n++) add(`partner loop ${n}`, partnerLoop(n));
  // The issue's member round trips, and the member loop as deep as the depth limit allows.
  add("member wallet round trip", "{ me { activity { edges { node { member { wallet { balance } } } } } } }", ["MEMBER"]);
  add("member activity round trip", "{ me { activity { edges { node { member { activity { edges { node { id } } } } } } } } }", ["MEMBER"]);
  add("member claims round trip", "{ me { claimedOffers { member { claimedOffers { id } } } } }", ["MEMBER"]);
  let memberLoop = "id";
  for (let i = 0; i < 3; i++) memberLoop = `activity(first: 100) { edges { node { id member { ${memberLoop} } } } }`;
  add("member activity loop, 3 × first: 100", `{ me { ${memberLoop} } }`, ["MEMBER"]);
  // Wide: 30 aliases of a list (the alias limit), of cheap and of costly fields.
  const aliased = (n: number, sel: string) => `{ ${Array.from({ length: n }, (_, i) => `a${i}: ${sel}`).join(" ")} }`;
  add("30 aliases of partners", aliased(30, "partners { id name }"));
  add("30 aliases of partners with API clients", aliased(30, "partners { id apiClients { clientId partner { id } } }"));
  add("30 aliases of 100 offers with co-issuers", aliased(30, "offers(first: 100) { edges { node { id coIssuers { partner { id apiClients { clientId } } } } } }"));
  add("31 aliases (past the limit)", aliased(31, "partners { id }"));
  // Fragment bombs: each level spreads the next twice (2^10 selections when expanded).
  let frags = "fragment F10 on Partner { id name }";
  for (let i = 9; i >= 1; i--) frags += ` fragment F${i} on Partner { ...F${i + 1} ...F${i + 1} }`;
  add("fragment bomb 2^10", `{ partners { ...F1 } } ${frags}`);
  let loopFrags = "fragment L6 on Partner { id }";
  for (let i = 5; i >= 1; i--) loopFrags += ` fragment L${i} on Partner { apiClients { clientId partner { ...L${i + 1} } } }`;
  add("fragment loop 5 levels", `{ partners { ...L1 } } ${loopFrags}`);
  // Wide selection near the selection limit (990 selections of __typename and ids).
  add("990 selections", `{ partners { ${Array.from({ length: 989 }, () => "id").join(" ")} } }`);
  // Deep lists of lists through settlement runs and offers.
  add("settlement runs × statements × lines", "{ settlementRuns(first: 100) { edges { node { statements { lines { id } } flows { from { id } to { id } } } } } }");
  add("offers × redeemableAt × apiClients × partner × rateHistory", "{ offers(first: 100) { edges { node { redeemableAt { apiClients { partner { rateHistory { issuePrice } apiClients { clientId } } } } } } } }");
  // Introspection bombs.
  add("introspection nesting", "{ __schema { types { fields { type { fields { type { fields { type { fields { name } } } } } } } } } }");
  add("introspection 30 aliases", aliased(30, "__schema { types { name fields { name args { name } } } }"));
  return out;
}
