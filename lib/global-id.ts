import { fromGlobalId, toGlobalId } from "graphql-relay";
import type { HubBuilder, HubContext } from "./pothos.ts";
import type { SchemaName } from "./events/catalogue.ts";
import { isUuid } from "./input.ts";

/**
 * Relay global object identification (issue 17 §6, docs/DECISIONS.md 37). Every public entity with
 * a lookup field implements `Node`; its `nodeId` is graphql-relay's global id, base64("Type:uuid"),
 * so `node(id:)` knows which subgraph owns it without a registry. `id` keeps its meaning (the plain
 * uuid every lookup and mutation takes), so nothing a partner wrote before changes.
 *
 * Each type's visibility through `node` is its owner's own lookup field, asked with the caller's
 * identity (subgraphs/member/src/schema/node.ts): the field named here.
 */
export const NODE_TYPES = {
  Member: { owner: "member", lookup: "member" },
  Partner: { owner: "partner", lookup: "partner" },
  Offer: { owner: "partner", lookup: "offer" },
  PointsTransaction: { owner: "points", lookup: "transaction" },
  SettlementRun: { owner: "points", lookup: "settlementRun" },
} as const satisfies Record<string, { owner: SchemaName; lookup: string }>;

export type NodeType = keyof typeof NODE_TYPES;

/** Most global ids one `nodes(ids:)` call takes (the subgraph refuses more; the gateway's cost sizes the list by it). */
export const MAX_NODE_IDS = 100;

export const isNodeType = (t: string): t is NodeType => Object.hasOwn(NODE_TYPES, t);

export const nodeIdOf = (type: NodeType, id: string): string => toGlobalId(type, id);

/**
 * The type and uuid a global id names, or null when it is not one the hub issued: not canonical
 * base64 of "Type:uuid" (so two spellings never name the same node), an unknown type, or not a uuid.
 */
export function parseNodeId(nodeId: string): { type: NodeType; id: string } | null {
  if (nodeId.length > 200) return null;
  const { type, id } = fromGlobalId(nodeId);
  if (!isNodeType(type) || !isUuid(id) || id !== id.toLowerCase()) return null;
  return toGlobalId(type, id) === nodeId ? { type, id } : null;
}

const NODE_DESCRIPTION =
  "An object with a global id (Relay's global object identification): fetch any of them again with `node(id:)` / `nodes(ids:)`. Implemented by Member, Partner, Offer, PointsTransaction and SettlementRun.";
const NODE_ID_DESCRIPTION =
  "The object's global id: opaque, stable, unique across all types (Relay's `id`; configure your client's node id field as `nodeId`). Pass it to `node(id:)`. Not the same value as `id` (the plain uuid the lookups and mutations take).";

/** The `Node` interface, identical in every subgraph that has a type implementing it. */
export function defineNodeInterface<Ctx extends HubContext>(builder: HubBuilder<Ctx>) {
  return builder.interfaceRef<{ id: string }>("Node").implement({
    description: NODE_DESCRIPTION,
    // `node(id:)` returns objects branded with their type (services/nodes.ts); elsewhere the field's own type is known.
    resolveType: (o) => (o as { __typename?: string }).__typename ?? null,
    fields: (t) => ({ nodeId: t.id({ description: NODE_ID_DESCRIPTION, resolve: (o, _a, _c, info) => toGlobalId(info.parentType.name, o.id) }) }),
  });
}

/**
 * The options of a type's own `nodeId` field (`t.id(nodeIdOptions("Offer"))`; it overrides the
 * interface's): @shareable, because the member subgraph's `node` stubs declare it for types other
 * subgraphs own, and both compute the same value.
 */
export const nodeIdOptions = (type: NodeType) => ({
  shareable: true as const,
  description: NODE_ID_DESCRIPTION,
  resolve: (o: { id: string }) => nodeIdOf(type, o.id),
});
