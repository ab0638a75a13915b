import { nodeIdOptions } from "../../../../lib/global-id.ts";
import { builder } from "../builder.ts";
import { NodeRef } from "./node-ref.ts";

/**
 * Partner is owned by the partner subgraph. Here it is only a stub reference
 * (`@key(fields: "id", resolvable: false)`): linked accounts, consents, the access log and
 * insights point at a partner, and the gateway fetches its other fields from the partner subgraph.
 */
export const PartnerRef = builder.objectRef<{ id: string }>("Partner").implement({
  description: "A partner brand of the coalition (owned by the partner subgraph).",
  extensions: { directives: [{ name: "key", args: { fields: "id", resolvable: false } }] },
  interfaces: [NodeRef],
  fields: (t) => ({ id: t.exposeID("id", { description: "The partner's id." }), nodeId: t.id(nodeIdOptions("Partner")) }),
});

export const partnerRef = (id: string) => ({ id });
