import { badInput } from "../../../../lib/errors.ts";
import { nodeIdOptions } from "../../../../lib/global-id.ts";
import { builder } from "../builder.ts";
import { MAX_NODE_IDS, resolveNodes } from "../services/nodes.ts";
import { NodeRef } from "./node-ref.ts";

// Relay's root fields (docs/DECISIONS.md 37). They live here because a global id may name any
// owner's type; visibility is each owner's own lookup (services/nodes.ts). Offer and SettlementRun
// are only stubs here (`resolvable: false`): the gateway fetches their fields from their owners.

for (const [name, what] of [
  ["Offer", "A co-issued offer (owned by the partner subgraph)."],
  ["SettlementRun", "A settlement run (owned by the points subgraph)."],
] as const) {
  builder.objectRef<{ id: string }>(name).implement({
    description: what,
    extensions: { directives: [{ name: "key", args: { fields: "id", resolvable: false } }] },
    interfaces: [NodeRef],
    fields: (t) => ({ id: t.exposeID("id", { description: name === "Offer" ? "The offer's id." : "The run's id." }), nodeId: t.id(nodeIdOptions(name)) }),
  });
}

builder.queryFields((t) => ({
  node: t.field({
    type: NodeRef,
    nullable: true,
    description:
      "Any object by its global id (Relay's global object identification): `nodeId` of a Member, Partner, Offer, PointsTransaction or SettlementRun. Exactly as visible as through that type's own lookup (`member`, `partner`, `offer`, `transaction`, `settlementRun`): what the caller may not see is null with NOT_FOUND, like what does not exist. A string that is not a global id of this hub: BAD_USER_INPUT.",
    args: { id: t.arg.id({ description: "A global id, as read from a `nodeId` field (opaque; not the plain `id`)." }) },
    resolve: async (_r, { id }, ctx) => {
      const [r] = await resolveNodes(ctx, [String(id)]);
      if (r instanceof Error) throw r;
      return r as never;
    },
  }),
  nodes: t.field({
    type: [NodeRef],
    nullable: { list: false, items: true },
    description: `Several objects by global id, in the order asked, at most ${MAX_NODE_IDS} ids (more: BAD_USER_INPUT). Each entry follows the rules of \`node\`: an id the caller may not see, or that does not exist, is null with its own NOT_FOUND error at that index; the others are returned.`,
    args: { ids: t.arg.idList({ description: `Global ids (\`nodeId\` values), 1–${MAX_NODE_IDS}.` }) },
    resolve: async (_r, { ids }, ctx) => {
      if (ids.length > MAX_NODE_IDS) throw badInput(`At most ${MAX_NODE_IDS} ids per call (got ${ids.length})`, "ids");
      return (await resolveNodes(ctx, ids.map(String))) as never;
    },
  }),
}));
