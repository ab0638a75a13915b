import { builder } from "../builder.ts";

/**
 * Partner is owned by the partner subgraph. Here it is only a stub reference
 * (`@key(fields: "id", resolvable: false)`): linked accounts, consents, the access log and
 * insights point at a partner, and the gateway fetches its other fields from the partner subgraph.
 */
export const PartnerRef = builder.objectRef<{ id: string }>("Partner").implement({
  description: "A partner brand of the coalition (owned by the partner subgraph).",
  extensions: { directives: [{ name: "key", args: { fields: "id", resolvable: false } }] },
  fields: (t) => ({ id: t.exposeID("id", { description: "The partner's id." }) }),
});

export const partnerRef = (id: string) => ({ id });
