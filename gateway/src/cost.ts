import {
  type DocumentNode,
  type FieldNode,
  type FragmentDefinitionNode,
  getNamedType,
  getNullableType,
  type GraphQLCompositeType,
  type GraphQLField,
  type GraphQLSchema,
  isCompositeType,
  isListType,
  isObjectType,
  isInterfaceType,
  Kind,
  type OperationDefinitionNode,
  type SelectionSetNode,
  type ValueNode,
} from "graphql";
import { MAX_NODE_IDS } from "../../lib/global-id.ts";

/**
 * Demand control: the estimated cost of an operation, computed over the API schema BEFORE it is
 * planned or executed. Every field returning an object costs 1 (scalars and enums 0), times the
 * number of objects its parents may return: a list multiplies what is under it by its size. A
 * mutation adds 10. The sizes:
 * - a field with a `first` argument: its value (variables resolved), 1–100, else the subgraphs'
 *   default page of 20; a connection's `edges` then count 1 (the page is already counted);
 * - other lists: LIST_SIZES below (upper bounds we expect in a coalition), else DEFAULT_LIST_SIZE;
 * - introspection lists: the schema's own counts (it is there, no guessing).
 * Why our own and not the Hive runtime's `demandControl`: that plugin costs each subgraph request
 * as the plan executes (onSubgraphExecute), so a refused query has already run its first fetches,
 * and an entity fetch's list of representations is unknown until then; it has one maximum for
 * everybody (no role), answers COST_ESTIMATED_TOO_EXPENSIVE, and needs @cost/@listSize in every
 * subgraph's SDL. Here the whole operation is costed once, from the client's document, per role.
 */
export const PAGE_DEFAULT = 20;
export const PAGE_MAX = 100;
export const DEFAULT_LIST_SIZE = 20;
export const MUTATION_COST = 10;

/** Assumed sizes of lists without a `first` argument (upper bounds, not averages). */
export const LIST_SIZES: Record<string, number> = {
  "Query.partners": 100,
  "Partner.apiClients": 10,
  "Partner.rateHistory": 20,
  "Offer.coIssuers": 5,
  "Offer.redeemableAt": 20,
  "Member.linkedAccounts": 10,
  "Member.linkRequests": 10,
  "Member.consents": 50,
  "Member.eligibleOffers": 50,
  "Member.claimedOffers": 50,
  "SettlementRun.statements": 100,
  "SettlementRun.flows": 1_000,
  "PartnerStatement.lines": 100,
  "Wallet.expiring": 20,
  // Bounded by the call's own input (awardPointsBatch takes at most 5,000 items).
  "AwardPointsBatchResult.transactions": 5_000,
  "AwardPointsBatchResult.rejected": 5_000,
};

/** Lists as long as one of their arguments (`nodes(ids:)`): its length, else the field's maximum. */
export const LIST_ARGS: Record<string, { arg: string; max: number }> = {
  "Query.nodes": { arg: "ids", max: MAX_NODE_IDS },
};

function listArgLength(node: FieldNode, name: string, variables: Record<string, unknown> | undefined): number | undefined {
  const arg = node.arguments?.find((a) => a.name.value === name);
  if (!arg) return undefined;
  const v: ValueNode = arg.value;
  if (v.kind === Kind.LIST) return v.values.length;
  if (v.kind === Kind.VARIABLE) {
    const raw = variables?.[v.name.value];
    return Array.isArray(raw) ? raw.length : raw === undefined || raw === null ? undefined : 1;
  }
  return 1; // a single value coerced to a one-item list
}

export interface CostOptions {
  listSizes?: Record<string, number>;
}

function intArg(node: FieldNode, name: string, variables: Record<string, unknown> | undefined): number | undefined | null {
  const arg = node.arguments?.find((a) => a.name.value === name);
  if (!arg) return undefined;
  const v: ValueNode = arg.value;
  const raw = v.kind === Kind.VARIABLE ? variables?.[v.name.value] : v.kind === Kind.INT ? Number(v.value) : v.kind === Kind.NULL ? null : NaN;
  if (raw === undefined || raw === null) return raw as undefined | null;
  return typeof raw === "number" && Number.isInteger(raw) ? raw : NaN;
}

export interface Cost {
  /** Everything but introspection. */
  data: number;
  /** The __schema / __type parts (capped on their own: the schema is public to those who may ask). */
  introspection: number;
}

/** The estimated cost of the operation; stops counting once one part passes `stopAbove`. */
export function estimateCost(schema: GraphQLSchema, doc: DocumentNode, operationName: string | null | undefined, variables: Record<string, unknown> | undefined, opts: CostOptions & { stopAbove?: number } = {}): Cost {
  const sizes = { ...LIST_SIZES, ...opts.listSizes };
  const stopAbove = opts.stopAbove ?? Number.MAX_SAFE_INTEGER;
  const fragments = new Map<string, FragmentDefinitionNode>();
  const ops = doc.definitions.filter((d): d is OperationDefinitionNode => d.kind === Kind.OPERATION_DEFINITION);
  for (const d of doc.definitions) if (d.kind === Kind.FRAGMENT_DEFINITION) fragments.set(d.name.value, d);
  const op = operationName ? ops.find((o) => o.name?.value === operationName) : ops.length === 1 ? ops[0] : undefined;
  if (!op) return { data: 0, introspection: 0 }; // the executor refuses it (no such operation)
  const root = op.operation === "query" ? schema.getQueryType() : op.operation === "mutation" ? schema.getMutationType() : schema.getSubscriptionType();
  if (!root) return { data: 0, introspection: 0 };
  // Introspection lists: the schema's real sizes.
  const typeMap = Object.values(schema.getTypeMap());
  // Averages, not maxima: an introspection answer is the schema itself, whose totals are known.
  const withFields = typeMap.filter((t) => isObjectType(t) || isInterfaceType(t)) as { getFields(): object }[];
  const avgFields = Math.max(1, Math.ceil(withFields.reduce((n, t) => n + Object.keys(t.getFields()).length, 0) / Math.max(1, withFields.length)));
  const introspection: Record<string, number> = {
    "__Schema.types": typeMap.length,
    "__Schema.directives": schema.getDirectives().length,
    "__Type.fields": avgFields,
    "__Type.inputFields": avgFields,
    "__Type.enumValues": avgFields,
    "__Type.interfaces": 5,
    "__Type.possibleTypes": 20,
    "__Field.args": 2,
    "__Directive.args": 3,
    "__Directive.locations": 0,
  };
  const total = { data: op.operation === "mutation" ? MUTATION_COST : 0, introspection: 0 };

  const visit = (set: SelectionSetNode, parent: GraphQLCompositeType, factor: number, inConnection: boolean, stack: string[]) => {
    for (const sel of set.selections) {
      if (total.data > stopAbove || total.introspection > stopAbove) return;
      if (sel.kind === Kind.INLINE_FRAGMENT) {
        const t = sel.typeCondition ? schema.getType(sel.typeCondition.name.value) : parent;
        if (t && isCompositeType(t)) visit(sel.selectionSet, t, factor, inConnection, stack);
        continue;
      }
      if (sel.kind === Kind.FRAGMENT_SPREAD) {
        const f = fragments.get(sel.name.value);
        if (!f || stack.includes(f.name.value)) continue;
        const t = schema.getType(f.typeCondition.name.value);
        if (t && isCompositeType(t)) visit(f.selectionSet, t, factor, inConnection, [...stack, f.name.value]);
        continue;
      }
      const name = sel.name.value;
      if (name === "__typename") continue;
      const field: GraphQLField<unknown, unknown> | undefined = isObjectType(parent) || isInterfaceType(parent) ? parent.getFields()[name] : undefined;
      const introspectionRoot = name === "__schema" ? schema.getType("__Schema") : name === "__type" ? schema.getType("__Type") : undefined;
      const type = field ? field.type : introspectionRoot;
      if (!type) continue; // validation already refused unknown fields
      const named = getNamedType(type);
      if (!isCompositeType(named)) continue;
      const key = `${parent.name}.${name}`;
      const paged = !!field?.args.some((a) => a.name === "first");
      const list = isListType(getNullableType(type));
      let size = 1;
      if (paged) {
        // Backward paging (`last`) returns as many edges as `first` would; both given is refused by the subgraph.
        const first = intArg(sel, "first", variables) ?? intArg(sel, "last", variables);
        size = first === undefined || first === null ? PAGE_DEFAULT : Number.isNaN(first) ? PAGE_MAX : Math.min(Math.max(first, 1), PAGE_MAX);
      } else if (list && LIST_ARGS[key]) {
        const { arg, max } = LIST_ARGS[key];
        size = Math.min(listArgLength(sel, arg, variables) ?? max, max);
      } else if (list) size = inConnection && name === "edges" ? 1 : (introspection[key] ?? sizes[key] ?? DEFAULT_LIST_SIZE);
      // A list returns `size` objects; a paged connection is one object holding `size` edges.
      const objects = list ? factor * size : factor;
      if (parent.name.startsWith("__") || introspectionRoot) total.introspection += objects;
      else total.data += objects;
      if (sel.selectionSet) visit(sel.selectionSet, named, factor * size, paged, stack);
    }
  };
  visit(op.selectionSet, root, 1, false, []);
  return total;
}
